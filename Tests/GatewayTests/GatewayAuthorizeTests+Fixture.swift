import AuthorizationGateway
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import ServiceFixtures
import Testing

/// The tenant, client and requests the authorize tests share, and the helpers that read our
/// pages and redirects.
extension GatewayAuthorizeTests {
    static let host = "acme.example"
    static let issuer = "https://acme.example"
    static let redirect = "http://127.0.0.1:5555/cb"
    static let challenge = PKCE.challenge(for: String(repeating: "v", count: 50))
    static let state = "st&te=ü /+x"
    static let github = TenantInput.UpstreamInput(
        kind: .oauth2,
        authorizationEndpoint: "https://github.example/login/oauth/authorize",
        tokenEndpoint: "https://github.example/token",
        userEndpoint: "https://api.github.example/user",
        clientId: "gh-client",
        scopes: ["read:user", "user:email"],
        extraAuthorizeParameters: ["allow_signup": "false"]
    )

    struct Setup: Sendable {
        var clientId: String
        var otherTenantClientId: String
    }

    func setUp(
        _ fixture: GatewayFixture,
        name: String = "<script>alert(1)</script> Desktop",
        redirects: [String] = [redirect],
        grants: [String] = ["authorization_code", "refresh_token"],
        tenantsExist: Bool = false
    ) async throws -> Setup {
        if !tenantsExist {
            try await fixture.tenant("acme", upstream: Self.github)
            try await fixture.tenant("globex", upstream: Self.github)
        }
        let metadata = ClientMetadata(
            redirectUris: redirects,
            tokenEndpointAuthMethod: "none",
            grantTypes: grants,
            responseTypes: ["code"],
            applicationType: "native",
            clientName: name
        )
        let client = try await fixture.parts.clients.register(metadata, tenant: "acme", from: nil, unusedLifetime: .seconds(3600))
        let other = try await fixture.parts.clients.register(metadata, tenant: "globex", from: nil, unusedLifetime: .seconds(3600))
        return Setup(clientId: client.clientId, otherTenantClientId: other.clientId)
    }

    static func query(_ items: [(String, String?)]) -> String {
        "/oauth/authorize?"
            + items.compactMap { name, value in
                value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
            }.joined(separator: "&")
    }

    static func valid(_ clientId: String, overriding changes: [String: String?] = [:], extra: [(String, String?)] = []) -> String {
        var items: [(String, String?)] = [
            ("response_type", "code"), ("client_id", clientId), ("redirect_uri", redirect),
            ("code_challenge", challenge), ("code_challenge_method", "S256"), ("scope", "mcp:tools"),
            ("state", state),
        ]
        for (name, value) in changes {
            if let index = items.firstIndex(where: { $0.0 == name }) { items[index].1 = value } else { items.append((name, value)) }
        }
        return query(items + extra)
    }

    /// A browser that has approved `clientId` once (its consent given): its Cookie header.
    static func approvedBrowser(_ client: some TestClientProtocol, clientId: String) async throws -> HTTPFields {
        let page = try await client.send(valid(clientId), host: host)
        let form = try #require(Self.form(page.body))
        let cookie = try #require(Self.cookie(page))
        let approved = try await client.send(
            "/oauth/consent",
            method: .post,
            host: host,
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
            json: "request=\(form.request)&csrf=\(form.csrf)&decision=approve"
        )
        #expect(approved.status == .seeOther)
        return [.cookie: cookie]
    }

    static func location(_ result: HTTPResult) -> (base: String, query: [String: String])? {
        guard let location = result.headers[.location], let components = URLComponents(string: location) else { return nil }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value }
        var base = components
        base.query = nil
        return (base.string ?? "", query)
    }

    /// The consent form's authorization request id and CSRF token.
    static func form(_ page: String) -> (request: String, csrf: String)? {
        guard let form = HTMLForm(page), let request = form.hiddenValue("request"), let csrf = form.hiddenValue("csrf") else { return nil }
        return (request, csrf)
    }

    static func cookie(_ result: HTTPResult) -> String? {
        result.headers[.setCookie].flatMap { $0.split(separator: ";").first.map(String.init) }
    }
}
