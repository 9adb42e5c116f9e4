import Foundation
import GatehouseEvents
import GatehouseRuntime

/// A tenant: one MCP server on its own host names, with its own upstream identity provider.
/// The client secret of the upstream is write-only: it is stored sealed and never returned.
package struct Tenant: Codable, Sendable, Equatable {
    package enum AuthMode: String, Codable, Sendable, CaseIterable {
        /// Users log in at the upstream; tools need a token.
        case oauth
        /// Public tools without a token.
        case none
    }

    package var id: String
    package var displayName: String
    package var hosts: [String]
    package var authMode: AuthMode
    package var emailLinking: String
    package var upstream: UpstreamConfiguration?
    package var tokenLifetimes: TokenLifetimes
    /// Whether userinfo asks the upstream for the user's current profile (refreshing the stored
    /// upstream token when it has expired) instead of answering from the provisioned one.
    package var freshUpstreamProfile: Bool
    /// How the token service treats particular clients (`docs/client-compatibility.md`).
    package var clientProfiles: ClientProfiles
    /// What `/mcp` serves: the built-in tools, or the tenant's own MCP server (`docs/proxy.md`).
    package var mcp: MCPEndpointSettings
    /// The grants offered beyond authorization code and refresh (`docs/grants.md`).
    package var grants: TenantGrants
    /// Whether an upstream client secret is stored (the secret itself never leaves the gateway).
    package var hasClientSecret: Bool
    package var disabled: Bool
    package var version: Int64
    package var createdAt: Date
    package var updatedAt: Date
}

/// How long the tokens the token service issues for a tenant live.
package struct TokenLifetimes: Codable, Sendable, Equatable {
    package static let accessRange = 60...86_400
    package static let refreshRange = 3_600...31_536_000

    package var accessTokenSeconds: Int
    package var refreshTokenSeconds: Int

    /// One hour for access tokens, thirty days for refresh tokens.
    package init(accessTokenSeconds: Int = 3_600, refreshTokenSeconds: Int = 2_592_000) {
        self.accessTokenSeconds = accessTokenSeconds
        self.refreshTokenSeconds = refreshTokenSeconds
    }
}

/// Where a tenant's users log in. Either an OIDC issuer (endpoints and keys from its discovery
/// document) or explicit OAuth 2.0 endpoints for providers without OIDC (GitHub-style: a user
/// endpoint, and an emails endpoint for users who hide their email).
package struct UpstreamConfiguration: Codable, Sendable, Equatable {
    package enum Kind: String, Codable, Sendable, CaseIterable { case oidc, oauth2 }

    package struct ClaimMapping: Codable, Sendable, Equatable {
        package var subject: String
        package var email: String
        package var emailVerified: String
        package var name: String

        package init(subject: String = "sub", email: String = "email", emailVerified: String = "email_verified", name: String = "name") {
            self.subject = subject
            self.email = email
            self.emailVerified = emailVerified
            self.name = name
        }
    }

    package var kind: Kind
    /// OIDC: the issuer whose `/.well-known/openid-configuration` gives the endpoints.
    package var issuer: String?
    package var authorizationEndpoint: String?
    package var tokenEndpoint: String?
    /// OAuth 2.0: the user endpoint (GitHub: `https://api.github.com/user`).
    package var userEndpoint: String?
    /// OAuth 2.0: where the primary verified email is found when the user endpoint has none.
    package var emailsEndpoint: String?
    package var clientId: String
    package var scopes: [String]
    package var claims: ClaimMapping
    /// Added to the upstream authorization request (for example Auth0's `audience`).
    package var extraAuthorizeParameters: [String: String]
}

