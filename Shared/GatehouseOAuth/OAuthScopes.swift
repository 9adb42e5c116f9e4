/// The scopes every tenant's authorization server knows (the gateway grants them, the token
/// service narrows them), and which of them speak about an end user.
public enum OAuthScopes {
    public static let offlineAccess = "offline_access"
    /// The protected resource's scopes (its metadata lists these).
    public static let resourceScopes = ["mcp:tools", "openid", "profile", "email"]
    public static let supported = resourceScopes + [offlineAccess]
    /// Granted when a client asks for none.
    public static let defaultScopes = ["mcp:tools"]
    /// Scopes about an end user, which a service principal has not got.
    public static let userScopes: Set<String> = ["openid", "profile", "email", offlineAccess]
    /// The scopes a service principal (client credentials) may hold.
    public static var serviceScopes: [String] { supported.filter { !userScopes.contains($0) } }
}
