import GatehouseEvents
import GatehouseRuntime

extension TenantRules {
    package static let maximumProfileOverrides = 200
    package static let refreshGraceRange = 0...300

    /// Checks a tenant's client profiles: lifetimes and windows within their ranges, and each
    /// override naming exactly one client id or one metadata-document domain, once.
    package static func validate(_ profiles: ClientProfiles) throws {
        try validate(profiles.defaults, field: "client_profiles.defaults")
        guard profiles.overrides.count <= maximumProfileOverrides else {
            throw TenantValidationError(field: "client_profiles.overrides", problem: "at most \(maximumProfileOverrides)")
        }
        var seen = Set<String>()
        for (index, override) in profiles.overrides.enumerated() {
            let field = "client_profiles.overrides[\(index)]"
            let key: String
            switch (override.clientId, override.documentDomain) {
            case (let clientId?, nil):
                guard !clientId.isEmpty, clientId.utf8.count <= 2048 else {
                    throw TenantValidationError(field: field + ".client_id", problem: "must be 1-2048 characters")
                }
                key = "client " + clientId
            case (nil, let domain?):
                guard let host = HostName.normalise(domain), host == domain, !host.contains(":") else {
                    throw TenantValidationError(field: field + ".document_domain", problem: "'\(domain)' is not a host name")
                }
                key = "domain " + host
            default:
                throw TenantValidationError(field: field, problem: "must name exactly one of client_id and document_domain")
            }
            guard seen.insert(key).inserted else { throw TenantValidationError(field: field, problem: "repeats an earlier override") }
            try validate(override.profile, field: field)
        }
    }

    static func validate(_ profile: ClientProfile, field: String) throws {
        if let seconds = profile.accessTokenSeconds, !TokenLifetimes.accessRange.contains(seconds) {
            throw TenantValidationError(
                field: field + ".access_token_seconds",
                problem: "must be \(TokenLifetimes.accessRange.lowerBound)-\(TokenLifetimes.accessRange.upperBound)"
            )
        }
        if let grace = profile.refreshGraceSeconds, !refreshGraceRange.contains(grace) {
            throw TenantValidationError(
                field: field + ".refresh_grace_seconds",
                problem: "must be \(refreshGraceRange.lowerBound)-\(refreshGraceRange.upperBound)"
            )
        }
    }
}
