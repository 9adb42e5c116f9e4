import ArgumentParser
import Crypto
import Foundation
import GatehouseCrypto
import GatehouseHTTP
import GatehouseOAuth
import Hummingbird
import Logging
import Synchronization

/// A development upstream identity provider for the local stack's demo tenant, speaking
/// GitHub's OAuth 2.0 dialect (authorize with PKCE, `access_token`, `/user`, `/user/emails`):
/// its login page asks for any email and name and signs that person in, so a person can try
/// the whole flow without a real provider. Never for production: it trusts whatever is typed.
@main
struct DevIdP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse-dev-idp",
        abstract: "A development OAuth provider that signs in whoever fills in its form."
    )

    @Option(help: "Port on 127.0.0.1.")
    var port = 8090

    @Option(help: "The only client id it accepts.")
    var clientId = "gatehouse-demo"

    @Option(help: "That client's secret (at least 16 characters).")
    var clientSecret: String

    func validate() throws {
        guard clientSecret.count >= 16 else { throw ValidationError("--client-secret must be at least 16 characters") }
    }

    func run() async throws {
        var logger = Logger(label: "gatehouse.dev-idp")
        logger.logLevel = .info
        let provider = Provider(clientId: clientId, clientSecret: clientSecret)
        let app = Application(
            router: provider.router(),
            configuration: .init(
                address: .hostname("127.0.0.1", port: port),
                serverName: "gatehouse-dev-idp"
            ),
            logger: logger
        )
        try await app.runService()
    }
}

/// The provider's state: pending codes and issued tokens, in memory (a restart signs everyone out).
final class Provider: Sendable {
    struct Person: Sendable {
        var email: String
        var name: String
        /// Stable per email, like a provider's numeric user id.
        var id: Int { Int(SHA256.hash(data: Data(email.utf8)).prefix(6).reduce(0) { $0 << 8 | Int($1) }) }
    }

    struct Grant: Sendable {
        var person: Person
        var redirectUri: String
        var challenge: String
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var grants: [String: Grant] = [:]
        var tokens: [String: Person] = [:]
    }

    let clientId: String
    let clientSecret: String
    private let state = Mutex(State())

    init(clientId: String, clientSecret: String) {
        self.clientId = clientId
        self.clientSecret = clientSecret
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/login/oauth/authorize") { request, _ in try self.loginPage(FormBody.parse(request.uri.query ?? "")) }
        router.post("/login/oauth/authorize") { request, _ in try await self.signIn(request) }
        router.post("/login/oauth/access_token") { request, _ in try await self.exchange(request) }
        router.get("/user") { request, _ -> Response in
            guard let person = self.person(request) else { return Self.json(#"{"message":"Bad credentials"}"#, status: .unauthorized) }
            var user = JSONObjectWriter()
            user.add("id", person.id)
            user.add("login", String(person.email.prefix { $0 != "@" }))
            user.add("name", person.name)
            user.add("email", person.email)
            return user.response()
        }
        router.get("/user/emails") { request, _ -> Response in
            guard let person = self.person(request) else { return Self.json(#"{"message":"Bad credentials"}"#, status: .unauthorized) }
            var email = JSONObjectWriter()
            email.add("email", person.email)
            email.add("primary", true)
            email.add("verified", true)
            return Self.json("[" + email.json + "]")
        }
        return router
    }

    /// The sign-in form, carrying the authorization request in hidden fields.
    private func loginPage(_ query: [String: String]) throws -> Response {
        guard query["client_id"] == clientId, let redirect = query["redirect_uri"], let state = query["state"],
            let challenge = query["code_challenge"], query["code_challenge_method"] == "S256"
        else {
            return Self.html(
                "<p>Bad authorization request: client_id, redirect_uri, state and an S256 code_challenge are required.</p>",
                status: .badRequest
            )
        }
        let hidden = [("redirect_uri", String(redirect)), ("state", String(state)), ("code_challenge", String(challenge))]
            .map { #"<input type="hidden" name="\#($0.0)" value="\#(HTMLText.escape($0.1))">"# }.joined()
        return Self.html(
            """
            <h1>Development sign-in</h1>
            <p>This provider signs in whoever you say you are. It exists for trying Gatehouse locally.</p>
            <form method="post" action="/login/oauth/authorize">\(hidden)
            <p><label>Email <input name="email" type="email" required value="ada@example.org"></label></p>
            <p><label>Name <input name="name" required value="Ada Lovelace"></label></p>
            <p><button type="submit">Sign in</button></p>
            </form>
            """
        )
    }

    private func signIn(_ request: Request) async throws -> Response {
        let form = FormBody.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
        guard let redirect = form["redirect_uri"], let state = form["state"], let challenge = form["code_challenge"],
            let email = form["email"]?.trimmingCharacters(in: .whitespaces).lowercased(), email.contains("@"), email.count <= 200,
            let name = form["name"]?.trimmingCharacters(in: .whitespaces), !name.isEmpty, name.count <= 200
        else {
            return Self.html("<p>Both an email address and a name are needed.</p>", status: .badRequest)
        }
        let code = SecretGenerator.generate(prefix: "devc_", bytes: 16)
        self.state.withLock { state in
            let now = ContinuousClock.now
            state.grants = state.grants.filter { $0.value.expires > now }
            state.grants[code] = Grant(
                person: Person(email: email, name: name),
                redirectUri: redirect,
                challenge: challenge,
                expires: now + .seconds(120)
            )
        }
        let separator = redirect.contains("?") ? "&" : "?"
        return Response(status: .found, headers: [.location: redirect + separator + FormBody.encode([("code", code), ("state", state)])])
    }

    /// The code exchange (client credentials in the form, as GitHub takes them), with PKCE.
    private func exchange(_ request: Request) async throws -> Response {
        let form = FormBody.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
        guard form["client_id"] == clientId, let secret = form["client_secret"],
            constantTimeEqual(Array(secret.utf8), Array(clientSecret.utf8))
        else {
            return Self.json(#"{"error":"incorrect_client_credentials"}"#, status: .unauthorized)
        }
        let token: String? = state.withLock { state in
            guard let code = form["code"], let grant = state.grants.removeValue(forKey: code), grant.expires > .now,
                form["redirect_uri"] == grant.redirectUri, let verifier = form["code_verifier"],
                PKCE.verify(verifier: verifier, challenge: grant.challenge)
            else { return nil }
            let token = SecretGenerator.generate(prefix: "devt_", bytes: 20)
            state.tokens[token] = grant.person
            return token
        }
        guard let token else { return Self.json(#"{"error":"bad_verification_code"}"#, status: .badRequest) }
        var answer = JSONObjectWriter()
        answer.add("access_token", token)
        answer.add("token_type", "bearer")
        answer.add("scope", "read:user,user:email")
        return answer.response()
    }

    private func person(_ request: Request) -> Person? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") || header.lowercased().hasPrefix("token ") else {
            return nil
        }
        let token = String(header.split(separator: " ", maxSplits: 1).last ?? "")
        return state.withLock { $0.tokens[token] }
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        let page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Development sign-in</title></head><body>\(body)</body></html>"
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: page))
        )
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }
}
