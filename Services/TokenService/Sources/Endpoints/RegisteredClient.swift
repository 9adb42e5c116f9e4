import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes

/// How a client is registered to authenticate: from the `client.registered` projection, or from
/// the snapshot a sealed code or a grant carries when the projection has not caught up.
struct RegisteredClient: Sendable, Equatable {
    var clientId: ClientID
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
            guard let secret = presented.secret, let hash = registered.secretHash, secret.matches(hash: hash) else {
                throw OAuthError.invalidClient("Client authentication failed", basic: basic)
            }
        }
    }
}
