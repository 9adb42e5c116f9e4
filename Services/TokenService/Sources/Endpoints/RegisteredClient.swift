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
    /// The scopes registered for it (nil: not restricted at registration).
    var scope: String? = nil
    /// A `private_key_jwt` client's public keys.
    var keys: ClientKeySet? = nil

    /// Checks presented credentials against the registration, in constant time for secrets.
    /// Under `.anySecretMethod` a client registered for one shared-secret method may use the
    /// other; a public client never presents a secret, a confidential one always does.
    static func authenticate(
        _ presented: PresentedClient,
        as registered: RegisteredClient?,
        policy: ClientAuthenticationPolicy = .anySecretMethod
    ) throws(APIError) {
        let basic = presented.method == .basic
        if case .privateKeyJWT = presented.method {
            // Checked by the grant that accepts it (`ClientCredentialsGrant`): a signature and a
            // jti to record, not a secret to compare.
            throw OAuthError.invalidClient("private_key_jwt is accepted for the client_credentials grant only", basic: false)
        }
        guard let registered, !registered.disabled, registered.clientId == presented.clientId else {
            throw OAuthError.invalidClient("Client authentication failed", basic: basic)
        }
        let secretMethods = [PresentedClient.Method.basic.name, PresentedClient.Method.post.name]
        let accepted =
            presented.method.name == registered.tokenEndpointAuthMethod
            || (policy == .anySecretMethod && secretMethods.contains(presented.method.name)
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
