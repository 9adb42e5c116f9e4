import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `POST /oauth/token` (and `/token`): the authorization code and refresh token grants of OAuth
/// 2.1 for one tenant, known by its host, and client credentials where the tenant offers it. Codes are opened with the shared key ring (nothing is
/// asked of the gateway or Kafka) and redeemed once; refresh tokens rotate on every use.
struct TokenEndpoint: Sendable {
    let store: TokenStore
    let configuration: TokenServiceConfiguration
    let guardrails: RequestGuardrails

    static let maximumBody = 16 * 1024

    func handle(_ request: Request, _ context: TokenRequestContext) async throws -> Response {
        let (tenant, origin) = (context.tenant, context.origin)
        let address = context.clientAddress(of: request) ?? "unknown"
        try guardrails.admit(address: address)
        let form = try await Self.form(of: request)
        let presented = try PresentedClient.read(authorization: request.headers[.authorization], form: form)
        guard let presented else { throw OAuthError.invalidClient("Client authentication is required (client_id)", basic: false) }
        try guardrails.admit(client: presented.clientId)
        do {
            let proof = try await dpopProof(request, tenant: tenant, origin: origin, context: context)
            var response = try await grant(TokenRequest(form: form, presented: presented, proof: proof, context: context))
            // The nonce to use next (§8.2): it changes every few minutes.
            if tenant.grants.requiresDPoPNonce { response.headers[.dpopNonce] = configuration.dpopNonces.current() }
            return response
        } catch let error as APIError where [.invalidClient, .invalidGrant].contains(error.code) {
            guardrails.failed(address: address, client: presented.clientId)
            context.logger.info(
                "Token request refused",
                metadata: [
                    "tenant": "\(tenant.id)", "client_id": "\(presented.clientId)",
                    "error": "\(error.code)",
                ]
            )
            throw error
        }
    }

    private func grant(_ request: TokenRequest) async throws -> Response {
        switch request.form["grant_type"] {
        case "authorization_code": return try await redeemCode(request)
        case "refresh_token": return try await refresh(request)
        case "client_credentials": return try await issueToServicePrincipal(request)
        case nil: throw OAuthError.invalidRequest("grant_type is required")
        default:
            let offered = ["authorization_code", "refresh_token"] + (request.tenant.grants.clientCredentials ? ["client_credentials"] : [])
            throw OAuthError.unsupportedGrantType("Supported grant types: \(offered.joined(separator: ", "))")
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
            throw APIError(.contentTooLarge, code: .invalidRequest, "The body is larger than \(maximumBody) bytes")
        }
        let form: [String: String]
        do {
            form = try FormBody.parseStrict(String(buffer: body))
        } catch {
            throw OAuthError.invalidRequest(error.description)
        }
        for (name, value) in form where value.utf8.count > maximumLength(of: name) {
            throw OAuthError.invalidRequest("\(name) is longer than \(maximumLength(of: name)) bytes")
        }
        return form
    }

    /// The longest value accepted per parameter: nothing we issue or accept is longer, so a
    /// longer one is refused before anything is looked up. Sealed codes carry their binding.
    static func maximumLength(of parameter: String) -> Int {
        switch parameter {
        case "code", "client_assertion": 8192
        case "code_verifier": 128  // RFC 7636 §4.1
        case "refresh_token", "token", "client_secret", "grant_type", "token_type_hint": 512
        default: 2048  // client ids (metadata document URLs), URIs, scopes
        }
    }

    // MARK: Responses

    static func response(_ tokens: MintedTokens) throws -> Response {
        var body = JSONObjectWriter()
        body.add("access_token", tokens.accessToken.revealed)
        body.add("token_type", tokens.boundTo == nil ? "Bearer" : "DPoP")
        body.add("expires_in", Int(tokens.accessExpiresAt.timeIntervalSince(tokens.issuedAt).rounded()))
        body.add("scope", tokens.scopes.joined(separator: " "))
        body.add("refresh_token", tokens.refreshToken?.revealed)
        var response = body.response()
        response.headers[HTTPField.Name("Pragma")!] = "no-cache"
        return response
    }

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

    /// Only the failure budget: for callers that authenticate on every request (resource
    /// servers introspecting), whose volume is not a threat but whose failed guesses are.
    func admitUnlessFailing(address: String) throws {
        if let wait = failures.check("address " + address) {
            throw APIError.tooManyRequests("Too many failed attempts; try again later", retryAfter: wait)
        }
    }
    func admit(client: ClientID) throws { try admit("client " + client.rawValue) }

    func failed(address: String, client: ClientID) {
        _ = failures.acquire("address " + address)
        _ = failures.acquire("client " + client.rawValue)
    }

    private func admit(_ key: String) throws {
        if let wait = failures.check(key) ?? requests.acquire(key) {
            throw APIError.tooManyRequests("Too many requests; try again later", retryAfter: wait)
        }
    }
}
