import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// Authenticates every request to `/mcp` before its handler runs, and puts the caller on the
/// context: the token of the `Authorization` header (never the query), validated for this
/// tenant and origin; a DPoP-bound one only with a proof of its key (RFC 9449). No token: 401 `invalid_request`; a token that is not valid here:
/// 401 `invalid_token`, both with the RFC 9728 challenge; the token service unreachable: 503.
/// A tenant whose tools need no sign-in gets an anonymous caller.
struct BearerAuthenticator: RouterMiddleware {
    typealias Context = MCPRequestContext

    /// nil: authentication switched off (the benchmark's baseline only; never configured by
    /// the environment), every caller the same benchmark user.
    let validator: TokenValidator?
    /// Records an accepted DPoP proof: false when it was seen before (a replay).
    let proofs: @Sendable (DPoPProof.Verified) async throws -> Bool
    /// The nonces proofs must carry where the tenant asks for them (RFC 9449 §9).
    let nonces: DPoPNonces
    /// Every scope a hosted tool needs: what a client should ask for (the challenge's `scope`).
    let hostedScopes: [String]

    init(
        validator: TokenValidator?,
        catalog: ToolCatalog,
        nonces: DPoPNonces,
        proofs: @escaping @Sendable (DPoPProof.Verified) async throws -> Bool
    ) {
        self.validator = validator
        self.nonces = nonces
        self.proofs = proofs
        var scopes: [String] = []
        for scope in catalog.tools.flatMap(\.requiredScopes) where !scopes.contains(scope) { scopes.append(scope) }
        hostedScopes = scopes
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        // The nonce to use next, on a refusal as on an answer (it changes every few minutes).
        let nonce = context.tenant.requiresDPoPNonce ? nonces.current() : nil
        context.authenticated = try await authenticate(request, tenant: context.tenant, origin: context.origin, nonce: nonce, logger: context.logger)
        var response = try await next(request, context)
        if let nonce { response.headers[.dpopNonce] = nonce }
        return response
    }

    private func authenticate(_ request: Request, tenant: ToolTenant, origin: PublicOrigin, nonce: String?, logger: Logger) async throws -> Caller {
        if tenant.authMode == .none { return .anonymous(tenant: tenant.id) }
        guard let validator else {
            return .user(
                Principal(
                    tenant: tenant.id,
                    userId: "benchmark",
                    clientId: "benchmark",
                    email: nil,
                    emailVerified: false,
                    name: nil,
                    scopes: [SupportTools.toolsScope]
                )
            )
        }
        let challenge = Challenge(
            origin: origin,
            scope: tenant.mcp.mode == .proxy ? Self.proxiedScopes(tenant.mcp) : hostedScopes,
            nonce: nonce
        )
        let dpop = tenant.acceptsDPoP
        guard let credential = Credential(request.headers[.authorization], dpop: dpop) else {
            Self.failures.increment()
            throw APIError(
                .unauthorized,
                code: .invalidRequest,
                "This MCP server needs a bearer token in the Authorization header",
                headers: challenge.headers(error: nil, dpop: dpop)
            )
        }
        func refused(_ code: APIError.Code, _ description: String) -> APIError {
            Self.failures.increment()
            return APIError(
                .unauthorized,
                code: code,
                description,
                headers: challenge.headers(error: code, description: description, dpop: dpop, usedDPoP: credential.isDPoP)
            )
        }
        let verdict: TokenValidator.Verdict
        do {
            verdict = try await validator.validate(credential.token, tenant: tenant, origin: origin)
        } catch {
            logger.error("Token validation unavailable", metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
        guard case .valid(let principal) = verdict else {
            throw refused(.invalidToken, "The access token is not valid for this MCP server")
        }
        // RFC 9449 §7: a bound token only with a proof of its key, a bearer token only as Bearer.
        switch (credential, principal.dpopThumbprint) {
        case (.bearer, nil):
            break
        case (.bearer, .some):
            throw refused(.invalidToken, "The access token is bound to a DPoP key: present it with the DPoP scheme and a proof")
        case (.dpop, nil):
            throw refused(.invalidToken, "The access token is not DPoP-bound: present it as a Bearer token")
        case (.dpop(let token), let bound?):
            try await checkProof(
                request,
                token: token,
                boundTo: bound,
                origin: origin,
                nonceRequired: tenant.requiresDPoPNonce,
                logger: logger,
                refused: refused
            )
        }
        return .user(principal)
    }

    /// The request's one DPoP proof: for this method and URL and this token, of the key the
    /// token is bound to, and never seen before by any instance.
    private func checkProof(
        _ request: Request,
        token: AccessToken,
        boundTo thumbprint: String,
        origin: PublicOrigin,
        nonceRequired: Bool,
        logger: Logger,
        refused: (APIError.Code, String) -> APIError
    ) async throws {
        let sent = request.headers[values: .dpop]
        guard sent.count == 1 else { throw refused(.invalidDPoPProof, "Send exactly one DPoP proof") }
        let verified: DPoPProof.Verified
        do {
            verified = try await DPoPProof.verify(
                sent[0],
                method: request.method.rawValue,
                url: origin.url(request.uri.path),
                accessToken: token.revealed
            )
        } catch {
            throw refused(.invalidDPoPProof, error.description)
        }
        guard verified.thumbprint == thumbprint else { throw refused(.invalidDPoPProof, "The DPoP proof is not of the key the token is bound to") }
        if nonceRequired, !nonces.accepts(verified.nonce) {
            throw refused(.useDPoPNonce, "Sign the DPoP proof again with the nonce in the DPoP-Nonce header")
        }
        let first: Bool
        do {
            first = try await proofs(verified)
        } catch {
            logger.error("DPoP replay check unavailable", metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
        guard first else { throw refused(.invalidDPoPProof, "The DPoP proof was presented before (jti)") }
    }

    /// The credential of the `Authorization` header: `Bearer`, or `DPoP` where the tenant
    /// accepts it (RFC 9449 §7.1; the scheme in any case, one token68 credential).
    enum Credential {
        case bearer(AccessToken)
        case dpop(AccessToken)

        init?(_ header: String?, dpop: Bool) {
            if let token = Request.bearerToken(in: header) {
                self = .bearer(AccessToken(token))
                return
            }
            guard dpop, let header, header.count > 5, header.prefix(5).lowercased() == "dpop " else { return nil }
            let token = header.dropFirst(5).trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty, !token.contains(" ") else { return nil }
            self = .dpop(AccessToken(token))
        }

        var token: AccessToken {
            switch self {
            case .bearer(let token), .dpop(let token): token
            }
        }

        var isDPoP: Bool {
            if case .dpop = self { return true }
            return false
        }
    }

    /// What a client of a proxied server should ask for: the tools scope, the profile scopes
    /// that put the caller's email and name into the assertion, and every scope a tool rule names.
    static func proxiedScopes(_ settings: MCPEndpointSettings) -> [String] {
        var scopes = [SupportTools.toolsScope, "email", "profile"]
        for scope in settings.ruleScopes where !scopes.contains(scope) { scopes.append(scope) }
        return scopes
    }

    private static let failures = Counter(label: "gatehouse_mcp_auth_failures_total")
}
