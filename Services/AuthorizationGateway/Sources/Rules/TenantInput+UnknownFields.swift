import Foundation

extension TenantInput {
    /// The fields a tenant document may carry, by object path (snake_case, as sent). The
    /// values of `upstream.extra_authorize_parameters` are free-form.
    static let knownFields: [String: Set<String>] = [
        "": [
            "id", "display_name", "hosts", "auth_mode", "email_linking", "upstream", "token_lifetimes", "fresh_upstream_profile",
            "client_profiles", "mcp", "grants", "client_secret", "disabled",
        ],
        "grants": ["client_credentials", "dpop", "dpop_nonces"],
        "mcp": [
            "mode", "upstream_url", "allow_http", "timeout_seconds", "assertion_header", "tool_scopes", "hide_unauthorized_tools",
            "upstream_token_header",
        ],
        "client_profiles": ["defaults", "overrides"],
        "client_profiles.defaults": ["access_token_seconds", "client_authentication", "refresh_grace_seconds"],
        "upstream": [
            "kind", "issuer", "authorization_endpoint", "token_endpoint", "user_endpoint", "emails_endpoint", "client_id",
            "scopes", "claims", "extra_authorize_parameters",
        ],
        "upstream.claims": ["subject", "email", "email_verified", "name"],
        "token_lifetimes": ["access_token_seconds", "refresh_token_seconds"],
    ]

    /// Every field of `document` (a decoded JSON object) that a tenant document does not have,
    /// as a dotted path, sorted: a typo must be refused, not silently ignored.
    static func unknownFields(in document: [String: Any]) -> [String] {
        var unknown: [String] = []
        func visit(_ object: [String: Any], at path: String) {
            let known = knownFields[path] ?? []
            for (name, value) in object {
                let field = path.isEmpty ? name : "\(path).\(name)"
                guard known.contains(name) else {
                    unknown.append(field)
                    continue
                }
                if let nested = value as? [String: Any], knownFields[field] != nil { visit(nested, at: field) }
            }
        }
        visit(document, at: "")
        return unknown.sorted()
    }
}
