import Foundation
import GatehouseEvents
import GatehouseOAuth

/// The body of `POST /admin/tenants/{id}/clients`: a confidential client the operator registers
/// for the client credentials grant (dynamic registration never offers that grant).
package struct OperatorClientRequest: Decodable, Sendable {
    package var clientName: String?
    package var tokenEndpointAuthMethod: String?
    package var scope: String?
    package var jwks: ClientKeySet?

    package init(clientName: String? = nil, tokenEndpointAuthMethod: String? = nil, scope: String? = nil, jwks: ClientKeySet? = nil) {
        self.clientName = clientName
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.scope = scope
        self.jwks = jwks
    }
}

/// The rules of an operator-registered client (pure): a name, `client_secret_basic` (we issue
/// the secret) or `private_key_jwt` (the client's public keys, `ClientKeyRules`), and scopes a
/// service principal can hold: the resource's, never the ones about an end user.
package enum OperatorClientRules {
    package static let authMethods = ["client_secret_basic", "private_key_jwt"]
    package static var serviceScopes: [String] { OAuthScopes.serviceScopes }

    /// The metadata to store, and the keys when the client signs assertions.
    package static func validate(_ request: OperatorClientRequest) async throws(TenantValidationError) -> (ClientMetadata, ClientKeySet?) {
        guard let name = request.clientName?.trimmingCharacters(in: .whitespaces), !name.isEmpty,
            name.count <= ClientRegistrationRules.maximumNameLength
        else {
            throw TenantValidationError(field: "client_name", problem: "is required (1-\(ClientRegistrationRules.maximumNameLength) characters)")
        }
        let method = request.tokenEndpointAuthMethod ?? "client_secret_basic"
        guard authMethods.contains(method) else {
            throw TenantValidationError(field: "token_endpoint_auth_method", problem: "must be one of \(authMethods.joined(separator: ", "))")
        }
        let scopes = (request.scope ?? GatewayScopes.defaultScopes.joined(separator: " ")).split(separator: " ").map(String.init)
        guard !scopes.isEmpty, scopes.allSatisfy(serviceScopes.contains), Set(scopes).count == scopes.count else {
            throw TenantValidationError(field: "scope", problem: "must list scopes among \(serviceScopes.joined(separator: ", ")), each once")
        }
        switch (method, request.jwks) {
        case ("private_key_jwt", nil):
            throw TenantValidationError(field: "jwks", problem: "is required for private_key_jwt")
        case ("private_key_jwt", let keys?):
            do {
                try await ClientKeyRules.validate(keys)
            } catch {
                throw TenantValidationError(field: "jwks", problem: error.description)
            }
        case (_, .some):
            throw TenantValidationError(field: "jwks", problem: "is only for private_key_jwt")
        default:
            break
        }
        let metadata = ClientMetadata(
            redirectUris: [],
            tokenEndpointAuthMethod: method,
            grantTypes: ["client_credentials"],
            responseTypes: [],
            applicationType: "service",
            clientName: name,
            scope: scopes.joined(separator: " ")
        )
        return (metadata, method == "private_key_jwt" ? request.jwks : nil)
    }
}
