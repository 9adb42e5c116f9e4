import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import Hummingbird
import Logging

/// `/oauth/callback`: the upstream sends the browser back here. The state must be ours, unused,
/// unexpired, of this tenant and of this browser's session; then the upstream code is exchanged, the identity read, and in
/// one transaction the sealed upstream tokens and the events are written; the client gets a
/// sealed code with its `state` and our `iss`. Nothing is written when any step fails.
package enum CallbackRoutes {
    package static func add(
        to router: Router<GatehouseRequestContext>,
        tenants: TenantResolver,
        store: AuthorizationStore,
        tenantStore: TenantStore,
        upstream: UpstreamClient,
        oidc: OIDCDirectory,
        keyRing: KeyRing,
        documents: ClientMetadataDocuments
    ) {
        let tenantRoutes = router.tenantRoutes(tenants)
        tenantRoutes.get("/oauth/callback") { request, context in
            try await callback(
                request,
                context,
                store: store,
                tenantStore: tenantStore,
                upstream: upstream,
                oidc: oidc,
                keyRing: keyRing,
                documents: documents
            )
        }
    }

    static func callback(
        _ request: Request,
        _ context: GatewayRequestContext,
        store: AuthorizationStore,
        tenantStore: TenantStore,
        upstream client: UpstreamClient,
        oidc: OIDCDirectory,
        keyRing: KeyRing,
        documents: ClientMetadataDocuments
    ) async throws -> Response {
        let (record, origin) = (context.tenant, context.origin)
        let parameters = FormBody.parse(request.uri.query ?? "")
        // The sign-in must end in the browser that began it (its session cookie, set before the
        // consent page or the upstream redirect): a state carried to another browser yields nothing.
        guard let session = request.cookies[AuthorizeRoutes.sessionCookie]?.value else {
            context.logger.warning("Callback without the browser session that started it", metadata: ["tenant": "\(record.tenant.id)"])
            return ConsentPage.response(
                ConsentPage.error(.invalidRequest, "This sign-in must be finished in the browser that started it"),
                status: .badRequest
            )
        }
        guard let state = parameters["state"], !state.isEmpty,
            let (pending, sealedVerifier, nonce, clientCredentials) = try await infrastructure(
                context,
                {
                    try await store.claimCallback(stateHash: SecretHash.of(state), sessionHash: SecretHash.of(session), tenant: record.tenant.id)
                }
            )
        else {
            context.logger.warning(
                "Callback with an unknown, used or expired state, or from another browser",
                metadata: ["tenant": "\(record.tenant.id)"]
            )
            return ConsentPage.response(
                ConsentPage.error(.invalidRequest, "This sign-in is no longer valid; start again from the application"),
                status: .badRequest
            )
        }
        func back(_ error: APIError.Code, _ description: String) async throws -> Response {
            try? await store.markFailed(pending.id)
            return AuthorizeRoutes.redirect(
                AuthorizationRequestRules.errorRedirect(
                    pending.request.redirectUri,
                    error: error,
                    description: description,
                    state: pending.request.state,
                    issuer: origin.issuer
                )
            )
        }
        guard let upstream = record.tenant.upstream else { return try await back(.temporarilyUnavailable, "No sign-in provider is configured") }
        if let error = parameters["error"] {
            context.logger.info("Upstream refused the login", metadata: ["tenant": "\(record.tenant.id)", "upstream_error": "\(error)"])
            return try await back(.accessDenied, "The sign-in provider did not sign the user in")
        }
        guard let code = parameters["code"], !code.isEmpty else {
            return try await back(.accessDenied, "The sign-in provider returned no code")
        }

        let identity: UpstreamIdentity
        let tokens: UpstreamTokens
        do {
            var effective = upstream
            var metadata: OIDCMetadata?
            if upstream.kind == .oidc, let issuer = upstream.issuer {
                let discovered = try await oidc.metadata(issuer: issuer)
                metadata = discovered
                effective.tokenEndpoint = upstream.tokenEndpoint ?? discovered.tokenEndpoint
                // RFC 9207: an upstream that says it sends `iss` must send its own.
                if discovered.issParameterSupported || parameters["iss"] != nil, parameters["iss"] != discovered.issuer {
                    throw UpstreamFailure.refused("the authorization response names another issuer")
                }
            } else if let iss = parameters["iss"], let expected = upstream.issuer, iss != expected {
                throw UpstreamFailure.refused("the authorization response names another issuer")
            }
            let verifier = String(
                decoding: try keyRing.open(sealedVerifier, associatedData: "gatehouse/upstream-verifier/\(pending.id)"),
                as: UTF8.self
            )
            let secret = try tenantStore.clientSecret(of: record)
            tokens = try await client.exchange(
                code: code,
                verifier: verifier,
                redirectUri: origin.url("/oauth/callback"),
                upstream: effective,
                clientSecret: secret
            )
            if let metadata {
                guard let nonce else { throw UpstreamFailure.refused("no nonce was sent") }
                identity = try await client.oidcIdentity(tokens: tokens, upstream: upstream, metadata: metadata, directory: oidc, nonce: nonce)
            } else {
                identity = try await client.identity(tokens: tokens, upstream: upstream, issuer: Self.issuer(of: upstream))
            }
        } catch UpstreamFailure.refused(let reason) {
            context.logger.warning("Upstream refused", metadata: ["tenant": "\(record.tenant.id)", "reason": "\(reason)"])
            return try await back(.accessDenied, "The sign-in provider refused the login")
        } catch let failure as IDTokenVerifier.Failure {
            context.logger.warning("ID token refused", metadata: ["tenant": "\(record.tenant.id)", "reason": "\(failure)"])
            return try await back(.accessDenied, "The sign-in provider's answer could not be verified")
        } catch {
            context.logger.error("Upstream unavailable", metadata: ["tenant": "\(record.tenant.id)", "error": "\(error)"])
            return try await back(.temporarilyUnavailable, "The sign-in provider is not reachable; try again shortly")
        }

        // A metadata-document client has no row: it is public, with the grant types its document names.
        var credentials = clientCredentials
        if credentials == nil {
            guard let document = try? await documents.client(for: pending.request.clientId) else {
                return try await back(.temporarilyUnavailable, "The application's metadata document is not available; try again shortly")
            }
            credentials = CodeBinding.Client(tokenEndpointAuthMethod: "none", secretHash: nil, grantTypes: document.grantTypes)
        }
        let userId = UserID.derive(tenant: record.tenant.id, issuer: identity.issuer, subject: identity.subject)
        let binding = CodeBinding(
            tenant: record.tenant.id,
            clientId: pending.request.clientId,
            client: credentials!,
            redirectUri: pending.request.redirectUri,
            codeChallenge: pending.request.codeChallenge,
            resource: pending.request.resource,
            scopes: pending.request.scopes,
            userId: userId,
            identity: .init(
                issuer: identity.issuer,
                subject: identity.subject,
                email: identity.email,
                emailVerified: identity.emailVerified,
                name: identity.name
            ),
            issuedAt: Date(),
            lifetime: SealedCode.maximumLifetime
        )
        let sealedCode = AuthorizationCode(try SealedCode.seal(binding, keyRing: keyRing))
        do {
            try await store.complete(
                pending,
                identity: identity,
                tokens: tokens,
                keyRing: keyRing,
                code: sealedCode,
                binding: binding,
                emailLinking: EmailLinkingPolicy(rawValue: record.tenant.emailLinking)
            )
        } catch {
            context.logger.error("Storing the login failed", metadata: ["error": "\(error)"])
            return try await back(.temporarilyUnavailable, "The sign-in could not be completed; try again shortly")
        }
        context.logger.notice(
            "Code issued",
            metadata: [
                "tenant": "\(record.tenant.id)", "client_id": "\(pending.request.clientId)",
                "user_id": "\(userId)",
            ]
        )
        return AuthorizeRoutes.redirect(
            AuthorizationRequestRules.appending(
                to: pending.request.redirectUri,
                [("code", sealedCode.revealed), ("state", pending.request.state), ("iss", origin.issuer)]
            )
        )
    }

    /// The issuer an identity is scoped by: the OIDC issuer, or the origin of an OAuth 2.0
    /// upstream's authorization endpoint (`https://github.com`).
    static func issuer(of upstream: UpstreamConfiguration) -> String {
        if let issuer = upstream.issuer { return issuer }
        guard let endpoint = upstream.authorizationEndpoint, let components = URLComponents(string: endpoint),
            let scheme = components.scheme, let host = components.host
        else { return "unknown" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")"
    }
}
