import Foundation
import GatehouseCrypto
import GatehouseRuntime

/// The gateway's own settings, read from the environment next to the runtime's.
package struct GatewayConfiguration: Sendable {
    /// Seals upstream client secrets and tokens, and the codes the token service opens.
    package var keyRing: KeyRing
    /// The scheme of tenant origins when no trusted proxy says otherwise (`https` in production).
    package var publicScheme: String
    package var trustedProxies: [IPNetwork]
    /// Lets `http://` loopback upstreams through (development and tests only).
    package var allowInsecureUpstream: Bool
    package var registration: RegistrationPolicy
    /// Authenticates the token service at `/internal/upstream-profile` (nil: the route refuses all).
    package var internalToken: OperatorToken?
    /// Test-only: client ID metadata documents may be served over http from loopback.
    package var allowLoopbackMetadataDocuments: Bool
    /// Client ID metadata documents the operator fixed, by client id URL: never fetched.
    package var pinnedMetadataDocuments: [String: AuthorizingClient]

    package init(
        keyRing: KeyRing,
        publicScheme: String = "https",
        trustedProxies: [IPNetwork] = [],
        allowInsecureUpstream: Bool = false,
        registration: RegistrationPolicy = RegistrationPolicy(),
        internalToken: OperatorToken? = nil,
        allowLoopbackMetadataDocuments: Bool = false,
        pinnedMetadataDocuments: [String: AuthorizingClient] = [:]
    ) {
        self.keyRing = keyRing
        self.publicScheme = publicScheme
        self.trustedProxies = trustedProxies
        self.allowInsecureUpstream = allowInsecureUpstream
        self.registration = registration
        self.internalToken = internalToken
        self.allowLoopbackMetadataDocuments = allowLoopbackMetadataDocuments
        self.pinnedMetadataDocuments = pinnedMetadataDocuments
    }

    /// `GATEHOUSE_KEYRING` (required: `id:base64key[,id:base64key]`, the first is current),
    /// `GATEHOUSE_PUBLIC_SCHEME`, `GATEHOUSE_TRUSTED_PROXIES` (comma-separated addresses or
    /// CIDRs), `GATEHOUSE_ALLOW_INSECURE_UPSTREAM`, `GATEHOUSE_REGISTRATIONS_PER_MINUTE`,
    /// `GATEHOUSE_UNUSED_CLIENT_DAYS`, `GATEHOUSE_INTERNAL_TOKEN`, `GATEHOUSE_PINNED_CLIENT_METADATA_FILE`
    /// (a JSON object: client id URL → its metadata document).
    package init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        keyRing = try env.keyRing()
        let origins = try OriginResolver(environment: env)
        publicScheme = origins.defaultScheme
        trustedProxies = origins.trustedProxies
        allowInsecureUpstream = try env.bool("GATEHOUSE_ALLOW_INSECURE_UPSTREAM", default: false)
        registration = RegistrationPolicy(
            perMinutePerAddress: try env.int("GATEHOUSE_REGISTRATIONS_PER_MINUTE", default: 20, range: 1...100_000),
            unusedClientLifetimeDays: try env.int("GATEHOUSE_UNUSED_CLIENT_DAYS", default: 30, range: 1...3650)
        )
        internalToken = try env.internalToken()
        allowLoopbackMetadataDocuments = try env.bool("GATEHOUSE_ALLOW_LOOPBACK_CLIENT_METADATA", default: false)
        pinnedMetadataDocuments = [:]
        if let path = env.optionalString("GATEHOUSE_PINNED_CLIENT_METADATA_FILE") {
            let variable = "GATEHOUSE_PINNED_CLIENT_METADATA_FILE"
            guard let data = FileManager.default.contents(atPath: path),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else {
                throw ConfigurationError(variable: variable, problem: "must name a readable JSON object of client id URL → document")
            }
            var documents: [String: String] = [:]
            for (url, document) in object {
                guard JSONSerialization.isValidJSONObject(document),
                    let text = try? JSONSerialization.data(withJSONObject: document)
                else {
                    throw ConfigurationError(variable: variable, problem: "the document of \(url) is not a JSON object")
                }
                documents[url] = String(decoding: text, as: UTF8.self)
            }
            do {
                pinnedMetadataDocuments = try ClientMetadataDocuments.pin(documents)
            } catch {
                throw ConfigurationError(variable: variable, problem: "\(error)")
            }
        }
    }
}

/// Limits on dynamic client registration.
package struct RegistrationPolicy: Sendable {
    package var perMinutePerAddress: Int
    /// A registered client that never obtains a token is removed after this many days.
    package var unusedClientLifetimeDays: Int

    package init(perMinutePerAddress: Int = 20, unusedClientLifetimeDays: Int = 30) {
        self.perMinutePerAddress = perMinutePerAddress
        self.unusedClientLifetimeDays = unusedClientLifetimeDays
    }
}
