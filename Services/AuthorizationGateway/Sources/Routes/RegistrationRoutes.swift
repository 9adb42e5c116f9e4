import Foundation
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging

/// RFC 7591 dynamic client registration at `/oauth/register` (and the root alias `/register`
/// for clients of the 2025-03-26 MCP revision), rate-limited per client address.
package enum RegistrationRoutes {
    package static let maximumBodySize = 16 * 1024

    package static func add(
        to router: Router<GatehouseRequestContext>,
        tenants: TenantResolver,
        store: ClientStore,
        policy: RegistrationPolicy,
        limiter: RateLimiter
    ) {
        let tenantRoutes = router.tenantRoutes(tenants)
        for path in ["/oauth/register", "/register"] {
            tenantRoutes.post(RouterPath(path)) { request, context in
                try await register(request, context, store: store, policy: policy, limiter: limiter)
            }
            tenantRoutes.on(RouterPath(path), method: .options) { _, _ in CORS.preflight(methods: "POST, OPTIONS") }
            router.methodNotAllowed(path, allowing: [.post])
        }
    }

    static func register(
        _ request: Request,
        _ context: GatewayRequestContext,
        store: ClientStore,
        policy: RegistrationPolicy,
        limiter: RateLimiter
    ) async throws -> Response {
        let record = context.tenant
        let address = context.clientAddress(of: request) ?? "unknown"
        if let wait = limiter.acquire(address) {
            throw APIError.tooManyRequests("Too many registrations from this address; retry later", retryAfter: wait)
        }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw RegistrationError.metadata("the request body must be application/json").apiError
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBodySize)
        } catch {
            throw RegistrationError.metadata("the request body is larger than \(maximumBodySize) bytes").apiError
        }
        let decoder = JSONBody.decoder()
        let metadataRequest: ClientMetadataRequest
        do {
            metadataRequest = try decoder.decode(ClientMetadataRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw RegistrationError.metadata("the body is not a JSON object of client metadata with the right types").apiError
        }
        let metadata: ClientMetadata
        do {
            metadata = try ClientRegistrationRules.validate(metadataRequest, supportedScopes: GatewayScopes.supported)
        } catch let error as RegistrationError {
            context.logger.info("Registration refused", metadata: ["tenant": "\(record.tenant.id)", "error": "\(error.code.rawValue)"])
            throw error.apiError
        }
        let registered: (clientId: String, secret: String?, issuedAt: Date)
        do {
            registered = try await store.register(
                metadata,
                tenant: record.tenant.id,
                from: address,
                unusedLifetime: .seconds(policy.unusedClientLifetimeDays * 86_400)
            )
        } catch {
            context.logger.error("Registration failed", metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
        context.logger.notice(
            "Client registered",
            metadata: [
                "tenant": "\(record.tenant.id)", "client_id": "\(registered.clientId)", "auth_method": "\(metadata.tokenEndpointAuthMethod)",
            ]
        )
        var response = try JSONBody.response(
            RegistrationResponse(
                metadata: metadata,
                clientId: registered.clientId,
                clientSecret: registered.secret,
                issuedAt: registered.issuedAt
            ),
            status: .created
        )
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("Pragma")!] = "no-cache"
        response.headers[.accessControlAllowOrigin] = "*"
        return response
    }
}

/// RFC 7591 §3.2.1: the registered metadata plus the client's credentials.
struct RegistrationResponse: Encodable {
    var metadata: ClientMetadata
    var clientId: String
    var clientSecret: String?
    var issuedAt: Date

    private enum CodingKeys: String, CodingKey { case clientId, clientIdIssuedAt, clientSecret, clientSecretExpiresAt }

    func encode(to encoder: any Encoder) throws {
        try metadata.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(clientId, forKey: .clientId)
        try container.encode(Int(issuedAt.timeIntervalSince1970), forKey: .clientIdIssuedAt)
        if let clientSecret {
            try container.encode(clientSecret, forKey: .clientSecret)
            try container.encode(0, forKey: .clientSecretExpiresAt)
        }
    }
}

extension RegistrationError {
    var apiError: APIError { APIError(.badRequest, code: code, detail) }
}

/// CORS for the endpoints browser-based MCP clients call directly (no credentials).
enum CORS {
    static func preflight(methods: String) -> Response {
        Response(
            status: .noContent,
            headers: [
                .accessControlAllowOrigin: "*", .accessControlAllowMethods: methods,
                .accessControlAllowHeaders: "Content-Type, Authorization, MCP-Protocol-Version", .accessControlMaxAge: "86400",
            ]
        )
    }
}
