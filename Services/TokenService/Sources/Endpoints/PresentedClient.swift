import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes

/// The client credentials a request presents (RFC 6749 §2.3.1): HTTP Basic, `client_id` (and
/// `client_secret`) in the form, or a JWT client assertion (RFC 7523 §2.2, `private_key_jwt`).
/// Never two ways at once.
struct PresentedClient: Equatable {
    enum Method: Equatable {
        case none
        case basic
        case post
        /// The assertion, verified by the grant that accepts it.
        case privateKeyJWT(assertion: String)

        /// The `token_endpoint_auth_method` it is.
        var name: String {
            switch self {
            case .none: "none"
            case .basic: "client_secret_basic"
            case .post: "client_secret_post"
            case .privateKeyJWT: "private_key_jwt"
            }
        }
    }

    var clientId: ClientID
    var secret: ClientSecret?
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
            guard form["client_secret"] == nil, form["client_assertion"] == nil, form["client_assertion_type"] == nil else {
                throw OAuthError.invalidRequest("Use one client authentication method, not Basic and client_secret together")
            }
            if let named = form["client_id"], named != id {
                throw OAuthError.invalidRequest("client_id differs from the Basic credentials")
            }
            return PresentedClient(clientId: ClientID(id), secret: ClientSecret(secret), method: .basic)
        }
        if form["client_assertion"] != nil || form["client_assertion_type"] != nil {
            return try assertion(form)
        }
        guard let id = form["client_id"] else {
            if form["client_secret"] != nil { throw OAuthError.invalidRequest("client_secret without client_id") }
            return nil
        }
        if let secret = form["client_secret"] { return PresentedClient(clientId: ClientID(id), secret: ClientSecret(secret), method: .post) }
        return PresentedClient(clientId: ClientID(id), secret: nil, method: .none)
    }

    /// A JWT client assertion: its type, and the client it names (`client_id`, when sent too,
    /// must be the same, RFC 7521 §4.2).
    private static func assertion(_ form: [String: String]) throws(APIError) -> PresentedClient {
        guard form["client_secret"] == nil else {
            throw OAuthError.invalidRequest("Use one client authentication method, not client_secret and client_assertion together")
        }
        guard let type = form["client_assertion_type"], let assertion = form["client_assertion"] else {
            throw OAuthError.invalidRequest("client_assertion and client_assertion_type go together")
        }
        guard type == ClientAssertion.type else {
            throw OAuthError.invalidClient("client_assertion_type must be \(ClientAssertion.type)", basic: false)
        }
        guard let claimed = ClientAssertion.claimedClient(assertion) else {
            throw OAuthError.invalidClient("The client assertion is not a signed JWT naming its client (sub)", basic: false)
        }
        if let named = form["client_id"], named != claimed {
            throw OAuthError.invalidClient("client_id differs from the client assertion's sub", basic: false)
        }
        return PresentedClient(clientId: ClientID(claimed), secret: nil, method: .privateKeyJWT(assertion: assertion))
    }
}
