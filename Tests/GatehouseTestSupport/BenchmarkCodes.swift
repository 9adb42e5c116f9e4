import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseOAuth
import GatehouseRuntime
import NIOCore
import NIOHTTP1

/// Authorization codes for the benchmarks, sealed exactly as the gateway seals them (tenant
/// `acme`, a public native client, PKCE), and their redemption at a token service.
public enum BenchmarkCodes {
    public static let redirect = "http://127.0.0.1:5555/cb"
    public static let verifier = String(repeating: "bench-verifier-", count: 4)

    public static func seal(subject: String, clientId: String, scopes: [String], keyRing: KeyRing, issuedAt: Date = Date()) throws -> String {
        let binding = CodeBinding(
            tenant: "acme",
            clientId: clientId,
            client: .init(tokenEndpointAuthMethod: "none", secretHash: nil, grantTypes: ["authorization_code", "refresh_token"]),
            redirectUri: redirect,
            codeChallenge: PKCE.challenge(for: verifier),
            resource: "https://acme.example/mcp",
            scopes: scopes,
            userId: UserID.derive(tenant: "acme", issuer: "https://idp.example", subject: subject),
            identity: .init(issuer: "https://idp.example", subject: subject, email: "\(subject)@example.org", emailVerified: true, name: nil),
            issuedAt: issuedAt,
            lifetime: SealedCode.maximumLifetime
        )
        return try SealedCode.seal(binding, keyRing: keyRing)
    }

    /// The form body that redeems `code`.
    public static func redemption(_ code: String, clientId: String) -> String {
        FormBody.encode([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect), ("code_verifier", verifier),
            ("client_id", clientId),
        ])
    }

    /// Redeems `code` at the token service at `base` (for host `acme.example`): its access and
    /// refresh tokens, bound to `dpop`'s key when it is given (the tenant must accept DPoP).
    public static func redeem(
        _ http: HTTPClient,
        base: String,
        code: String,
        clientId: String,
        dpop: DPoPKey? = nil
    ) async throws -> (access: String, refresh: String) {
        var request = HTTPClientRequest(url: "\(base)/oauth/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "X-Forwarded-Host", value: "acme.example")
        if let dpop { request.headers.add(name: "DPoP", value: dpop.proof("POST", "https://acme.example/oauth/token")) }
        request.body = .bytes(ByteBuffer(string: redemption(code, clientId: clientId)))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 16)
        guard let json = try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any],
            let access = json["access_token"] as? String, let refresh = json["refresh_token"] as? String
        else {
            throw TestSupportError("redemption failed: \(String(buffer: body))")
        }
        return (access, refresh)
    }
}

extension BenchmarkCodes {
    /// `tenant.updated` of a benchmark tenant (by default `acme` at `acme.example`, the one the
    /// codes are sealed for), at `version`.
    public static func tenantUpdate(
        _ id: String = "acme",
        host: String = "acme.example",
        displayName: String = "Acme",
        version: Int64 = 1,
        mcp: MCPEndpointSettings? = nil,
        grants: TenantGrants? = nil
    ) -> EventEnvelope<TenantUpdated> {
        EventEnvelope(
            tenant: id,
            aggregateKey: id,
            aggregateVersion: version,
            payload: TenantUpdated(
                tenantId: id,
                displayName: displayName,
                hosts: [host],
                authMode: "oauth",
                disabled: false,
                accessTokenSeconds: 3600,
                refreshTokenSeconds: 86_400,
                mcp: mcp,
                grants: grants
            )
        )
    }

    /// The id and host of the `index`th idle tenant (from 1) that the many-tenant benchmarks add.
    public static func idleTenant(_ index: Int) -> (id: String, host: String) {
        let id = String(format: "idle-%05d", index)
        return (id, "\(id).tenants.test")
    }

    /// `client.registered` of the public native client the codes are sealed for.
    public static func clientRegistration(_ clientId: String) -> EventEnvelope<ClientRegistered> {
        EventEnvelope(
            tenant: "acme",
            aggregateKey: clientId,
            aggregateVersion: 1,
            payload: ClientRegistered(
                clientId: clientId,
                clientName: "bench",
                applicationType: "native",
                redirectUris: [redirect],
                grantTypes: ["authorization_code", "refresh_token"],
                responseTypes: ["code"],
                tokenEndpointAuthMethod: "none",
                scope: nil,
                clientSecretHash: nil,
                metadataDocumentUrl: nil
            )
        )
    }
}
