import Foundation
import GatehouseOAuth
import GatehouseRuntime

/// A checked authorization request (RFC 6749 §4.1.1 with OAuth 2.1, RFC 7636, RFC 8707).
package struct AuthorizationRequest: Sendable, Equatable {
    package var clientId: String
    package var redirectUri: String
    package var scopes: [String]
    package var resource: String
    package var codeChallenge: String
    /// Echoed to the client byte for byte.
    package var state: String?
}

/// Why an authorization request fails, and where the error goes: to the user on a page of ours
/// when the client or its redirect URI cannot be trusted (never redirect to an unchecked URI),
/// else back to the client's redirect URI with `error`, `state` and `iss`.
package enum AuthorizationFailure: Error, Equatable {
    case page(error: APIError.Code, description: String)
    case redirect(redirectUri: String, error: APIError.Code, description: String, state: String?)
}

/// What the rules need to know about the client named in a request.
package struct AuthorizingClient: Sendable, Equatable {
    package var clientId: String
    package var name: String?
    package var redirectUris: [String]
    package var grantTypes: [String]
    /// Registered `scope`, if the client limited itself.
    package var scope: String?

    package init(clientId: String, name: String?, redirectUris: [String], grantTypes: [String], scope: String?) {
        self.clientId = clientId
        self.name = name
        self.redirectUris = redirectUris
        self.grantTypes = grantTypes
        self.scope = scope
    }
}

package enum AuthorizationRequestRules {
    package static let maximumStateLength = 2048
    static let singleValued = [
        "client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
        "code_challenge_method", "resource", "nonce", "prompt",
    ]

    /// Step 1: the client and the redirect URI. Failures are shown on our page.
    package static func checkClient(_ parameters: [(String, String)], lookup: (String) -> AuthorizingClient?) throws -> (AuthorizingClient, String) {
        func values(_ name: String) -> [String] { parameters.filter { $0.0 == name }.map(\.1) }
        let ids = values("client_id")
        guard ids.count == 1, let clientId = ids.first, !clientId.isEmpty else {
            throw AuthorizationFailure.page(error: .invalidRequest, description: ids.count > 1 ? "client_id is repeated" : "client_id is missing")
        }
        guard let client = lookup(clientId) else {
            throw AuthorizationFailure.page(error: .invalidClient, description: "This application is not registered with this server")
        }
        let redirects = values("redirect_uri")
        guard redirects.count <= 1 else { throw AuthorizationFailure.page(error: .invalidRequest, description: "redirect_uri is repeated") }
        let redirect: String
        if let presented = redirects.first {
            guard let registered = client.redirectUris.first(where: { ClientRegistrationRules.matches(presented: presented, registered: $0) }) else {
                throw AuthorizationFailure.page(error: .invalidRequest, description: "redirect_uri is not registered for this application")
            }
            _ = registered
            redirect = presented
        } else {
            // OAuth 2.1 §4.1.1: may be omitted only when exactly one is registered.
            guard client.redirectUris.count == 1 else {
                throw AuthorizationFailure.page(error: .invalidRequest, description: "redirect_uri is required")
            }
            redirect = client.redirectUris[0]
        }
        return (client, redirect)
    }

    /// Step 2: everything else, with errors redirected to the (now trusted) redirect URI.
    package static func check(
        _ parameters: [(String, String)],
        client: AuthorizingClient,
        redirectUri: String,
        resource tenantResource: String,
        supportedScopes: [String],
        defaultScopes: [String]
    ) throws -> AuthorizationRequest {
        func values(_ name: String) -> [String] { parameters.filter { $0.0 == name }.map(\.1) }
        let states = values("state")
        let state = states.first
        func fail(_ error: APIError.Code, _ description: String, echoState: Bool = true) -> AuthorizationFailure {
            .redirect(redirectUri: redirectUri, error: error, description: description, state: echoState ? state : nil)
        }
        if let state, state.utf8.count > maximumStateLength {
            throw fail(.invalidRequest, "state is longer than \(maximumStateLength) bytes", echoState: false)
        }
        for name in singleValued where values(name).count > 1 { throw fail(.invalidRequest, "\(name) is repeated") }
        if !values("request").isEmpty { throw fail(.requestNotSupported, "request objects are not supported") }
        if !values("request_uri").isEmpty { throw fail(.requestURINotSupported, "request_uri is not supported") }

        guard let responseType = values("response_type").first else { throw fail(.invalidRequest, "response_type is missing") }
        guard responseType == "code" else { throw fail(.unsupportedResponseType, "only response_type=code is supported") }

        guard let challenge = values("code_challenge").first else { throw fail(.invalidRequest, "code_challenge is required (PKCE)") }
        guard let method = values("code_challenge_method").first else {
            throw fail(.invalidRequest, "code_challenge_method is required and must be S256")
        }
        guard method == "S256" else { throw fail(.invalidRequest, "code_challenge_method must be S256") }
        guard PKCE.isWellFormedS256Challenge(challenge) else { throw fail(.invalidRequest, "code_challenge is not a S256 challenge") }

        let resources = values("resource")
        let resource = resources.first ?? tenantResource
        guard resources.count <= 1, resource == tenantResource else {
            throw fail(.invalidTarget, "resource must be this server's MCP resource, \(tenantResource)")
        }

        let requested: [String]
        if let scope = values("scope").first {
            requested = scope.split(separator: " ").map(String.init)
            guard !requested.isEmpty else { throw fail(.invalidScope, "scope is empty") }
        } else {
            requested = client.scope.map { $0.split(separator: " ").map(String.init) } ?? defaultScopes
        }
        if let unknown = requested.first(where: { !supportedScopes.contains($0) }) {
            throw fail(.invalidScope, "unknown scope \(unknown)")
        }
        if let registered = client.scope?.split(separator: " ").map(String.init), let outside = requested.first(where: { !registered.contains($0) }) {
            throw fail(.invalidScope, "this application did not register scope \(outside)")
        }
        if requested.contains("offline_access"), !client.grantTypes.contains("refresh_token") {
            throw fail(.invalidScope, "offline_access needs the refresh_token grant")
        }
        var unique: [String] = []
        for scope in requested where !unique.contains(scope) { unique.append(scope) }
        return AuthorizationRequest(
            clientId: client.clientId,
            redirectUri: redirectUri,
            scopes: unique,
            resource: resource,
            codeChallenge: challenge,
            state: state
        )
    }

    /// The redirect that carries an error to the client (RFC 6749 §4.1.2.1 with RFC 9207 `iss`).
    package static func errorRedirect(_ redirectUri: String, error: APIError.Code, description: String, state: String?, issuer: String) -> String {
        appending(to: redirectUri, [("error", error.rawValue), ("error_description", description), ("state", state), ("iss", issuer)])
    }

    /// Adds query parameters to a redirect URI that may already have a query.
    package static func appending(to uri: String, _ parameters: [(String, String?)]) -> String {
        let query = FormBody.encode(parameters.compactMap { name, value in value.map { (name, $0) } })
        return uri + (uri.contains("?") ? "&" : "?") + query
    }
}
