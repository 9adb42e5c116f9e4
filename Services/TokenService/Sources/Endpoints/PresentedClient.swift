import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes

/// The client credentials a request presents (RFC 6749 §2.3.1): HTTP Basic, or `client_id`
/// (and `client_secret`) in the form. Never both ways at once.
struct PresentedClient: Equatable {
    enum Method: String {
        case none
        case basic = "client_secret_basic"
        case post = "client_secret_post"
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
            guard form["client_secret"] == nil else {
                throw OAuthError.invalidRequest("Use one client authentication method, not Basic and client_secret together")
            }
            if let named = form["client_id"], named != id {
                throw OAuthError.invalidRequest("client_id differs from the Basic credentials")
            }
            return PresentedClient(clientId: ClientID(id), secret: ClientSecret(secret), method: .basic)
        }
        guard let id = form["client_id"] else {
            if form["client_secret"] != nil { throw OAuthError.invalidRequest("client_secret without client_id") }
            return nil
        }
        if let secret = form["client_secret"] { return PresentedClient(clientId: ClientID(id), secret: ClientSecret(secret), method: .post) }
        return PresentedClient(clientId: ClientID(id), secret: nil, method: .none)
    }
}
