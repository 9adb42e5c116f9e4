import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `POST /oauth/token` (and `/token`): the authorization code and refresh token grants of OAuth
/// 2.1 for one tenant, known by its host. Codes are opened with the shared key ring (nothing is
/// asked of the gateway or Kafka) and redeemed once; refresh tokens rotate on every use.
struct TokenEndpoint: Sendable {
    let tenants: HostResolver<TokenTenant>
    let store: TokenStore
    let configuration: TokenServiceConfiguration
    let guardrails: RequestGuardrails

    static let maximumBody = 16 * 1024
    static let maximumRotationAttempts = 4

    func handle(_ request: Request, _ context: GatehouseRequestContext) async throws -> Response {
        let (tenant, origin) = try await tenants.resolve(request, context)
        let address = configuration.origins.clientAddress(of: request, remoteAddress: context.remoteAddress) ?? "unknown"
        try guardrails.admit(address: address)
        let form = try await Self.form(of: request)
        let presented = try PresentedClient.read(authorization: request.headers[.authorization], form: form)
        guard let presented else { throw OAuthError.invalidClient("Client authentication is required (client_id)", basic: false) }
        try guardrails.admit(client: presented.clientId)
        do {
            switch form["grant_type"] {
            case "authorization_code":
                return try await redeemCode(form, presented: presented, tenant: tenant, origin: origin, context: context)
            case "refresh_token":
                return try await refresh(form, presented: presented, tenant: tenant, context: context)
            case nil:
                throw OAuthError.invalidRequest("grant_type is required")
            default:
                throw OAuthError.unsupportedGrantType("Supported grant types: authorization_code, refresh_token")
            }
        } catch let error as APIError where ["invalid_client", "invalid_grant"].contains(error.code) {
            guardrails.failed(address: address, client: presented.clientId)
            context.logger.info("Token request refused", metadata: ["tenant": "\(tenant.id)", "client_id": "\(presented.clientId)",
                                                                   "error": "\(error.code)"])
            throw error
        }
    }

