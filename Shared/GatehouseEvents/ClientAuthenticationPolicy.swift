/// How strictly a confidential client's authentication must match its registration.
public enum ClientAuthenticationPolicy: String, Codable, Sendable, CaseIterable {
    /// Exactly the registered `token_endpoint_auth_method`.
    case registered
    /// Either shared-secret method (`client_secret_basic` or `client_secret_post`), whichever was
    /// registered: some hosted clients always send the secret in the body. The default.
    case anySecretMethod = "any_secret_method"
}
