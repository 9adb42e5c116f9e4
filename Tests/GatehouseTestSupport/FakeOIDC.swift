import Crypto
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import Hummingbird
import Logging
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An OpenID Connect upstream on loopback, speaking real HTTP: discovery, a JWKS with one P-256
/// key, an authorization endpoint that signs the user in at once (with `iss` in the response,
/// RFC 9207), a token endpoint that checks client, code, redirect URI and PKCE and returns an
/// ES256-signed ID token, and userinfo. `misbehave` makes it break one rule on purpose.
public final class FakeOIDC: Sendable {
    public enum Misbehaviour: String, Sendable, CaseIterable {
        case none, wrongNonce, wrongAudience, expired, badSignature, algNone, otherSubjectInUserinfo, wrongIssuerInResponse
    }

    public let clientId = "oidc-client"
    public let clientSecret = "oidc-secret-value"
    public let subject = "248289761001"
    private let key = P256.Signing.PrivateKey()
    private let state = Mutex<
        (misbehaviour: Misbehaviour, grants: [String: (redirect: String, challenge: String, nonce: String)], tokens: Set<String>)
    >(
        (.none, [:], [])
    )

    public init() {}

    public func misbehave(_ misbehaviour: Misbehaviour) { state.withLock { $0.misbehaviour = misbehaviour } }

    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let base = LateValue<String>()
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ in
            let issuer = base.get
            return jsonResponse(
                #"{"issuer":"\#(issuer)","authorization_endpoint":"\#(issuer)/authorize","token_endpoint":"\#(issuer)/token","userinfo_endpoint":"\#(issuer)/userinfo","jwks_uri":"\#(issuer)/jwks","authorization_response_iss_parameter_supported":true,"id_token_signing_alg_values_supported":["ES256"]}"#
            )
        }
        router.get("/jwks") { _, _ in
            let raw = Array(self.key.publicKey.rawRepresentation)
            return jsonResponse(
                #"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"\#(Base64URL.encode(Array(raw[0..<32])))","y":"\#(Base64URL.encode(Array(raw[32..<64])))"}]}"#
            )
        }
        router.get("/authorize") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard query["client_id"].map(String.init) == self.clientId, let redirect = query["redirect_uri"].map(String.init),
                let state = query["state"].map(String.init), let challenge = query["code_challenge"].map(String.init),
                query["code_challenge_method"] == "S256", let nonce = query["nonce"].map(String.init)
            else { return Response(status: .badRequest) }
            let code = SecretGenerator.generate(prefix: "oc_", bytes: 16)
            let misbehaviour = self.state.withLock { state in
                state.grants[code] = (redirect, challenge, nonce)
                return state.misbehaviour
            }
            let iss = misbehaviour == .wrongIssuerInResponse ? "https://evil.example" : base.get
            let encoded = iss.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            return Response(status: .found, headers: [.location: "\(redirect)?code=\(code)&state=\(state)&iss=\(encoded)"])
        }
        router.post("/token") { request, _ -> Response in
            let form = try await formFields(request)
            guard form["client_id"] == self.clientId, form["client_secret"] == self.clientSecret else {
                return jsonResponse(#"{"error":"invalid_client"}"#, status: .unauthorized)
            }
            let grant: (nonce: String, misbehaviour: Misbehaviour, token: String)? = self.state.withLock { state in
                guard let code = form["code"], let grant = state.grants.removeValue(forKey: code), form["redirect_uri"] == grant.redirect,
                    let verifier = form["code_verifier"], PKCE.verify(verifier: verifier, challenge: grant.challenge)
                else { return nil }
                let token = SecretGenerator.generate(prefix: "oat_", bytes: 20)
                state.tokens.insert(token)
                return (grant.nonce, state.misbehaviour, token)
            }
            guard let grant else { return jsonResponse(#"{"error":"invalid_grant"}"#, status: .badRequest) }
            let now = Int(Date().timeIntervalSince1970)
            let claims = """
                {"iss":"\(base.get)","sub":"\(self.subject)","aud":"\(grant.misbehaviour == .wrongAudience ? "someone-else" : self.clientId)",\
                "exp":\(grant.misbehaviour == .expired ? now - 600 : now + 300),"iat":\(now),\
                "nonce":"\(grant.misbehaviour == .wrongNonce ? "not-the-nonce" : grant.nonce)","email":"jane@example.org","email_verified":true,"name":"Jane Doe"}
                """
            let idToken = try self.sign(claims, misbehaviour: grant.misbehaviour)
            return jsonResponse(#"{"access_token":"\#(grant.token)","token_type":"Bearer","expires_in":3600,"id_token":"\#(idToken)"}"#)
        }
        router.get("/userinfo") { request, _ -> Response in
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
                let misbehaviour = self.state.withLock({ $0.tokens.contains(String(header.dropFirst(7))) ? $0.misbehaviour : nil })
            else {
                return Response(status: .unauthorized)
            }
            let sub = misbehaviour == .otherSubjectInUserinfo ? "someone-else" : self.subject
            return jsonResponse(#"{"sub":"\#(sub)","email":"jane@example.org","email_verified":true,"name":"Jane Doe"}"#)
        }
        return try await serveOnLoopback(router, label: "fake OIDC") { issuer in
            base.set(issuer)
            return try await body(issuer)
        }
    }

    private func sign(_ claims: String, misbehaviour: Misbehaviour) throws -> String {
        let header = misbehaviour == .algNone ? #"{"alg":"none","typ":"JWT"}"# : #"{"alg":"ES256","kid":"k1","typ":"JWT"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        if misbehaviour == .algNone { return input + "." }
        let signer = misbehaviour == .badSignature ? P256.Signing.PrivateKey() : key
        return input + "." + Base64URL.encode(Array(try signer.signature(for: Array(input.utf8)).rawRepresentation))
    }

}
