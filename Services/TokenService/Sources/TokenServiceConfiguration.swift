import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseRuntime

/// The token service's own settings, read from the environment next to the runtime's.
package struct TokenServiceConfiguration: Sendable {
    /// Opens the gateway's sealed codes (the same ring the gateway seals with).
    package var keyRing: KeyRing {
        didSet { dpopNonces = Self.nonces(keyRing) }
    }
    /// The token endpoint's DPoP nonces, from the key ring's current key (every instance alike).
    package private(set) var dpopNonces: DPoPNonces
    package var origins: OriginResolver
    /// How long a rotated-out refresh token is accepted again while its successor is unused.
    package var refreshGrace: Duration
    /// Failed attempts after which a code is burned.
    package var codeFailureLimit: Int
    /// Resource servers allowed to introspect (the tool host): id → secret hash.
    package var resourceServers: [String: String]
    package var limits: TokenRateLimits
    /// Where fresh upstream profiles come from (the gateway's internal route) and the token
    /// that route expects; nil when no tenant may ask for them.
    package var gateway: (url: String, token: OperatorToken)?
    /// The keys of the identity assertions the tool host signs for proxied tenants, whose
    /// public halves `/oauth/jwks` publishes (nil: no keys, an empty set).
    package var assertionKeys: IdentityAssertionKeys?

    package init(
        keyRing: KeyRing,
        origins: OriginResolver = OriginResolver(defaultScheme: "https", trustedProxies: []),
        refreshGrace: Duration = .seconds(30),
        codeFailureLimit: Int = 3,
        resourceServers: [String: String] = [:],
        limits: TokenRateLimits = TokenRateLimits(),
        gateway: (url: String, token: OperatorToken)? = nil,
        assertionKeys: IdentityAssertionKeys? = nil
    ) {
        self.keyRing = keyRing
        dpopNonces = Self.nonces(keyRing)
        self.origins = origins
        self.refreshGrace = refreshGrace
        self.codeFailureLimit = codeFailureLimit
        self.resourceServers = resourceServers
        self.limits = limits
        self.gateway = gateway
        self.assertionKeys = assertionKeys
    }

    /// `GATEHOUSE_KEYRING` (required), `GATEHOUSE_PUBLIC_SCHEME`, `GATEHOUSE_TRUSTED_PROXIES`,
    /// `GATEHOUSE_REFRESH_GRACE_SECONDS` (0-60, default 30), `GATEHOUSE_CODE_FAILURE_LIMIT`
    /// (1-10, default 3), `GATEHOUSE_RESOURCE_SERVERS` (`id:secret[,id:secret]`, secrets of at
    /// least 32 characters), `GATEHOUSE_TOKEN_REQUESTS_PER_MINUTE` (per client and per address,
    /// default 600), `GATEHOUSE_TOKEN_FAILURES_PER_MINUTE` (default 20), `GATEHOUSE_GATEWAY_URL`
    /// with `GATEHOUSE_INTERNAL_TOKEN` (for tenants with fresh upstream profiles),
    /// `GATEHOUSE_ASSERTION_KEYS` (the tool host's, for proxied tenants' JWKS).
    package init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        keyRing = try env.keyRing()
        dpopNonces = Self.nonces(keyRing)
        assertionKeys = try env.optionalKeyRing("GATEHOUSE_ASSERTION_KEYS").map { IdentityAssertionKeys(ring: $0) }
        origins = try OriginResolver(environment: env)
        refreshGrace = .seconds(try env.int("GATEHOUSE_REFRESH_GRACE_SECONDS", default: 30, range: 0...60))
        codeFailureLimit = try env.int("GATEHOUSE_CODE_FAILURE_LIMIT", default: 3, range: 1...10)
        resourceServers = [:]
        for entry in (env.optionalString("GATEHOUSE_RESOURCE_SERVERS") ?? "").split(separator: ",") {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].count >= 32 else {
                throw ConfigurationError(
                    variable: "GATEHOUSE_RESOURCE_SERVERS",
                    problem: "must be id:secret pairs with secrets of at least 32 characters"
                )
            }
            resourceServers[parts[0]] = SecretHash.of(parts[1])
        }
        limits = TokenRateLimits(
            requestsPerMinute: try env.int("GATEHOUSE_TOKEN_REQUESTS_PER_MINUTE", default: 600, range: 1...10_000_000),
            failuresPerMinute: try env.int("GATEHOUSE_TOKEN_FAILURES_PER_MINUTE", default: 20, range: 1...100_000)
        )
        gateway = try GatewayInternalRoute(environment: env).map { ($0.url, $0.token) }
    }
}

/// Per client id and per client address: requests, and failed attempts (wrong secret, code,
/// verifier or refresh token). Failures run out long before guessing gets anywhere.
package struct TokenRateLimits: Sendable {
    package var requestsPerMinute: Int
    package var failuresPerMinute: Int

    package init(requestsPerMinute: Int = 600, failuresPerMinute: Int = 20) {
        self.requestsPerMinute = requestsPerMinute
        self.failuresPerMinute = failuresPerMinute
    }
}

extension TokenServiceConfiguration {
    static func nonces(_ ring: KeyRing) -> DPoPNonces {
        DPoPNonces(secret: ring.derivedBytes(purpose: "dpop-nonce/v1", context: "token-service", keyID: ring.currentKeyID)!)
    }
}