    /// The body of an OAuth endpoint: form-encoded only, at most 16 KiB, no parameter twice.
    static func form(of request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            throw OAuthError.invalidRequest("The body must be application/x-www-form-urlencoded")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBody)
        } catch {
            throw APIError(.contentTooLarge, code: "invalid_request", "The body is larger than \(maximumBody) bytes")
        }
        do {
            return try FormBody.parseStrict(String(buffer: body))
        } catch {
            throw OAuthError.invalidRequest(error.description)
        }
    }

    // MARK: authorization_code

    func redeemCode(_ form: [String: String], presented: PresentedClient, tenant: TokenTenant, origin: PublicOrigin,
                    context: GatehouseRequestContext) async throws -> Response {
        guard let code = form["code"] else { throw OAuthError.invalidRequest("code is required") }
        guard let redirectUri = form["redirect_uri"] else { throw OAuthError.invalidRequest("redirect_uri is required") }
        let binding: CodeBinding
        do {
            binding = try SealedCode.open(code, tenant: tenant.id, keyRing: configuration.keyRing)
        } catch SealedCode.Failure.expired {
            throw OAuthError.invalidGrant("The authorization code has expired")
        } catch {
            throw OAuthError.invalidGrant("The authorization code is not valid")
        }
        let codeHash = SealedCode.hash(code)
        let projected = try await infrastructure(context) { try await store.registeredClient(presented.clientId, tenant: tenant.id) }
        // A client registered a moment ago may not be projected yet: the code carries its credentials.
        let registered = projected ?? (presented.clientId == binding.clientId
            ? RegisteredClient(clientId: binding.clientId, tokenEndpointAuthMethod: binding.client.tokenEndpointAuthMethod,
                               secretHash: binding.client.secretHash, grantTypes: binding.client.grantTypes, disabled: false)
            : nil)
        try RegisteredClient.authenticate(presented, as: registered)
        guard let registered else { throw OAuthError.invalidClient("Client authentication failed", basic: false) }

        // The code was opened: a wrong client, redirect URI, resource or verifier is a failed
        // attempt, counted against the code (a few burn it).
        func failed(_ error: APIError) async throws -> Never {
            let failures = try await infrastructure(context) { try await store.recordFailure(codeHash: codeHash, binding: binding) }
            context.logger.info("Code redemption failed", metadata: ["tenant": "\(tenant.id)", "failures": "\(failures)", "error": "\(error.code)"])
            throw error
        }
        if binding.clientId != presented.clientId { try await failed(OAuthError.invalidGrant("The code was issued to another client")) }
        if binding.redirectUri != redirectUri { try await failed(OAuthError.invalidGrant("redirect_uri differs from the authorization request")) }
        if let resource = form["resource"], resource != binding.resource {
            try await failed(OAuthError.invalidTarget("resource differs from the authorization request"))
        }
        switch (form["code_verifier"], binding.codeChallenge.isEmpty) {
        case (nil, false): try await failed(OAuthError.invalidRequest("code_verifier is required"))
        case (.some, true): try await failed(OAuthError.invalidGrant("The code was not bound to a code_challenge"))
        case (let verifier?, false) where !PKCE.verify(verifier: verifier, challenge: binding.codeChallenge):
            try await failed(OAuthError.invalidGrant("code_verifier does not match the code_challenge"))
        default: break
        }
        guard registered.grantTypes.contains("authorization_code") else {
            throw OAuthError.unauthorizedClient("The client is not registered for authorization_code")
        }

        let issuesRefresh = registered.grantTypes.contains("refresh_token")
        let tokens = MintedTokens(scopes: binding.scopes, accessSeconds: tenant.accessTokenSeconds,
                                  refreshSeconds: issuesRefresh ? tenant.refreshTokenSeconds : nil)
        let outcome = try await infrastructure(context) {
            try await store.redeem(codeHash: codeHash, binding: binding, client: registered, tokens: tokens,
                                   failureLimit: configuration.codeFailureLimit)
        }
        guard case .issued(let grantId) = outcome else {
            try await infrastructure(context) { try await store.revokeGrantOfReplayedCode(codeHash: codeHash) }
            context.logger.warning("Authorization code presented again; its grant is revoked", metadata: ["tenant": "\(tenant.id)",
                                                                                                          "client_id": "\(binding.clientId)"])
            throw OAuthError.invalidGrant("The authorization code was already used")
        }
        context.logger.info("Tokens issued", metadata: ["tenant": "\(tenant.id)", "client_id": "\(binding.clientId)",
                                                         "user_id": "\(binding.userId)", "grant_id": "\(grantId)"])
        return try Self.response(tokens)
    }

    // MARK: refresh_token

    func refresh(_ form: [String: String], presented: PresentedClient, tenant: TokenTenant, context: GatehouseRequestContext) async throws -> Response {
        guard let refreshToken = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required") }
        let requestedScopes = form["scope"].map { $0.split(separator: " ").map(String.init) }
        let presentedHash = SecretHash.of(refreshToken)
        for _ in 0..<Self.maximumRotationAttempts {
            guard refreshToken.hasPrefix(MintedTokens.refreshPrefix),
                  let (state, presentedGeneration) = try await infrastructure(context, deadline: nil, { try await store.grant(ofRefreshHash: presentedHash) }),
                  state.tenant == tenant.id else {
                throw OAuthError.invalidGrant("The refresh token is not valid")
            }
            guard presented.clientId == state.clientId else {
                // Authenticate the caller as itself first: a stranger learns nothing but invalid_client.
                let caller = try await infrastructure(context) { try await store.registeredClient(presented.clientId, tenant: tenant.id) }
                try RegisteredClient.authenticate(presented, as: caller)
                throw OAuthError.invalidGrant("The refresh token was issued to another client")
            }
            try RegisteredClient.authenticate(presented, as: state.client)
            guard state.client.grantTypes.contains("refresh_token") else {
                throw OAuthError.unauthorizedClient("The client is not registered for refresh_token")
            }
            guard !state.revoked else { throw OAuthError.invalidGrant("The grant was revoked") }
            guard let expires = state.refreshExpiresAt, expires > state.now else { throw OAuthError.invalidGrant("The refresh token has expired") }
            let scopes = requestedScopes ?? state.scopes
            guard !scopes.isEmpty, Set(scopes).isSubset(of: state.scopes) else {
                throw OAuthError.invalidScope("The requested scope exceeds the scope of the grant")
            }

            let kind: TokenStore.RotationKind
            if presentedHash == state.refreshHash {
                kind = .rotate
            } else if presentedHash == state.previousRefreshHash, let rotated = state.refreshedAt,
                      state.now.timeIntervalSince(rotated) <= configuration.refreshGrace / .seconds(1) {
                kind = .graceReissue
            } else {
                try await infrastructure(context) {
                    try await store.revokeGrant(state.grantId, reason: "refresh_token_reuse", reuse: (presentedGeneration, state.generation))
                }
                context.logger.warning("Refresh token reuse; the grant is revoked", metadata: [
                    "tenant": "\(tenant.id)", "client_id": "\(state.clientId)", "grant_id": "\(state.grantId)",
                    "presented_generation": "\(presentedGeneration)", "current_generation": "\(state.generation)"])
                throw OAuthError.invalidGrant("The refresh token was already used")
            }
            let tokens = MintedTokens(scopes: scopes, accessSeconds: tenant.accessTokenSeconds, refreshSeconds: tenant.refreshTokenSeconds)
            if try await infrastructure(context, deadline: nil, {
                try await store.rotate(state, presentedHash: presentedHash, kind: kind, tokens: tokens, grace: configuration.refreshGrace)
            }) {
                return try Self.response(tokens)
            }
            // Another request changed the grant between our read and our write: decide again on its new state.
        }
        context.logger.error("Refresh kept losing races", metadata: ["tenant": "\(tenant.id)"])
        throw APIError.temporarilyUnavailable
    }

    // MARK: Responses

    static func response(_ tokens: MintedTokens) throws -> Response {
        var body = JSONObjectWriter()
        body.add("access_token", tokens.accessToken)
        body.add("token_type", "Bearer")
        body.add("expires_in", Int(tokens.accessExpiresAt.timeIntervalSince(tokens.issuedAt).rounded()))
        body.add("scope", tokens.scopes.joined(separator: " "))
        body.add("refresh_token", tokens.refreshToken)
        var response = body.response()
        response.headers[HTTPField.Name("Pragma")!] = "no-cache"
        return response
    }

}

