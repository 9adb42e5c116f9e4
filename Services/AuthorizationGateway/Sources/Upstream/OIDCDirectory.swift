import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// An OIDC upstream's discovery document, as far as the gateway uses it.
package struct OIDCMetadata: Sendable, Equatable {
    package var issuer: String
    package var authorizationEndpoint: String
    package var tokenEndpoint: String
    package var userinfoEndpoint: String?
    package var jwksURI: String
    /// RFC 9207: the upstream puts `iss` in its authorization responses, so we require it.
    package var issParameterSupported: Bool
}

/// Discovery documents and key sets of OIDC upstreams, fetched on first use and kept for an
/// hour; a key set is fetched again (once) when a token names a key it does not have.
package actor OIDCDirectory {
    private let client: UpstreamClient
    private let maximumAge: Duration
    private var metadata: [String: (OIDCMetadata, ContinuousClock.Instant)] = [:]
    private var keys: [String: ([JSONWebKey], ContinuousClock.Instant)] = [:]

    package init(client: UpstreamClient, maximumAge: Duration = .seconds(3600)) {
        self.client = client
        self.maximumAge = maximumAge
    }

    package func metadata(issuer: String) async throws -> OIDCMetadata {
        if let (cached, at) = metadata[issuer], ContinuousClock.now - at < maximumAge { return cached }
        let url = issuer.hasSuffix("/") ? "\(issuer).well-known/openid-configuration" : "\(issuer)/.well-known/openid-configuration"
        guard let document = try await client.fetchJSON(url) as? [String: Any] else {
            throw UpstreamFailure.unavailable("discovery is not an object")
        }
        // OpenID Connect Discovery §4.3: the issuer in the document must be the one we asked.
        guard document["issuer"] as? String == issuer, let authorization = document["authorization_endpoint"] as? String,
            let token = document["token_endpoint"] as? String, let jwks = document["jwks_uri"] as? String
        else {
            throw UpstreamFailure.unavailable("the discovery document is incomplete or names another issuer")
        }
        let result = OIDCMetadata(
            issuer: issuer,
            authorizationEndpoint: authorization,
            tokenEndpoint: token,
            userinfoEndpoint: document["userinfo_endpoint"] as? String,
            jwksURI: jwks,
            issParameterSupported: document["authorization_response_iss_parameter_supported"] as? Bool ?? false
        )
        metadata[issuer] = (result, .now)
        return result
    }

    package func keys(_ metadata: OIDCMetadata, refresh: Bool = false) async throws -> [JSONWebKey] {
        if !refresh, let (cached, at) = keys[metadata.jwksURI], ContinuousClock.now - at < maximumAge { return cached }
        guard let object = try await client.fetchJSON(metadata.jwksURI) as? [String: Any], let list = object["keys"] as? [Any] else {
            throw UpstreamFailure.unavailable("the key set is not a JWKS")
        }
        let decoded = list.compactMap { entry -> JSONWebKey? in
            guard let data = try? JSONSerialization.data(withJSONObject: entry) else { return nil }
            return try? JSONDecoder().decode(JSONWebKey.self, from: data)
        }
        keys[metadata.jwksURI] = (decoded, .now)
        return decoded
    }
}

extension UpstreamClient {
    /// GET a public JSON document (discovery, JWKS).
    func fetchJSON(_ url: String) async throws -> Any {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, body) = try await send(request)
        guard (200..<300).contains(status), let json = try? JSONSerialization.jsonObject(with: body) else {
            throw UpstreamFailure.unavailable("\(url) answered \(status)")
        }
        return json
    }

    /// The identity from an OIDC upstream: the verified ID token, then userinfo (whose `sub` must be the token's).
    package func oidcIdentity(
        tokens: UpstreamTokens,
        upstream: UpstreamConfiguration,
        metadata: OIDCMetadata,
        directory: OIDCDirectory,
        nonce: String
    ) async throws -> UpstreamIdentity {
        guard let idToken = tokens.idToken else { throw UpstreamFailure.refused("the upstream returned no ID token") }
        var claims: [String: any Sendable]
        do {
            claims = try IDTokenVerifier.verify(
                idToken,
                keys: try await directory.keys(metadata),
                issuer: metadata.issuer,
                clientId: upstream.clientId,
                nonce: nonce
            )
        } catch let failure as IDTokenVerifier.Failure where failure.description.hasPrefix("signature") {
            // The upstream may have rotated its keys since we fetched them.
            claims = try IDTokenVerifier.verify(
                idToken,
                keys: try await directory.keys(metadata, refresh: true),
                issuer: metadata.issuer,
                clientId: upstream.clientId,
                nonce: nonce
            )
        }
        if let userinfo = metadata.userinfoEndpoint {
            var request = HTTPClientRequest(url: userinfo)
            request.headers.add(name: "Authorization", value: "Bearer \(tokens.accessToken.revealed)")
            request.headers.add(name: "Accept", value: "application/json")
            let (status, body) = try await send(request)
            guard (200..<300).contains(status), let info = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw UpstreamFailure.unavailable("userinfo answered \(status)")
            }
            guard info["sub"] as? String == claims["sub"] as? String else { throw UpstreamFailure.refused("userinfo is about another subject") }
            for (name, value) in info where claims[name] == nil {
                if let text = value as? String { claims[name] = text } else if let flag = value as? Bool { claims[name] = flag }
            }
        }
        let mapping = upstream.claims
        guard let subject = claims[mapping.subject] as? String, !subject.isEmpty else { throw UpstreamFailure.refused("no subject claim") }
        let email = (claims[mapping.email] as? String).flatMap { $0.isEmpty ? nil : $0 }
        return UpstreamIdentity(
            issuer: metadata.issuer,
            subject: subject,
            email: email,
            emailVerified: email != nil && (claims[mapping.emailVerified] as? Bool ?? false),
            name: (claims[mapping.name] as? String).flatMap { $0.isEmpty ? nil : $0 }
        )
    }
}
