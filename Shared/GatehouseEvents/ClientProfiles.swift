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
