import Foundation
import GatehouseOAuth
import GatehouseRuntime
import GatehouseTestSupport
import NIOHTTP1
import ServiceFixtures
import Testing

/// The local stack's development identity provider, as a process: the GitHub dialect the
/// gateway's `oauth2` upstreams speak, with PKCE and client credentials enforced.
@Suite("Development identity provider")
struct DevIdPTests {
    @Test("Sign-in form, code with PKCE, token, /user and /user/emails; wrong verifier, secret or reused code refused")
    func signInFlow() async throws {
        let idp = try await DevIdentityProvider()
        defer { idp.process.signal(SIGKILL) }
        let (base, clientId, secret) = (idp.app.base, idp.app.clientId, idp.app.clientSecret)
        try await PlatformClient.with { client in
            // Each answer as it comes: the client follows no redirect.
            func call(_ path: String, form: [(String, String)]? = nil, token: String? = nil) async throws -> (Int, String, String?) {
                let reply = try await client.send(
                    form == nil ? "GET" : "POST",
                    base + path,
                    body: form.map(FormBody.encode),
                    contentType: form == nil ? nil : "application/x-www-form-urlencoded",
                    headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []
                )
                return (reply.status, reply.body, reply.headers.first(name: "Location"))
            }

            let verifier = String(repeating: "v", count: 50)
            let query = FormBody.encode([
                ("client_id", clientId), ("redirect_uri", "http://localhost:8080/oauth/callback"), ("state", "s<1>"),
                ("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256"),
            ])
            let page = try await call("/login/oauth/authorize?" + query)
            #expect(page.0 == 200 && page.1.contains("<form") && page.1.contains("value=\"s&lt;1&gt;\""))
            #expect(try await call("/login/oauth/authorize?client_id=other").0 == 400)

            let signIn = try await call(
                "/login/oauth/authorize",
                form: [
                    ("redirect_uri", "http://localhost:8080/oauth/callback"), ("state", "s<1>"), ("code_challenge", PKCE.challenge(for: verifier)),
                    ("email", "Grace@Example.org"), ("name", "Grace Hopper"),
                ]
            )
            #expect(signIn.0 == 302)
            let location = try #require(signIn.2.flatMap(URLComponents.init(string:)))
            #expect(location.path == "/oauth/callback" && location.queryItems?.first { $0.name == "state" }?.value == "s<1>")
            let code = try #require(location.queryItems?.first { $0.name == "code" }?.value)

            let exchange: [(String, String)] = [
                ("client_id", clientId), ("client_secret", secret), ("code", code),
                ("redirect_uri", "http://localhost:8080/oauth/callback"),
            ]
            #expect(
                try await call(
                    "/login/oauth/access_token",
                    form: exchange.map { $0.0 == "client_secret" ? ($0.0, "wrong") : $0 } + [("code_verifier", verifier)]
                ).0 == 401
            )
            #expect(try await call("/login/oauth/access_token", form: exchange + [("code_verifier", String(repeating: "w", count: 50))]).0 == 400)
            // The failed verifier used the code up, as a real provider would.
            #expect(try await call("/login/oauth/access_token", form: exchange + [("code_verifier", verifier)]).0 == 400)

            let second = try await call(
                "/login/oauth/authorize",
                form: [
                    ("redirect_uri", "http://localhost:8080/oauth/callback"), ("state", "t"), ("code_challenge", PKCE.challenge(for: verifier)),
                    ("email", "grace@example.org"), ("name", "Grace Hopper"),
                ]
            )
            let code2 = try #require(second.2.flatMap(URLComponents.init(string:))?.queryItems?.first { $0.name == "code" }?.value)
            let token = try await call(
                "/login/oauth/access_token",
                form: [
                    ("client_id", clientId), ("client_secret", secret), ("code", code2),
                    ("redirect_uri", "http://localhost:8080/oauth/callback"), ("code_verifier", verifier),
                ]
            )
            #expect(token.0 == 200)
            let access = try #require((try JSONSerialization.jsonObject(with: Data(token.1.utf8)) as? [String: Any])?["access_token"] as? String)
            let user = try #require(try JSONSerialization.jsonObject(with: Data(try await call("/user", token: access).1.utf8)) as? [String: Any])
            #expect(user["email"] as? String == "grace@example.org" && user["name"] as? String == "Grace Hopper" && (user["id"] as? Int ?? 0) > 0)
            let emails = try await call("/user/emails", token: access).1
            #expect(emails.contains(#""email":"grace@example.org""#) && emails.contains(#""verified":true"#) && emails.contains(#""primary":true"#))
            #expect(try await call("/user", token: "devt_forged").0 == 401)
        }
    }
}
