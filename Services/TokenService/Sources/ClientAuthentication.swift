import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes

/// OAuth errors of the token service's endpoints, with the status RFC 6749 §5.2 gives them.
/// Descriptions are for the client developer and never carry a secret.
enum OAuthError {
    static func invalidRequest(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidRequest, detail) }
    static func invalidGrant(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidGrant, detail) }
    static func invalidScope(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidScope, detail) }
    static func invalidTarget(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidTarget, detail) }
    static func unauthorizedClient(_ detail: String) -> APIError { APIError(.badRequest, code: .unauthorizedClient, detail) }
    static func unsupportedGrantType(_ detail: String) -> APIError { APIError(.badRequest, code: .unsupportedGrantType, detail) }

    /// 401; with `WWW-Authenticate: Basic` when the client tried the Authorization header.
    static func invalidClient(_ detail: String, basic: Bool) -> APIError {
        APIError(.unauthorized, code: .invalidClient, detail, headers: basic ? [.wwwAuthenticate: #"Basic realm="gatehouse""#] : [:])
    }
}

/// The client credentials a request presents (RFC 6749 §2.3.1): HTTP Basic, or `client_id`
/// (and `client_secret`) in the form. Never both ways at once.
struct PresentedClient: Equatable {
    enum Method: String {
        case none
        case basic = "client_secret_basic"
        case post = "client_secret_post"
    }

    var clientId: String
    var secret: String?
    var method: Method

    /// nil when the request names no client at all.
    static func read(authorization: String?, form: [String: String]) throws(APIError) -> PresentedClient? {
        if let authorization, authorization.count > 6, authorization.prefix(6).lowercased() == "basic " {
            guard let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                let id = String(text[..<colon]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                let secret = String(text[text.index(after: colon)...]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                !id.isEmpty
            else {
                throw OAuthError.invalidClient("The Basic credentials are malformed", basic: true)
            }
            guard form["client_secret"] == nil else {
                throw OAuthError.invalidRequest("Use one client authentication method, not Basic and client_secret together")
            }
            if let named = form["client_id"], named != id {
                throw OAuthError.invalidRequest("client_id differs from the Basic credentials")
            }
            return PresentedClient(clientId: id, secret: secret, method: .basic)
        }
        guard let id = form["client_id"] else {
            if form["client_secret"] != nil { throw OAuthError.invalidRequest("client_secret without client_id") }
            return nil
        }
        if let secret = form["client_secret"] { return PresentedClient(clientId: id, secret: secret, method: .post) }
        return PresentedClient(clientId: id, secret: nil, method: .none)
    }
}

/// How a client is registered to authenticate: from the `client.registered` projection, or from
/// the snapshot a sealed code or a grant carries when the projection has not caught up.
struct RegisteredClient: Sendable, Equatable {
    var clientId: String
    var tokenEndpointAuthMethod: String
    var secretHash: String?
    var grantTypes: [String]
    var disabled: Bool

    /// Checks presented credentials against the registration, in constant time for secrets.
    /// Under `.anySecretMethod` a client registered for one shared-secret method may use the
    /// other; a public client never presents a secret, a confidential one always does.
    static func authenticate(
        _ presented: PresentedClient,
        as registered: RegisteredClient?,
        policy: ClientAuthenticationPolicy = .anySecretMethod
    ) throws(APIError) {
        let basic = presented.method == .basic
        guard let registered, !registered.disabled, registered.clientId == presented.clientId else {
            throw OAuthError.invalidClient("Client authentication failed", basic: basic)
        }
        let secretMethods = [PresentedClient.Method.basic.rawValue, PresentedClient.Method.post.rawValue]
        let accepted =
            presented.method.rawValue == registered.tokenEndpointAuthMethod
            || (policy == .anySecretMethod && secretMethods.contains(presented.method.rawValue)
                && secretMethods.contains(registered.tokenEndpointAuthMethod))
        guard accepted else {
            throw OAuthError.invalidClient("The client must authenticate with \(registered.tokenEndpointAuthMethod)", basic: basic)
        }
        if presented.method != .none {
            guard let secret = presented.secret, let hash = registered.secretHash, SecretHash.matches(secret, hash: hash) else {
                throw OAuthError.invalidClient("Client authentication failed", basic: basic)
            }
        }
    }
}