/// A call to the token service's storage (or the gateway): its failure is our outage, answered
/// 503, never the client's fault. `deadline: nil` for calls through a `Batcher`, which has its own.
@discardableResult
func infrastructure<T: Sendable>(_ context: GatehouseRequestContext, deadline: Duration? = APIError.infrastructureDeadline,
                                 _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await APIError.mappingInfrastructureFailures(context.logger, "Token storage failed", deadline: deadline, body)
}

/// Request and failure budgets per client address and per client id (see `TokenRateLimits`):
/// over either → 429 with `Retry-After`.
struct RequestGuardrails: Sendable {
    private let requests: RateLimiter
    private let failures: RateLimiter

    init(limits: TokenRateLimits) {
        requests = RateLimiter(capacity: limits.requestsPerMinute, per: .seconds(60))
        failures = RateLimiter(capacity: limits.failuresPerMinute, per: .seconds(60))
    }

    func admit(address: String) throws { try admit("address " + address) }
    func admit(client: String) throws { try admit("client " + client) }

    func failed(address: String, client: String) {
        _ = failures.acquire("address " + address)
        _ = failures.acquire("client " + client)
    }

    private func admit(_ key: String) throws {
        if let wait = failures.check(key) ?? requests.acquire(key) {
            throw APIError.tooManyRequests("Too many requests; try again later", retryAfter: wait)
        }
    }
}
