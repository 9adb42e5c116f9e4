import Foundation
import GatehouseCrypto
import GatehouseRuntime

/// The gateway's own settings, read from the environment next to the runtime's.
public struct GatewayConfiguration: Sendable {
    /// Seals upstream client secrets and tokens, and the codes the token service opens.
    public var keyRing: KeyRing
    /// The scheme of tenant origins when no trusted proxy says otherwise (`https` in production).
    public var publicScheme: String
    public var trustedProxies: [IPNetwork]
    /// Lets `http://` loopback upstreams through (development and tests only).
    public var allowInsecureUpstream: Bool
    public var registration: RegistrationPolicy

    public init(keyRing: KeyRing, publicScheme: String = "https", trustedProxies: [IPNetwork] = [],
                allowInsecureUpstream: Bool = false, registration: RegistrationPolicy = RegistrationPolicy()) {
        self.keyRing = keyRing
        self.publicScheme = publicScheme
        self.trustedProxies = trustedProxies
        self.allowInsecureUpstream = allowInsecureUpstream
        self.registration = registration
    }

    /// `GATEHOUSE_KEYRING` (required: `id:base64key[,id:base64key]`, the first is current),
    /// `GATEHOUSE_PUBLIC_SCHEME`, `GATEHOUSE_TRUSTED_PROXIES` (comma-separated addresses or
    /// CIDRs), `GATEHOUSE_ALLOW_INSECURE_UPSTREAM`, `GATEHOUSE_REGISTRATIONS_PER_MINUTE`,
    /// `GATEHOUSE_UNUSED_CLIENT_DAYS`.
    public init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        do {
            keyRing = try KeyRing(specification: try env.string("GATEHOUSE_KEYRING"))
        } catch let error as KeyRing.Failure {
            throw ConfigurationError(variable: "GATEHOUSE_KEYRING", problem: error.description)
        }
        publicScheme = try env.string("GATEHOUSE_PUBLIC_SCHEME", default: "https")
        guard ["https", "http"].contains(publicScheme) else {
            throw ConfigurationError(variable: "GATEHOUSE_PUBLIC_SCHEME", problem: "must be https or http")
        }
        trustedProxies = try (env.optionalString("GATEHOUSE_TRUSTED_PROXIES") ?? "").split(separator: ",").map {
            let text = $0.trimmingCharacters(in: .whitespaces)
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(variable: "GATEHOUSE_TRUSTED_PROXIES", problem: "'\(text)' is not an IP address or CIDR")
            }
            return network
        }
        let insecure = try env.string("GATEHOUSE_ALLOW_INSECURE_UPSTREAM", default: "false")
        guard ["true", "false"].contains(insecure) else {
            throw ConfigurationError(variable: "GATEHOUSE_ALLOW_INSECURE_UPSTREAM", problem: "must be true or false")
        }
        allowInsecureUpstream = insecure == "true"
        registration = RegistrationPolicy(
            perMinutePerAddress: try env.int("GATEHOUSE_REGISTRATIONS_PER_MINUTE", default: 20, range: 1...100_000),
            unusedClientLifetimeDays: try env.int("GATEHOUSE_UNUSED_CLIENT_DAYS", default: 30, range: 1...3650))
    }
}

/// Limits on dynamic client registration.
public struct RegistrationPolicy: Sendable {
    public var perMinutePerAddress: Int
    /// A registered client that never obtains a token is removed after this many days.
    public var unusedClientLifetimeDays: Int

    public init(perMinutePerAddress: Int = 20, unusedClientLifetimeDays: Int = 30) {
        self.perMinutePerAddress = perMinutePerAddress
        self.unusedClientLifetimeDays = unusedClientLifetimeDays
    }
}
