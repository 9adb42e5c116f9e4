import Foundation
import GatehouseEvents
import GatehousePostgres
import GatehouseRuntime
import Hummingbird
import Logging
import PostgresNIO

/// The admin API's tenants (docs/openapi/admin.json), behind the operator token:
/// `POST /admin/tenants`, `GET /admin/tenants`, `GET|PATCH /admin/tenants/{id}`,
/// `GET|POST /admin/tenants/{id}/clients`. A tenant is disabled with `PATCH {"disabled": true}`,
/// never deleted: its clients and users keep their history.
package enum TenantAdminRoutes {
    package static func add(
        to router: Router<GatehouseRequestContext>,
        store: TenantStore,
        clients: ClientStore,
        directory: TenantDirectory,
        operatorToken: OperatorToken?
    ) {
        let tenants = router.group("admin/tenants").add(middleware: OperatorAuthMiddleware<GatehouseRequestContext>(token: operatorToken))
        tenants.post { request, context -> Response in
            let input = try await decode(request, context)
            let tenant = try await mapped(context) { try await store.create(input) }
            await directory.invalidate()
            context.logger.notice("Tenant created", metadata: ["tenant": "\(tenant.id)"])
            var response = try JSONBody.response(tenant, status: .created)
            response.headers[.location] = "/admin/tenants/\(tenant.id)"
            return response
        }
        tenants.get { _, context -> Response in
            try JSONBody.response(["tenants": try await mapped(context) { try await store.list() }])
        }
        tenants.get(":id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let tenant = try await mapped(context, { try await store.get(id) }) else { throw APIError.notFound("No such tenant") }
            return try JSONBody.response(tenant)
        }
        tenants.patch(":id") { request, context -> Response in
            let id = try context.parameters.require("id")
            let input = try await decode(request, context)
            guard let tenant = try await mapped(context, { try await store.update(id, with: input) }) else {
                throw APIError.notFound("No such tenant")
            }
            await directory.invalidate()
            context.logger.notice("Tenant updated", metadata: ["tenant": "\(id)", "disabled": "\(tenant.disabled)"])
            return try JSONBody.response(tenant)
        }
        tenants.post(":id/clients") { request, context -> Response in
            try await registerClient(request, context, store: store, clients: clients)
        }
        tenants.get(":id/clients") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await mapped(context, { try await store.get(id) }) != nil else { throw APIError.notFound("No such tenant") }
            return try JSONBody.response(["clients": try await mapped(context) { try await clients.list(tenant: id) }])
        }
    }

    /// `POST /admin/tenants/{id}/clients`: a client credentials client of the tenant, answered
    /// as RFC 7591 §3.2.1 answers a registration (the secret, when there is one, this once).
    static func registerClient(
        _ request: Request,
        _ context: GatehouseRequestContext,
        store: TenantStore,
        clients: ClientStore
    ) async throws
        -> Response
    {
        let id = try context.parameters.require("id")
        guard try await mapped(context, { try await store.get(id) }) != nil else { throw APIError.notFound("No such tenant") }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw APIError(.unsupportedMediaType, code: .invalidRequest, "The body must be application/json")
        }
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let data = Data(body.readableBytesView)
        if let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let unknown = document.keys.filter { !["client_name", "token_endpoint_auth_method", "scope", "jwks"].contains($0) }.sorted()
            guard unknown.isEmpty else {
                throw APIError.invalidRequest("Unknown field\(unknown.count == 1 ? "" : "s"): \(unknown.joined(separator: ", "))")
            }
        }
        let input: OperatorClientRequest
        do {
            input = try JSONBody.decoder().decode(OperatorClientRequest.self, from: data)
        } catch let error as DecodingError {
            guard let field = field(of: error) else { throw APIError.invalidRequest("The body is not a valid client document") }
            throw APIError(.badRequest, code: .invalidClientMetadata, "\(field): has the wrong type or an unknown value")
        }
        let (metadata, keys): (ClientMetadata, ClientKeySet?)
        do {
            (metadata, keys) = try await OperatorClientRules.validate(input)
        } catch {
            throw APIError(.badRequest, code: .invalidClientMetadata, error.description)
        }
        let registered = try await mapped(context) {
            try await clients.register(metadata, tenant: id, from: nil, unusedLifetime: nil, keys: keys, registeredBy: .operator)
        }
        context.logger.notice(
            "Client registered by the operator",
            metadata: ["tenant": "\(id)", "client_id": "\(registered.clientId)", "method": "\(metadata.tokenEndpointAuthMethod)"]
        )
        var document: [String: AnyJSON] = [
            "client_id": .string(registered.clientId),
            "client_id_issued_at": .int(Int(registered.issuedAt.timeIntervalSince1970)),
            "client_name": .string(metadata.clientName ?? ""),
            "grant_types": .strings(metadata.grantTypes),
            "token_endpoint_auth_method": .string(metadata.tokenEndpointAuthMethod),
            "scope": .string(metadata.scope ?? ""),
        ]
        if let secret = registered.secret {
            document["client_secret"] = .string(secret)
            document["client_secret_expires_at"] = .int(0)
        }
        var response = try JSONBody.response(document, status: .created)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    static func decode(_ request: Request, _ context: GatehouseRequestContext) async throws -> TenantInput {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw APIError(.unsupportedMediaType, code: .invalidRequest, "The body must be application/json")
        }
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let data = Data(body.readableBytesView)
        if let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let unknown = TenantInput.unknownFields(in: document)
            guard unknown.isEmpty else {
                throw APIError.invalidRequest("Unknown field\(unknown.count == 1 ? "" : "s"): \(unknown.joined(separator: ", "))")
            }
        }
        do {
            return try JSONBody.decoder().decode(TenantInput.self, from: data)
        } catch let error as DecodingError {
            guard let field = field(of: error) else { throw APIError.invalidRequest("The body is not a valid tenant document") }
            throw APIError(.badRequest, code: .invalidTenant, "\(field): has the wrong type or an unknown value")
        } catch {
            throw APIError.invalidRequest("The body is not a valid tenant document")
        }
    }

    /// The dotted snake_case path of the field a decoding error is about (`mcp.mode`,
    /// `mcp.tool_scopes[0].scopes`), or nil when it is about the document as a whole.
    static func field(of error: DecodingError) -> String? {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        @unknown default: return nil
        }
        guard !path.isEmpty else { return nil }
        var field = ""
        for key in path {
            if let index = key.intValue {
                field += "[\(index)]"
            } else {
                let name = key.stringValue.reduce(into: "") { text, character in
                    if character.isUppercase { text += "_" + character.lowercased() } else { text.append(character) }
                }
                field += field.isEmpty ? name : "." + name
            }
        }
        return field
    }

    /// Runs a store call, turning rule violations into 400, conflicts into 409, and
    /// infrastructure failures into 503.
    static func mapped<T: Sendable>(_ context: GatehouseRequestContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            // Errors thrown inside a transaction arrive wrapped in the transaction's error.
            switch PostgresFailure.underlying(error) {
            case let error as TenantValidationError:
                throw APIError(.badRequest, code: .invalidTenant, error.description)
            case is TenantStore.HostTaken:
                throw APIError(.conflict, code: .conflict, "A host name belongs to another tenant")
            case let error as APIError:
                throw error
            case let error as PSQLError where error.serverInfo?[.sqlState] == "23505":
                throw APIError(.conflict, code: .conflict, "A tenant with this id exists")
            default:
                context.logger.error("Admin request failed", metadata: ["error": "\(PostgresFailure.describe(error))"])
                throw APIError.temporarilyUnavailable
            }
        }
    }
}
