import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// `/oauth/authorize` (and `/authorize`) and the consent form's `/oauth/consent`.
///
/// The client and redirect URI are checked first; if either is bad the error is shown on our
/// page and nothing is redirected. Then the rest of the request; errors from here on go back to
/// the client with `state` and `iss`. Before the first redirect upstream for a browser session,
/// client, redirect URI and scopes, the user approves on our consent page (MCP security best
/// practices: no confused deputy). The form carries a CSRF token bound to the authorization
/// request and the browser session cookie.
package enum AuthorizeRoutes {
    package static let sessionCookie = "__Host-gatehouse-session"

    package static func add(
        to router: Router<GatehouseRequestContext>,
        tenants: TenantResolver,
        store: AuthorizationStore,
        oidc: OIDCDirectory,
        keyRing: KeyRing,
        documents: ClientMetadataDocuments
    ) {
        let tenantRoutes = router.tenantRoutes(tenants)
        for path in ["/oauth/authorize", "/authorize"] {
            tenantRoutes.get(RouterPath(path)) { request, context in
                try await authorize(request, context, store: store, oidc: oidc, keyRing: keyRing, documents: documents)
            }
        }
        tenantRoutes.post("/oauth/consent") { request, context in
            try await consent(request, context, store: store, oidc: oidc, keyRing: keyRing)
        }
        router.methodNotAllowed("/oauth/consent", allowing: [.post])
    }

    static func authorize(
        _ request: Request,
        _ context: GatewayRequestContext,
        store: AuthorizationStore,
        oidc: OIDCDirectory,
        keyRing: KeyRing,
        documents: ClientMetadataDocuments
    ) async throws -> Response {
        let (record, origin) = (context.tenant, context.origin)
        guard record.tenant.authMode == .oauth else {
            return ConsentPage.response(ConsentPage.error(.invalidRequest, "This server's tools need no sign-in"), status: .badRequest)
        }
        // OAuth 2.1 §3.1: a parameter sent without a value is treated as omitted.
        let parameters = FormBody.pairs(request.uri.query ?? "").filter { !$0.1.isEmpty }
        let clientIds = parameters.filter { $0.0 == "client_id" }.map(\.1)
        do {
            var known = try await infrastructure(context) {
                clientIds.count == 1 ? try await store.client(clientIds[0], tenant: record.tenant.id) : nil
            }
            if known == nil, clientIds.count == 1, ClientMetadataDocuments.isDocumentURL(clientIds[0]) {
                do {
                    known = try await documents.client(for: clientIds[0])
                } catch let failure as ClientMetadataDocuments.Failure where failure.isTransient {
                    // The application's own server failed: say so, rather than that it is unknown.
                    context.logger.warning(
                        "Client metadata document unavailable",
                        metadata: ["tenant": "\(record.tenant.id)", "reason": "\(failure)"]
                    )
                    return ConsentPage.response(
                        ConsentPage.error(
                            .temporarilyUnavailable,
                            "This application's description could not be "
                                + "fetched from its site (\(failure)); try again shortly"
                        ),
                        status: .serviceUnavailable
                    )
                } catch {
                    context.logger.warning("Client metadata document refused", metadata: ["tenant": "\(record.tenant.id)", "reason": "\(error)"])
                    return ConsentPage.response(
                        ConsentPage.error(.invalidClient, "This application cannot sign in here: \(error)"),
                        status: .badRequest
                    )
                }
            }
            let (client, redirectUri) = try AuthorizationRequestRules.checkClient(parameters) { id in known?.clientId == id ? known : nil }
            let checked = try AuthorizationRequestRules.check(
                parameters,
                client: client,
                redirectUri: redirectUri,
                resource: origin.mcpResource,
                supportedScopes: GatewayScopes.supported,
                defaultScopes: GatewayScopes.defaultScopes
            )

            let (session, newCookie) = browserSession(request, secure: origin.scheme == "https")
            let sessionHash = SecretHash.of(session)
            let csrf = SecretGenerator.generate(prefix: "", bytes: 24)
            let pending = try await infrastructure(context) {
                try await store.create(checked, tenant: record.tenant.id, sessionHash: sessionHash, csrfHash: SecretHash.of(csrf))
            }
            if try await infrastructure(context, { try await store.hasConsent(tenant: record.tenant.id, sessionHash: sessionHash, request: checked) })
            {
                var response = try await sendUpstream(
                    pending,
                    record: record,
                    origin: origin,
                    store: store,
                    oidc: oidc,
                    keyRing: keyRing,
                    context: context
                )
                if let newCookie { response.headers[.setCookie] = newCookie }
                return response
            }
            context.logger.info("Consent asked", metadata: ["tenant": "\(record.tenant.id)", "client_id": "\(client.clientId)"])
            // The answer redirects upstream (approve) or back to the client (deny).
            let upstreamEndpoint = await upstreamAuthorizationEndpoint(record, oidc: oidc)
            return ConsentPage.response(
                ConsentPage.consent(
                    tenantName: record.tenant.displayName,
                    clientName: client.name,
                    clientId: client.clientId,
                    redirectUri: checked.redirectUri,
                    scopes: checked.scopes,
                    requestId: pending.id,
                    csrf: csrf
                ),
                cookie: newCookie,
                formTargets: [upstreamEndpoint, checked.redirectUri].compactMap { $0 }
            )
        } catch let failure as AuthorizationFailure {
            // RFC 9700 §4.11.2: an error goes back to the client without anything of ours in
            // between only when this browser has approved that client before; otherwise it is
            // shown here, so that nobody can use us to bounce a browser to any registered URI.
            if case .redirect(_, let error, let description, _) = failure {
                let session = request.cookies[sessionCookie]?.value
                let approved = try await infrastructure(context) {
                    guard let session, let clientId = clientIds.first else { return false }
                    return try await store.hasApprovedClient(tenant: record.tenant.id, sessionHash: SecretHash.of(session), clientId: clientId)
                }
                if !approved { return ConsentPage.response(ConsentPage.error(error, description), status: .badRequest) }
            }
            return respond(failure, issuer: origin.issuer)
        }
    }

    static func consent(
        _ request: Request,
        _ context: GatewayRequestContext,
        store: AuthorizationStore,
        oidc: OIDCDirectory,
        keyRing: KeyRing
    ) async throws -> Response {
        let (record, origin) = (context.tenant, context.origin)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true,
            let body = try? await request.body.collect(upTo: 8 * 1024)
        else {
            return ConsentPage.response(ConsentPage.error(.invalidRequest, "The consent form was not submitted correctly"), status: .badRequest)
        }
        let form = FormBody.parse(String(buffer: body))
        guard let requestId = form["request"], let csrf = form["csrf"], let decision = form["decision"], ["approve", "deny"].contains(decision),
            let pending = try await infrastructure(context, { try await store.pending(requestId, tenant: record.tenant.id) }),
            pending.status == "pending", pending.expiresAt > Date(),
            let session = request.cookies[sessionCookie]?.value, SecretHash.matches(session, hash: pending.sessionHash),
            SecretHash.matches(csrf, hash: pending.csrfHash)
        else {
            context.logger.warning("Consent refused: unknown, used, expired or forged form", metadata: ["tenant": "\(record.tenant.id)"])
            return ConsentPage.response(
                ConsentPage.error(.invalidRequest, "This consent form is no longer valid; start again from the application"),
                status: .forbidden
            )
        }
        if decision == "deny" {
            guard try await infrastructure(context, { try await store.finish(pending.id, status: "denied") }) else {
                return ConsentPage.response(ConsentPage.error(.invalidRequest, "This consent form was already used"), status: .forbidden)
            }
            context.logger.info("Consent denied", metadata: ["tenant": "\(record.tenant.id)", "client_id": "\(pending.request.clientId)"])
            return redirect(
                AuthorizationRequestRules.errorRedirect(
                    pending.request.redirectUri,
                    error: .accessDenied,
                    description: "The user denied the request",
                    state: pending.request.state,
                    issuer: origin.issuer
                )
            )
        }
        try await infrastructure(context) {
            try await store.recordConsent(tenant: record.tenant.id, sessionHash: pending.sessionHash, request: pending.request)
        }
        context.logger.info("Consent given", metadata: ["tenant": "\(record.tenant.id)", "client_id": "\(pending.request.clientId)"])
        return try await sendUpstream(pending, record: record, origin: origin, store: store, oidc: oidc, keyRing: keyRing, context: context)
    }

    /// The upstream's authorization endpoint: configured, or from the OIDC discovery document;
    /// nil when neither is known (discovery failing is the caller's outage).
    static func upstreamAuthorizationEndpoint(_ record: TenantRecord, oidc: OIDCDirectory) async -> String? {
        guard let upstream = record.tenant.upstream else { return nil }
        if let endpoint = upstream.authorizationEndpoint { return endpoint }
        guard upstream.kind == .oidc, let issuer = upstream.issuer else { return nil }
        return try? await oidc.metadata(issuer: issuer).authorizationEndpoint
    }

    /// Our own leg: fresh state, PKCE verifier and nonce, bound to this request; the browser goes
    /// upstream with 303.
    static func sendUpstream(
        _ pending: PendingAuthorization,
        record: TenantRecord,
        origin: PublicOrigin,
        store: AuthorizationStore,
        oidc: OIDCDirectory,
        keyRing: KeyRing,
        context: GatewayRequestContext
    ) async throws -> Response {
        guard let upstream = record.tenant.upstream, let endpoint = await upstreamAuthorizationEndpoint(record, oidc: oidc) else {
            context.logger.error("Upstream authorization endpoint unknown or discovery failed", metadata: ["tenant": "\(record.tenant.id)"])
            return redirect(
                AuthorizationRequestRules.errorRedirect(
                    pending.request.redirectUri,
                    error: .temporarilyUnavailable,
                    description: "The sign-in provider is not reachable",
                    state: pending.request.state,
                    issuer: origin.issuer
                )
            )
        }
        let state = SecretGenerator.generate(prefix: "", bytes: 32)
        let verifier = PKCE.makeVerifier()
        let nonce = upstream.kind == .oidc ? SecretGenerator.generate(prefix: "", bytes: 24) : nil
        let sealedVerifier = try keyRing.seal(Array(verifier.utf8), associatedData: "gatehouse/upstream-verifier/\(pending.id)")
        guard
            try await infrastructure(
                context,
                {
                    try await store.finish(
                        pending.id,
                        status: "upstream",
                        upstreamStateHash: SecretHash.of(state),
                        sealedVerifier: sealedVerifier,
                        nonce: nonce
                    )
                }
            )
        else {
            return ConsentPage.response(ConsentPage.error(.invalidRequest, "This consent form was already used"), status: .forbidden)
        }
        var parameters: [(String, String?)] = [
            ("response_type", "code"), ("client_id", upstream.clientId), ("redirect_uri", origin.url("/oauth/callback")),
            ("scope", upstream.scopes.joined(separator: " ")), ("state", state), ("code_challenge", PKCE.challenge(for: verifier)),
            ("code_challenge_method", "S256"), ("nonce", nonce),
        ]
        for (name, value) in upstream.extraAuthorizeParameters.sorted(by: { $0.key < $1.key }) { parameters.append((name, value)) }
        return redirect(AuthorizationRequestRules.appending(to: endpoint, parameters))
    }

    static func respond(_ failure: AuthorizationFailure, issuer: String) -> Response {
        switch failure {
        case .page(let error, let description):
            return ConsentPage.response(ConsentPage.error(error, description), status: .badRequest)
        case .redirect(let uri, let error, let description, let state):
            return redirect(AuthorizationRequestRules.errorRedirect(uri, error: error, description: description, state: state, issuer: issuer))
        }
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store", HTTPField.Name("Referrer-Policy")!: "no-referrer"])
    }

    /// The browser session id from its cookie, or a new one with the cookie that sets it.
    static func browserSession(_ request: Request, secure: Bool) -> (String, String?) {
        if let value = request.cookies[sessionCookie]?.value, value.utf8.count == 43, Base64URL.decode(value)?.count == 32 {
            return (value, nil)
        }
        let session = SecretGenerator.generate(prefix: "", bytes: 32)
        // __Host-: Secure, Path=/, no Domain (browsers treat http://localhost as secure too).
        return (session, "\(sessionCookie)=\(session); Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=2592000")
    }
}
