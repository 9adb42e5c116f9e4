/// How a tenant's authorization server treats clients that diverge from the specification in
/// known ways (see `docs/client-compatibility.md`): defaults for every client, and overrides
/// for one client id or for every client whose metadata document lives on a domain. Set by the
/// operator on the tenant, carried by `tenant.updated`, applied by the token service.
public struct ClientProfiles: Codable, Sendable, Equatable {
    public var defaults: ClientProfile
    /// Later overrides win over earlier ones; a client id override wins over a domain's.
    public var overrides: [ClientProfileOverride]

    public init(defaults: ClientProfile = ClientProfile(), overrides: [ClientProfileOverride] = []) {
        self.defaults = defaults
        self.overrides = overrides
    }

    /// The profile that applies to `clientId`: the defaults, then the override for the domain of
    /// its metadata document (when the id is an https URL), then the override for the id itself.
    public func profile(for clientId: String) -> ClientProfile {
        var profile = defaults
        if let domain = Self.documentDomain(of: clientId) {
            for override in overrides where override.documentDomain == domain { profile = override.profile.overlaid(on: profile) }
        }
        for override in overrides where override.clientId == clientId { profile = override.profile.overlaid(on: profile) }
        return profile
    }

    /// The lower-cased host of a client id that is a metadata document URL.
    public static func documentDomain(of clientId: String) -> String? {
        guard clientId.hasPrefix("https://") else { return nil }
        let rest = clientId.dropFirst("https://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        return host.isEmpty ? nil : host.lowercased()
    }
}

/// Per-client adjustments; nil fields leave what applies already.
public struct ClientProfile: Codable, Sendable, Equatable {
    /// Lifetime of the access tokens the client receives (for clients that never refresh).
    public var accessTokenSeconds: Int?
    /// Which client authentication methods a confidential client may use.
    public var clientAuthentication: ClientAuthenticationPolicy?
    /// How long a replaced refresh token still yields its successor (for clients that retry late).
    public var refreshGraceSeconds: Int?

    public init(accessTokenSeconds: Int? = nil, clientAuthentication: ClientAuthenticationPolicy? = nil, refreshGraceSeconds: Int? = nil) {
        self.accessTokenSeconds = accessTokenSeconds
        self.clientAuthentication = clientAuthentication
        self.refreshGraceSeconds = refreshGraceSeconds
    }

    /// This profile's fields over `base`'s.
    public func overlaid(on base: ClientProfile) -> ClientProfile {
        ClientProfile(
            accessTokenSeconds: accessTokenSeconds ?? base.accessTokenSeconds,
            clientAuthentication: clientAuthentication ?? base.clientAuthentication,
            refreshGraceSeconds: refreshGraceSeconds ?? base.refreshGraceSeconds
        )
    }
}

/// How strictly a confidential client's authentication must match its registration.
public enum ClientAuthenticationPolicy: String, Codable, Sendable, CaseIterable {
    /// Exactly the registered `token_endpoint_auth_method`.
    case registered
    /// Either shared-secret method (`client_secret_basic` or `client_secret_post`), whichever was
    /// registered: some hosted clients always send the secret in the body. The default.
    case anySecretMethod = "any_secret_method"
}

/// A profile for one client id, or for the clients whose metadata documents are on a domain.
public struct ClientProfileOverride: Codable, Sendable, Equatable {
    public var clientId: String?
    public var documentDomain: String?
    public var accessTokenSeconds: Int?
    public var clientAuthentication: ClientAuthenticationPolicy?
    public var refreshGraceSeconds: Int?

    public init(clientId: String? = nil, documentDomain: String? = nil, profile: ClientProfile) {
        self.clientId = clientId
        self.documentDomain = documentDomain
        accessTokenSeconds = profile.accessTokenSeconds
        clientAuthentication = profile.clientAuthentication
        refreshGraceSeconds = profile.refreshGraceSeconds
    }

    public var profile: ClientProfile {
        ClientProfile(accessTokenSeconds: accessTokenSeconds, clientAuthentication: clientAuthentication, refreshGraceSeconds: refreshGraceSeconds)
    }
}
