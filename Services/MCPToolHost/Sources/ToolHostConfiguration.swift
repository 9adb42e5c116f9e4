import Crypto
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseRuntime

/// The tool host's own settings, read from the environment next to the runtime's.
package struct ToolHostConfiguration: Sendable {
    /// How the tool host reaches the token service's introspection endpoint.
    package struct Introspection: Sendable {
        /// Base URL of the token service, e.g. `http://token-service:8082`.
        package var tokenServiceURL: String
        /// This resource server's credentials at the token service (`GATEHOUSE_RESOURCE_SERVERS` there).
        package var clientId: String
        package var secret: String
        /// Each introspection call must answer within this time (then 503).
        package var deadline: Duration

        package init(tokenServiceURL: String, clientId: String, secret: String, deadline: Duration = .seconds(2)) {
            self.tokenServiceURL = tokenServiceURL.hasSuffix("/") ? String(tokenServiceURL.dropLast()) : tokenServiceURL
            self.clientId = clientId
            self.secret = secret
            self.deadline = deadline
        }
    }

    /// How long validated tokens are remembered.
    package struct Cache: Sendable {
        /// Longest time an active token's introspection is reused while the revocation feed
        /// is current (a `token.revoked` event drops it at once).
        package var activeFor: Duration
        /// How long "not active" is remembered (a token never becomes active again).
        package var inactiveFor: Duration
        /// A revoked token must stop working within this bound on every instance: an answer
        /// older than it is reused only when the revocation feed has confirmed that it has
        /// applied every event published up to this long ago.
        package var revocationBound: Duration
        package var maximumEntries: Int

        package init(
            activeFor: Duration = .seconds(30),
            inactiveFor: Duration = .seconds(10),
            revocationBound: Duration = .milliseconds(1500),
            maximumEntries: Int = 100_000
        ) {
            self.activeFor = activeFor
            self.inactiveFor = inactiveFor
            self.revocationBound = revocationBound
            self.maximumEntries = maximumEntries
        }
    }

    package var origins: OriginResolver
    package var introspection: Introspection
    package var cache: Cache
    /// Signs session ids; the same on every instance, so any instance checks any session.
    package var sessionKey: SymmetricKey
    /// Browser origins allowed besides the tenant's own (e.g. an MCP inspector's).
    package var allowedOrigins: Set<String>
    /// Signs the identity assertions proxied tenants' MCP servers receive (nil: proxied
    /// tenants answer 503).
    package var assertionKeys: IdentityAssertionKeys?
    /// Request and answer sizes the proxy passes on.
    package var proxyMaximumRequestBytes: Int
    package var proxyMaximumResponseBytes: Int
    /// Where proxied tenants' upstream access tokens come from (the gateway's internal route) and
    /// the token that route expects; nil when no tenant may ask for them.
    package var gateway: (url: String, token: OperatorToken)?

    /// `/mcp`'s DPoP nonces, from the session key (the same on every instance).
    package var dpopNonces: DPoPNonces { DPoPNonces(secret: sessionKey.withUnsafeBytes { Array($0) }) }

    package init(
        origins: OriginResolver = OriginResolver(defaultScheme: "https", trustedProxies: []),
        introspection: Introspection,
        cache: Cache = Cache(),
        sessionKey: SymmetricKey,
        allowedOrigins: Set<String> = [],
        assertionKeys: IdentityAssertionKeys? = nil,
        proxyMaximumRequestBytes: Int = 4 << 20,
        proxyMaximumResponseBytes: Int = 16 << 20,
        gateway: (url: String, token: OperatorToken)? = nil
    ) {
        self.origins = origins
        self.introspection = introspection
        self.cache = cache
        self.sessionKey = sessionKey
        self.allowedOrigins = allowedOrigins
        self.assertionKeys = assertionKeys
        self.proxyMaximumRequestBytes = proxyMaximumRequestBytes
        self.proxyMaximumResponseBytes = proxyMaximumResponseBytes
        self.gateway = gateway
    }

    /// `GATEHOUSE_TOKEN_SERVICE_URL` (required), `GATEHOUSE_INTROSPECTION_CLIENT_ID` (default
    /// `tool-host`), `GATEHOUSE_INTROSPECTION_SECRET` (required, at least 32 characters),
    /// `GATEHOUSE_MCP_SESSION_KEY` (required, at least 32 characters, the same on every
    /// instance), `GATEHOUSE_MCP_ALLOWED_ORIGINS` (comma-separated), `GATEHOUSE_TOKEN_CACHE_SECONDS`
    /// (0-300, default 30), `GATEHOUSE_PUBLIC_SCHEME`, `GATEHOUSE_TRUSTED_PROXIES`,
    /// `GATEHOUSE_ASSERTION_KEYS` (a key ring shared with the token service, for proxied
    /// tenants), `GATEHOUSE_PROXY_MAX_REQUEST_BYTES` (default 4 MiB) and
    /// `GATEHOUSE_PROXY_MAX_RESPONSE_BYTES` (default 16 MiB), `GATEHOUSE_GATEWAY_URL` with
    /// `GATEHOUSE_INTERNAL_TOKEN` (for tenants that hand their server the upstream token).
    package init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        gateway = try GatewayInternalRoute(environment: env).map { ($0.url, $0.token) }
        assertionKeys = try env.optionalKeyRing("GATEHOUSE_ASSERTION_KEYS").map { IdentityAssertionKeys(ring: $0) }
        proxyMaximumRequestBytes = try env.int("GATEHOUSE_PROXY_MAX_REQUEST_BYTES", default: 4 << 20, range: 1024...(64 << 20))
        proxyMaximumResponseBytes = try env.int("GATEHOUSE_PROXY_MAX_RESPONSE_BYTES", default: 16 << 20, range: 1024...(1 << 30))
        origins = try OriginResolver(environment: env)
        let url = try env.string("GATEHOUSE_TOKEN_SERVICE_URL")
        guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""), components.host != nil else {
            throw ConfigurationError(variable: "GATEHOUSE_TOKEN_SERVICE_URL", problem: "must be an http(s) URL such as http://token-service:8082")
        }
        let secret = try env.string("GATEHOUSE_INTROSPECTION_SECRET")
        guard secret.count >= 32 else {
            throw ConfigurationError(variable: "GATEHOUSE_INTROSPECTION_SECRET", problem: "must be at least 32 characters")
        }
        introspection = Introspection(
            tokenServiceURL: url,
            clientId: try env.string("GATEHOUSE_INTROSPECTION_CLIENT_ID", default: "tool-host"),
            secret: secret
        )
        cache = Cache(activeFor: .seconds(try env.int("GATEHOUSE_TOKEN_CACHE_SECONDS", default: 30, range: 0...300)))
        let key = try env.string("GATEHOUSE_MCP_SESSION_KEY")
        guard key.count >= 32 else {
            throw ConfigurationError(variable: "GATEHOUSE_MCP_SESSION_KEY", problem: "must be at least 32 characters")
        }
        sessionKey = SymmetricKey(data: SHA256.hash(data: Data(key.utf8)))
        allowedOrigins = []
        for entry in (env.optionalString("GATEHOUSE_MCP_ALLOWED_ORIGINS") ?? "").split(separator: ",") {
            let origin = entry.trimmingCharacters(in: .whitespaces).lowercased()
            guard let parsed = URLComponents(string: origin), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil,
                parsed.path.isEmpty, parsed.query == nil
            else {
                throw ConfigurationError(
                    variable: "GATEHOUSE_MCP_ALLOWED_ORIGINS",
                    problem: "'\(origin)' is not an origin such as http://localhost:6274"
                )
            }
            allowedOrigins.insert(origin)
        }
    }
}
