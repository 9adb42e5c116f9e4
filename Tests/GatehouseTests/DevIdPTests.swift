import Foundation
import GatehouseOAuth
import GatehouseRuntime
import GatehouseTestSupport
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The local stack's development identity provider, as a process: the GitHub dialect the
/// gateway's `oauth2` upstreams speak, with PKCE and client credentials enforced.
@Suite("Development identity provider")
struct DevIdPTests {
    @Test("Sign-in form, code with PKCE, token, /user and /user/emails; wrong verifier, secret or reused code refused")
    func signInFlow() async throws {
        let port = try freeTCPPort()
        let secret = "dev-idp-test-secret-0123456789"
        let process = try ChildProcess(executable: TestPaths.executable("gatehouse-dev-idp"),
                                       arguments: ["--port", String(port), "--client-id", "demo", "--client-secret", secret],
                                       name: "dev-idp", captureStandardError: true)
        defer { process.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(port)"
        let session = URLSession(configuration: .ephemeral, delegate: RefusingRedirects(), delegateQueue: nil)
        func call(_ path: String, form: [(String, String)]? = nil, token: String? = nil) async throws -> (Int, String, String?) {
            var request = URLRequest(url: URL(string: base + path)!)
            if let form {
                request.httpMethod = "POST"
                request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data(FormBody.encode(form).utf8)
            }
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await session.data(for: request)
            let http = response as! HTTPURLResponse
            return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Location"))
        }
        try await eventually("dev-idp listening", timeout: .seconds(30)) { (try? await call("/user")) != nil }

        let verifier = String(repeating: "v", count: 50)
        let query = FormBody.encode([("client_id", "demo"), ("redirect_uri", "http://localhost:8080/oauth/callback"), ("state", "s<1>"),
                                     ("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256")])
        let page = try await call("/login/oauth/authorize?" + query)
        #expect(page.0 == 200 && page.1.contains("<form") && page.1.contains("value=\"s&lt;1&gt;\""))
        #expect(try await call("/login/oauth/authorize?client_id=other").0 == 400)

        let signIn = try await call("/login/oauth/authorize", form: [
            ("redirect_uri", "http://localhost:8080/oauth/callback"), ("state", "s<1>"), ("code_challenge", PKCE.challenge(for: verifier)),
            ("email", "Grace@Example.org"), ("name", "Grace Hopper")])
        #expect(signIn.0 == 302)
        let location = try #require(signIn.2.flatMap(URLComponents.init(string:)))
        #expect(location.path == "/oauth/callback" && location.queryItems?.first { $0.name == "state" }?.value == "s<1>")
        let code = try #require(location.queryItems?.first { $0.name == "code" }?.value)

        let exchange: [(String, String)] = [("client_id", "demo"), ("client_secret", secret), ("code", code),
                                            ("redirect_uri", "http://localhost:8080/oauth/callback")]
        #expect(try await call("/login/oauth/access_token", form: exchange.map { $0.0 == "client_secret" ? ($0.0, "wrong") : $0 } + [("code_verifier", verifier)]).0 == 401)
        #expect(try await call("/login/oauth/access_token", form: exchange + [("code_verifier", String(repeating: "w", count: 50))]).0 == 400)
        // The failed verifier used the code up, as a real provider would.
        #expect(try await call("/login/oauth/access_token", form: exchange + [("code_verifier", verifier)]).0 == 400)

        let second = try await call("/login/oauth/authorize", form: [
            ("redirect_uri", "http://localhost:8080/oauth/callback"), ("state", "t"), ("code_challenge", PKCE.challenge(for: verifier)),
            ("email", "grace@example.org"), ("name", "Grace Hopper")])
        let code2 = try #require(second.2.flatMap(URLComponents.init(string:))?.queryItems?.first { $0.name == "code" }?.value)
        let token = try await call("/login/oauth/access_token", form: [("client_id", "demo"), ("client_secret", secret), ("code", code2),
                                                                      ("redirect_uri", "http://localhost:8080/oauth/callback"), ("code_verifier", verifier)])
        #expect(token.0 == 200)
        let access = try #require((try JSONSerialization.jsonObject(with: Data(token.1.utf8)) as? [String: Any])?["access_token"] as? String)
        let user = try #require(try JSONSerialization.jsonObject(with: Data(try await call("/user", token: access).1.utf8)) as? [String: Any])
        #expect(user["email"] as? String == "grace@example.org" && user["name"] as? String == "Grace Hopper" && (user["id"] as? Int ?? 0) > 0)
        let emails = try await call("/user/emails", token: access).1
        #expect(emails.contains(#""email":"grace@example.org""#) && emails.contains(#""verified":true"#) && emails.contains(#""primary":true"#))
        #expect(try await call("/user", token: "devt_forged").0 == 401)
    }
}

/// Hands every redirect back to the caller: the test looks at each one.
private final class RefusingRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
