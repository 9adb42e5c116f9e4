import Crypto
import CryptoExtras
import Foundation
import GatehouseCrypto

/// A JSON Web Key of an upstream's JWKS (the kinds ID tokens are signed with here: RSA and P-256).
package struct JSONWebKey: Decodable, Sendable, Equatable {
    package var kty: String
    package var kid: String?
    package var alg: String?
    package var use: String?
    package var n: String?
    package var e: String?
    package var crv: String?
    package var x: String?
    package var y: String?

    package init(
        kty: String,
        kid: String? = nil,
        alg: String? = nil,
        use: String? = nil,
        n: String? = nil,
        e: String? = nil,
        crv: String? = nil,
        x: String? = nil,
        y: String? = nil
    ) {
        self.kty = kty
        self.kid = kid
        self.alg = alg
        self.use = use
        self.n = n
        self.e = e
        self.crv = crv
        self.x = x
        self.y = y
    }
}

/// Checks an OIDC ID token (OpenID Connect Core §3.1.3.7): compact JWS, `alg` from the allow-list
/// (RS256, ES256; never `none`), signature by a key of the upstream's JWKS, `iss` exactly the
/// issuer, `aud` containing our client id (and `azp` when there are several audiences), `exp`
/// and `iat` with a small leeway, and the `nonce` we sent.
package enum IDTokenVerifier {
    package static let allowedAlgorithms: Set<String> = ["RS256", "ES256"]
    package static let leeway: TimeInterval = 60

    package struct Failure: Error, Equatable, CustomStringConvertible {
        package var description: String
        init(_ description: String) { self.description = description }
    }

    package static func verify(
        _ token: String,
        keys: [JSONWebKey],
        issuer: String,
        clientId: String,
        nonce: String,
        now: Date = Date()
    ) throws -> [String: any Sendable] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(String(parts[0])), let payloadBytes = Base64URL.decode(String(parts[1])),
            let signature = Base64URL.decode(String(parts[2])),
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any]
        else {
            throw Failure("not a compact JWS")
        }
        guard let alg = header["alg"] as? String, allowedAlgorithms.contains(alg) else { throw Failure("algorithm not allowed") }
        let kid = header["kid"] as? String
        let candidates = keys.filter { key in
            (kid == nil || key.kid == kid) && (key.alg == nil || key.alg == alg) && (key.use == nil || key.use == "sig")
                && (alg == "RS256" ? key.kty == "RSA" : key.kty == "EC" && key.crv == "P-256")
        }
        let signed = Array("\(parts[0]).\(parts[1])".utf8)
        guard candidates.contains(where: { (try? isValid(signature, of: signed, alg: alg, key: $0)) == true }) else {
            throw Failure("signature does not verify with the upstream's keys")
        }
        guard claims["iss"] as? String == issuer else { throw Failure("wrong issuer") }
        let audiences = (claims["aud"] as? [String]) ?? (claims["aud"] as? String).map { [$0] } ?? []
        guard audiences.contains(clientId) else { throw Failure("not issued for this client") }
        if audiences.count > 1, claims["azp"] as? String != clientId { throw Failure("azp is not this client") }
        guard let exp = (claims["exp"] as? NSNumber)?.doubleValue, now.timeIntervalSince1970 < exp + leeway else { throw Failure("expired") }
        guard let iat = (claims["iat"] as? NSNumber)?.doubleValue, iat <= now.timeIntervalSince1970 + leeway else {
            throw Failure("issued in the future")
        }
        guard let presented = claims["nonce"] as? String, constantTimeEqual(Array(presented.utf8), Array(nonce.utf8)) else {
            throw Failure("nonce does not match")
        }
        guard let sub = claims["sub"] as? String, !sub.isEmpty else { throw Failure("no subject") }
        var result: [String: any Sendable] = ["sub": sub]
        for (name, value) in claims {
            switch value {
            case let text as String: result[name] = text
            case let number as NSNumber:
                result[name] = String(cString: number.objCType) == "c" ? number.boolValue : number.doubleValue as any Sendable
            default: continue
            }
        }
        return result
    }

    static func isValid(_ signature: [UInt8], of message: [UInt8], alg: String, key: JSONWebKey) throws -> Bool {
        switch alg {
        case "ES256":
            guard let x = key.x.flatMap(Base64URL.decode), let y = key.y.flatMap(Base64URL.decode), x.count == 32, y.count == 32,
                signature.count == 64
            else { return false }
            let publicKey = try P256.Signing.PublicKey(x963Representation: [0x04] + x + y)
            return publicKey.isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: signature), for: SHA256.hash(data: message))
        case "RS256":
            guard let n = key.n.flatMap(Base64URL.decode), let e = key.e.flatMap(Base64URL.decode) else { return false }
            let publicKey = try _RSA.Signing.PublicKey(n: n, e: e)
            return publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature),
                for: SHA256.hash(data: message),
                padding: .insecurePKCS1v1_5
            )
        default:
            return false
        }
    }
}
