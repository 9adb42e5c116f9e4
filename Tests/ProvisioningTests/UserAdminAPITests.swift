import Foundation
import GatehouseRuntime
import GatehouseTestSupport
import Hummingbird
import HummingbirdTesting
import ServiceFixtures
import Testing
import UserProvisioning

/// The admin API's users endpoints (served by the provisioning service), with every response
/// checked against the repository's OpenAPI document.
@Suite("Admin API: tenant users")
struct UserAdminAPITests {
    typealias E = ProvisioningEvents
    static let token = "operator-token-for-tests-0123456789abcdef"
    static let listPath = "/admin/tenants/{tenant}/users"
    static let showPath = "/admin/tenants/{tenant}/users/{user_id}"

    func application(_ fixture: ProvisioningFixture, token: String? = Self.token) -> some ApplicationProtocol {
        let router = Router()
        UserAdminRoutes.add(
            to: router,
            directory: UserDirectory(client: fixture.client, schema: fixture.schema, logger: fixture.logger),
            operatorToken: token.map(OperatorToken.init)
        )
        return Application(router: router)
    }

    /// Sends a request, checks the response against the document, returns status and JSON.
    func call(
        _ client: some TestClientProtocol,
        _ uri: String,
        template: String,
        token: String? = Self.token,
        document: OpenAPIDocument
    ) async throws -> (HTTPResponse.Status, [String: Any], HTTPFields) {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .get, headers: headers) { response in
            let body = Data(String(buffer: response.body).utf8)
            let problems = document.validate(method: "GET", path: template, status: Int(response.status.code), body: body)
            #expect(problems.isEmpty, "\(uri): \(problems)")
            #expect(response.headers[.contentType] == "application/json")
            let json = try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:]
            return (response.status, json, response.headers)
        }
    }

    @Test("Listing pages through a tenant's users with a cursor; showing one; other tenants' users are not found")
    func pagingAndShow() async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        #expect(document.operations.isSuperset(of: ["GET \(Self.listPath)", "GET \(Self.showPath)"]))
        try await ProvisioningFixture.run { fixture in
            let subjects = (0..<5).map { "s\($0)" }
            try await fixture.apply(
                subjects.enumerated().map { index, subject in
                    E.login(tenant: "acme", subject: subject, version: 1, email: "\(subject)@example.org", name: "User \(index)", at: Double(index))
                } + [
                    E.login(tenant: "other", subject: "x", version: 1, email: "x@example.org", at: 0),
                    E.toolCall(tenant: "acme", userId: E.userId("acme", "s0"), tool: "whoami", at: 30),
                ]
            )
            let expectedOrder = subjects.map { E.userId("acme", $0) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }

            try await application(fixture).test(.router) { client in
                var seen: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let query = "limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let (status, page, headers) = try await call(
                        client,
                        "/admin/tenants/acme/users?\(query)",
                        template: Self.listPath,
                        document: document
                    )
                    #expect(status == .ok)
                    #expect(headers[.cacheControl] == nil || headers[.cacheControl] == "no-store")
                    let users = page["users"] as? [[String: Any]] ?? []
                    #expect(users.count <= 2)
                    seen += users.compactMap { $0["user_id"] as? String }
                    cursor = page["next_cursor"] as? String
                    pages += 1
                } while cursor != nil && pages < 10
                #expect(pages == 3)
                #expect(seen == expectedOrder)

                let target = E.userId("acme", "s0")
                let (status, user, _) = try await call(client, "/admin/tenants/acme/users/\(target)", template: Self.showPath, document: document)
                #expect(status == .ok)
                #expect(user["email"] as? String == "s0@example.org")
                #expect((user["tool_usage"] as? [[String: Any]])?.first?["calls"] as? Int == 1)
                #expect((user["email_history"] as? [Any])?.count == 1)

                // Tenant isolation: the other tenant's user is unknown here, and vice versa.
                let (foreign, error, _) = try await call(
                    client,
                    "/admin/tenants/acme/users/\(E.userId("other", "x"))",
                    template: Self.showPath,
                    document: document
                )
                #expect(foreign == .notFound)
                #expect(error["error"] as? String == "not_found")
                let (_, otherPage, _) = try await call(client, "/admin/tenants/other/users", template: Self.listPath, document: document)
                #expect((otherPage["users"] as? [[String: Any]])?.compactMap { $0["user_id"] as? String } == [E.userId("other", "x")])
            }
        }
    }

    @Test("The document check itself catches drift: undocumented fields, wrong types, missing fields, unknown statuses")
    func validatorCatchesDrift() throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        func problems(_ json: String, status: Int = 200) -> [String] {
            document.validate(method: "GET", path: Self.listPath, status: status, body: Data(json.utf8))
        }
        #expect(problems(#"{"users": []}"#).isEmpty)
        #expect(!problems(#"{"users": [], "extra": 1}"#).isEmpty)
        #expect(!problems(#"{"users": "none"}"#).isEmpty)
        #expect(!problems(#"{}"#).isEmpty)
        #expect(!problems(#"{"users": [{"user_id": "usr_x", "tenant": "t", "email_verified": "yes"}]}"#).isEmpty)
        #expect(!problems(#"{"error": "x", "error_description": "y"}"#, status: 500).isEmpty)
    }

    @Test("Bad paging parameters are 400 invalid_request", arguments: ["limit=0", "limit=201", "limit=ten", "cursor=", "limit=-1"])
    func badParameters(_ query: String) async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        try await ProvisioningFixture.run { fixture in
            try await application(fixture).test(.router) { client in
                let (status, error, _) = try await call(client, "/admin/tenants/acme/users?\(query)", template: Self.listPath, document: document)
                #expect(status == .badRequest)
                #expect(error["error"] as? String == "invalid_request")
            }
        }
    }

    @Test(
        "Without the operator token: 401 with a challenge; a wrong or missing token never reaches the data",
        arguments: [nil, "", "wrong-token", String(token.dropLast()), token + "x", "Basic \(token)"]
    )
    func unauthorized(_ presented: String?) async throws {
        let document = try OpenAPIDocument.repository("docs/openapi/admin.json")
        try await ProvisioningFixture.run { fixture in
            try await application(fixture).test(.router) { client in
                var headers: HTTPFields = [:]
                if let presented { headers[.authorization] = presented.hasPrefix("Basic") ? presented : "Bearer \(presented)" }
                try await client.execute(uri: "/admin/tenants/acme/users", method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer realm=\"gatehouse-admin\"") == true)
                    let body = Data(String(buffer: response.body).utf8)
                    #expect(document.validate(method: "GET", path: Self.listPath, status: 401, body: body).isEmpty)
                    #expect(!String(decoding: body, as: UTF8.self).contains(Self.token))
                }
            }
        }
    }

    @Test("Without a configured operator token the admin API refuses even a plausible token")
    func disabledWithoutToken() async throws {
        try await ProvisioningFixture.run { fixture in
            try await application(fixture, token: nil).test(.router) { client in
                try await client.execute(
                    uri: "/admin/tenants/acme/users",
                    method: .get,
                    headers: [.authorization: "Bearer \(Self.token)"]
                ) { response in
                    #expect(response.status == .unauthorized)
                }
            }
        }
    }
}