/// The body of `POST /admin/tenants` and `PATCH /admin/tenants/{id}` (where every field is optional).
package struct TenantInput: Codable, Sendable {
    package var id: String?
    package var displayName: String?
    package var hosts: [String]?
    package var authMode: Tenant.AuthMode?
    package var emailLinking: String?
    package var upstream: UpstreamInput?
    package var tokenLifetimes: TokenLifetimes?
    package var freshUpstreamProfile: Bool?
    /// Replaces the tenant's client profiles as a whole.
    package var clientProfiles: ClientProfiles?
    /// Replaces the tenant's MCP endpoint settings as a whole.
    package var mcp: MCPEndpointSettings?
    /// Replaces the tenant's grant settings as a whole.
    package var grants: TenantGrants?
    /// Write-only.
    package var clientSecret: String?
    package var disabled: Bool?

    package init(
        id: String? = nil,
        displayName: String? = nil,
        hosts: [String]? = nil,
        authMode: Tenant.AuthMode? = nil,
        emailLinking: String? = nil,
        upstream: UpstreamInput? = nil,
        tokenLifetimes: TokenLifetimes? = nil,
        freshUpstreamProfile: Bool? = nil,
        clientProfiles: ClientProfiles? = nil,
        mcp: MCPEndpointSettings? = nil,
        grants: TenantGrants? = nil,
        clientSecret: String? = nil,
        disabled: Bool? = nil
    ) {
        self.id = id
        self.displayName = displayName
        self.hosts = hosts
        self.authMode = authMode
        self.emailLinking = emailLinking
        self.upstream = upstream
        self.tokenLifetimes = tokenLifetimes
        self.freshUpstreamProfile = freshUpstreamProfile
        self.clientProfiles = clientProfiles
        self.mcp = mcp
        self.grants = grants
        self.clientSecret = clientSecret
        self.disabled = disabled
    }

    package struct UpstreamInput: Codable, Sendable {
        package var kind: UpstreamConfiguration.Kind?
        package var issuer: String?
        package var authorizationEndpoint: String?
        package var tokenEndpoint: String?
        package var userEndpoint: String?
        package var emailsEndpoint: String?
        package var clientId: String?
        package var scopes: [String]?
        package var claims: UpstreamConfiguration.ClaimMapping?
        package var extraAuthorizeParameters: [String: String]?

        package init(
            kind: UpstreamConfiguration.Kind? = nil,
            issuer: String? = nil,
            authorizationEndpoint: String? = nil,
            tokenEndpoint: String? = nil,
            userEndpoint: String? = nil,
            emailsEndpoint: String? = nil,
            clientId: String? = nil,
            scopes: [String]? = nil,
            claims: UpstreamConfiguration.ClaimMapping? = nil,
            extraAuthorizeParameters: [String: String]? = nil
        ) {
            self.kind = kind
            self.issuer = issuer
            self.authorizationEndpoint = authorizationEndpoint
            self.tokenEndpoint = tokenEndpoint
            self.userEndpoint = userEndpoint
            self.emailsEndpoint = emailsEndpoint
            self.clientId = clientId
            self.scopes = scopes
            self.claims = claims
            self.extraAuthorizeParameters = extraAuthorizeParameters
        }
    }
}

/// Why a tenant definition is refused: the field and the rule.
package struct TenantValidationError: Error, Equatable, CustomStringConvertible {
    package var field: String
    package var problem: String
    package var description: String { "\(field): \(problem)" }
}

