import Foundation
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import Hummingbird
import Logging
import Synchronization

/// The scopes a tenant's authorization server knows. `offline_access` asks for a refresh token
/// and belongs to the authorization server only, never to the protected resource's metadata.
package enum GatewayScopes {
    package static let offlineAccess = OAuthScopes.offlineAccess
    package static let resourceScopes = OAuthScopes.resourceScopes
    package static let supported = OAuthScopes.supported
    /// Granted when a client asks for none.
    package static let defaultScopes = OAuthScopes.defaultScopes
}

/// Per tenant: RFC 8414 authorization server metadata, the OpenID discovery document, and RFC
/// 9728 protected resource metadata for the tenant's `/mcp` resource (at the path-inserted and
/// the root well-known URLs). Each tenant is its own issuer: exactly the origin it is served at.
package enum DiscoveryRoutes {
    package static func add(to router: Router<GatehouseRequestContext>, tenants: TenantResolver) {
        let tenantRoutes = router.tenantRoutes(tenants)
        let cache = DocumentCache()
        // RFC 8414 §3.1 path insertion (`/mcp`) for clients that derive it from the resource URL.
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/mcp"] {
            tenantRoutes.get(RouterPath(path)) { request, context in
                let (record, origin) = (context.tenant, context.origin)
                return try cache.response("as", origin, record.tenant) { authorizationServerMetadata(origin, grants: record.tenant.grants) }
            }
        }
        tenantRoutes.get("/.well-known/openid-configuration") { request, context in
            let (record, origin) = (context.tenant, context.origin)
            return try cache.response("oidc", origin, record.tenant) { openIDConfiguration(origin, grants: record.tenant.grants) }
        }
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
            tenantRoutes.get(RouterPath(path)) { request, context in
                let (record, origin) = (context.tenant, context.origin)
                return try cache.response("prm", origin, record.tenant) { protectedResourceMetadata(origin, tenant: record.tenant) }
            }
        }
        // CORS preflight, so that a browser-based client sending MCP-Protocol-Version can read
        // the documents (no credentials: the documents are public).
        for path in [
            "/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/mcp", "/.well-known/openid-configuration",
            "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp",
        ] {
            tenantRoutes.on(RouterPath(path), method: .options) { _, _ in CORS.preflight(methods: "GET, OPTIONS") }
        }
    }

    /// The grants the tenant turned on are announced with what they need (RFC 8414 §2).
    package static func authorizationServerMetadata(_ origin: PublicOrigin, grants: TenantGrants = TenantGrants()) -> [String: AnyJSON] {
        var document: [String: AnyJSON] = [
            "issuer": .string(origin.issuer),
            "authorization_endpoint": .string(origin.url("/oauth/authorize")),
            "token_endpoint": .string(origin.url("/oauth/token")),
            "registration_endpoint": .string(origin.url("/oauth/register")),
            "revocation_endpoint": .string(origin.url("/oauth/revoke")),
            "introspection_endpoint": .string(origin.url("/oauth/introspect")),
            "userinfo_endpoint": .string(origin.url("/oauth/userinfo")),
            "jwks_uri": .string(origin.url("/oauth/jwks")),
            "response_types_supported": .strings(["code"]),
            "response_modes_supported": .strings(["query"]),
            "grant_types_supported": .strings(["authorization_code", "refresh_token"]),
            "token_endpoint_auth_methods_supported": .strings(["none", "client_secret_basic", "client_secret_post"]),
            "revocation_endpoint_auth_methods_supported": .strings(["none", "client_secret_basic", "client_secret_post"]),
            "introspection_endpoint_auth_methods_supported": .strings(["client_secret_basic", "client_secret_post"]),
            "code_challenge_methods_supported": .strings(["S256"]),
            "scopes_supported": .strings(GatewayScopes.supported),
            "authorization_response_iss_parameter_supported": .bool(true),
            "client_id_metadata_document_supported": .bool(true),
        ]
        if grants.clientCredentials {
            document["grant_types_supported"] = .strings(["authorization_code", "refresh_token", "client_credentials"])
            document["token_endpoint_auth_methods_supported"] = .strings([
                "none", "client_secret_basic", "client_secret_post", "private_key_jwt",
            ])
            document["token_endpoint_auth_signing_alg_values_supported"] = .strings(ClientAssertion.algorithms.sorted())
        }
        if grants.dpop { document["dpop_signing_alg_values_supported"] = .strings(DPoPProof.algorithms.sorted()) }
        return document
    }

    package static func openIDConfiguration(_ origin: PublicOrigin, grants: TenantGrants = TenantGrants()) -> [String: AnyJSON] {
        var document = authorizationServerMetadata(origin, grants: grants)
        document["subject_types_supported"] = .strings(["public"])
        document["id_token_signing_alg_values_supported"] = .strings(["ES256"])
        document["claims_supported"] = .strings(["sub", "email", "email_verified", "name", "iss", "aud", "exp", "iat"])
        return document
    }

    package static func protectedResourceMetadata(_ origin: PublicOrigin, tenant: Tenant) -> [String: AnyJSON] {
        var document: [String: AnyJSON] = [
            "resource": .string(origin.mcpResource),
            "authorization_servers": .strings([origin.issuer]),
            "scopes_supported": .strings(GatewayScopes.resourceScopes),
            "bearer_methods_supported": .strings(["header"]),
            "resource_name": .string(tenant.displayName),
        ]
        // RFC 9728 §2: the resource accepts DPoP-bound tokens (and Bearer ones: not required).
        if tenant.grants.dpop {
            document["dpop_signing_alg_values_supported"] = .strings(DPoPProof.algorithms.sorted())
            document["dpop_bound_access_tokens_required"] = .bool(false)
        }
        return document
    }

    static func metadataResponse(_ body: ByteBuffer) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "public, max-age=300", .accessControlAllowOrigin: "*"],
            body: .init(byteBuffer: body)
        )
    }

    /// Encoded documents by kind, origin and tenant version: a tenant change (new version) or
    /// another origin gets a fresh document; the cache is dropped whole when it grows large.
    final class DocumentCache: Sendable {
        private let documents = Mutex<[String: ByteBuffer]>([:])

        func response(_ kind: String, _ origin: PublicOrigin, _ tenant: Tenant, _ build: () -> [String: AnyJSON]) throws -> Response {
            let key = "\(kind) \(origin) \(tenant.id) \(tenant.version)"
            if let cached = documents.withLock({ $0[key] }) { return metadataResponse(cached) }
            let body = ByteBuffer(bytes: try JSONBody.encoder().encode(build()))
            documents.withLock { documents in
                if documents.count > 4096 { documents.removeAll() }
                documents[key] = body
            }
            return metadataResponse(body)
        }
    }
}

/// A JSON value for documents assembled field by field.
package enum AnyJSON: Encodable, Sendable, Equatable {
    case string(String)
    case strings([String])
    case bool(Bool)
    case int(Int)

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .strings(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        }
    }
}
