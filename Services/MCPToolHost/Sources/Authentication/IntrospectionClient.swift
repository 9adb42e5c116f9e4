import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// What the token service said about a token (RFC 7662).
package struct IntrospectedToken: Sendable, Equatable {
    package var principal: Principal
    /// `aud`: the resource the token was issued for.
    package var audience: String
    package var issuer: String
    package var expiresAt: Date
    /// Our extension: the grant, which `token.revoked` events name.
    package var grantId: GrantID?
}

/// A failure to get an answer (the token service is down, slow or refuses our credentials):
/// never a statement about the token, so it becomes 503, not 401.
package struct IntrospectionUnavailable: Error, CustomStringConvertible {
    package var description: String
}

/// Asks the token service about bearer tokens: `POST /oauth/introspect` with this resource
/// server's credentials (HTTP Basic), for the tenant's host. The token is sent only there.
package struct IntrospectionClient: Sendable {
    package let http: HTTPClient
    let configuration: ToolHostConfiguration.Introspection
    private let authorization: String

    package init(http: HTTPClient, configuration: ToolHostConfiguration.Introspection) {
        self.http = http
        self.configuration = configuration
        // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        let credentials = FormBody.encodeComponent(configuration.clientId) + ":" + FormBody.encodeComponent(configuration.secret)
        authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
    }

    /// nil: the token is not active for this tenant.
    package func introspect(_ token: AccessToken, tenant: TenantID, host: String) async throws -> IntrospectedToken? {
        var request = HTTPClientRequest(url: configuration.tokenServiceURL + "/oauth/introspect")
        request.method = .POST
        request.headers.add(name: "Host", value: host)
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: FormBody.encode([("token", token.revealed), ("token_type_hint", "access_token")])))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .init(configuration.deadline))
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw IntrospectionUnavailable(description: "introspection request failed: \(error)")
        }
        guard response.status == .ok else {
            throw IntrospectionUnavailable(description: "introspection answered \(response.status.code)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw IntrospectionUnavailable(description: "introspection answered something other than a JSON object")
        }
        return Self.read(object, tenant: tenant)
    }

    /// An active answer with the fields we rely on, or nil.
    static func read(_ object: [String: Any], tenant: TenantID) -> IntrospectedToken? {
        guard object["active"] as? Bool == true, let subject = object["sub"] as? String, let clientId = object["client_id"] as? String,
            let audience = object["aud"] as? String, let issuer = object["iss"] as? String, let expiry = object["exp"] as? Int
        else { return nil }
        let scopes = Set(((object["scope"] as? String) ?? "").split(separator: " ").map(String.init))
        let principal =
            object["principal_type"] as? String == "service"
            ? Principal.service(tenant: tenant, clientId: ClientID(clientId), scopes: scopes)
            : Principal(
                tenant: tenant,
                userId: UserID(subject),
                clientId: ClientID(clientId),
                email: object["email"] as? String,
                emailVerified: object["email_verified"] as? Bool ?? false,
                name: object["name"] as? String,
                scopes: scopes
            )
        var bound = principal
        bound.dpopThumbprint = (object["cnf"] as? [String: Any])?["jkt"] as? String
        return IntrospectedToken(
            principal: bound,
            audience: audience,
            issuer: issuer,
            expiresAt: Date(timeIntervalSince1970: TimeInterval(expiry)),
            grantId: (object["grant_id"] as? String).map { GrantID($0) }
        )
    }
}