/// The rules a tenant definition must keep (pure; the admin API applies them).
package enum TenantRules {
    package static let maximumHosts = 16

    /// Checks and normalises a complete definition. `allowInsecureUpstream` lets `http://`
    /// loopback upstreams through (development and tests only).
    package static func validate(
        id: String,
        displayName: String,
        hosts: [String],
        authMode: Tenant.AuthMode,
        emailLinking: String,
        upstream: UpstreamConfiguration?,
        tokenLifetimes: TokenLifetimes = TokenLifetimes(),
        allowInsecureUpstream: Bool
    ) throws -> [String] {
        guard isValidTenantID(id) else {
            throw TenantValidationError(field: "id", problem: "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
        }
        guard !displayName.trimmingCharacters(in: .whitespaces).isEmpty, displayName.count <= 200 else {
            throw TenantValidationError(field: "display_name", problem: "must be 1-200 characters")
        }
        guard !hosts.isEmpty, hosts.count <= maximumHosts else {
            throw TenantValidationError(field: "hosts", problem: "must list 1-\(maximumHosts) host names")
        }
        let normalised = try hosts.map { host -> String in
            guard let host = HostName.normalise(host) else {
                throw TenantValidationError(field: "hosts", problem: "'\(host)' is not a host name (optionally with :port)")
            }
            return host
        }
        guard Set(normalised).count == normalised.count else { throw TenantValidationError(field: "hosts", problem: "lists a host twice") }
        guard [EmailLinkingPolicy.none.rawValue, EmailLinkingPolicy.verifiedEmail.rawValue].contains(emailLinking) else {
            throw TenantValidationError(field: "email_linking", problem: "must be none or verified_email")
        }
        guard TokenLifetimes.accessRange.contains(tokenLifetimes.accessTokenSeconds) else {
            throw TenantValidationError(field: "token_lifetimes.access_token_seconds", problem: "must be 60-86400")
        }
        guard TokenLifetimes.refreshRange.contains(tokenLifetimes.refreshTokenSeconds),
            tokenLifetimes.refreshTokenSeconds >= tokenLifetimes.accessTokenSeconds
        else {
            throw TenantValidationError(
                field: "token_lifetimes.refresh_token_seconds",
                problem: "must be 3600-31536000 and not shorter than the access token's"
            )
        }
        switch (authMode, upstream) {
        case (.oauth, nil):
            throw TenantValidationError(field: "upstream", problem: "is required when auth_mode is oauth")
        case (_, let upstream?):
            try validate(upstream, allowInsecure: allowInsecureUpstream)
        default:
            break
        }
        return normalised
    }

    static func validate(_ upstream: UpstreamConfiguration, allowInsecure: Bool) throws {
        func url(_ value: String?, _ field: String, required: Bool) throws {
            guard let value else {
                if required {
                    throw TenantValidationError(field: "upstream.\(field)", problem: "is required for a \(upstream.kind.rawValue) upstream")
                }
                return
            }
            guard isAcceptableEndpoint(value, allowInsecure: allowInsecure) else {
                throw TenantValidationError(field: "upstream.\(field)", problem: "must be an absolute https URL without a fragment")
            }
        }
        switch upstream.kind {
        case .oidc:
            try url(upstream.issuer, "issuer", required: true)
            try url(upstream.authorizationEndpoint, "authorization_endpoint", required: false)
            try url(upstream.tokenEndpoint, "token_endpoint", required: false)
        case .oauth2:
            try url(upstream.authorizationEndpoint, "authorization_endpoint", required: true)
            try url(upstream.tokenEndpoint, "token_endpoint", required: true)
            try url(upstream.userEndpoint, "user_endpoint", required: true)
            try url(upstream.emailsEndpoint, "emails_endpoint", required: false)
        }
        guard !upstream.clientId.isEmpty, upstream.clientId.count <= 512 else {
            throw TenantValidationError(field: "upstream.client_id", problem: "must be 1-512 characters")
        }
        guard upstream.scopes.count <= 32, upstream.scopes.allSatisfy(isScopeToken) else {
            throw TenantValidationError(field: "upstream.scopes", problem: "must be at most 32 scope tokens")
        }
        let reserved: Set<String> = [
            "client_id", "redirect_uri", "response_type", "state", "nonce", "code_challenge",
            "code_challenge_method", "scope",
        ]
        guard upstream.extraAuthorizeParameters.count <= 16,
            upstream.extraAuthorizeParameters.keys.allSatisfy({ !reserved.contains($0) && !$0.isEmpty && $0.count <= 64 }),
            upstream.extraAuthorizeParameters.values.allSatisfy({ $0.count <= 512 })
        else {
            throw TenantValidationError(
                field: "upstream.extra_authorize_parameters",
                problem: "at most 16 short parameters, none of the ones Gatehouse sets itself"
            )
        }
        for (field, claim) in [
            ("subject", upstream.claims.subject), ("email", upstream.claims.email),
            ("email_verified", upstream.claims.emailVerified), ("name", upstream.claims.name),
        ]
        where claim.isEmpty || claim.count > 64 {
            throw TenantValidationError(field: "upstream.claims.\(field)", problem: "must be 1-64 characters")
        }
    }

    package static func isValidTenantID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...63).contains(bytes.count), bytes[0] != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-")
        }
    }

    static func isAcceptableEndpoint(_ text: String, allowInsecure: Bool) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), let host = components.host,
            !host.isEmpty, components.fragment == nil, components.user == nil, components.password == nil
        else { return false }
        if scheme == "https" { return true }
        return allowInsecure && scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
    }

    /// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
    package static func isScopeToken(_ scope: String) -> Bool {
        !scope.isEmpty && scope.utf8.count <= 128 && scope.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }
}
