import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import GatehouseRuntime
import NIOCore
import NIOHTTP1
import Synchronization

/// The OAuth endpoints a client uses at one tenant, as discovery names them.
public struct OAuthEndpoints: Sendable {
    public var registration: String
    public var authorization: String
    public var token: String
    public var resource: String
    public var issuer: String

    public init(registration: String, authorization: String, token: String, resource: String, issuer: String) {
        self.registration = registration
        self.authorization = authorization
        self.token = token
        self.resource = resource
        self.issuer = issuer
    }

    /// The endpoints of the tenant served at `origin`.
    public init(origin: String) {
        self.init(
            registration: origin + "/oauth/register",
            authorization: origin + "/oauth/authorize",
            token: origin + "/oauth/token",
            resource: origin + "/mcp",
            issuer: origin
        )
    }
}

/// What a client holds after a login.
public struct SignedIn: Sendable {
    public var clientId: String
    public var access: String
    public var refresh: String
}

/// Statuses and transport failures a client met, retried ones included.
public final class Observations: Sendable {
    private let counts = Mutex<[Int: Int]>([:])
    private let transport = Mutex<[String]>([])

    public init() {}

    func record(_ status: Int) { counts.withLock { $0[status, default: 0] += 1 } }
    func record(_ error: any Error, _ method: String, _ url: String, after elapsed: Duration) {
        let path = url.split(separator: "?").first.map(String.init) ?? url
        transport.withLock { $0.append("\(method) \(path) after \(elapsed): \(error)") }
    }

    public var statuses: [Int: Int] { counts.withLock { $0 } }
    public var transportFailures: [String] { transport.withLock { $0 } }
    public func count(_ status: Int) -> Int { counts.withLock { $0[status] ?? 0 } }
}

/// An HTTP client that lives a user's side of the platform: an MCP client registering and
/// redeeming codes, the user's browser walking through consent and the upstream sign-in,
/// tool calls with the bearer token. Every step goes through the front door like a real
/// client's. With `patience`, transient failures (a connection refused or cut, 502, 503, 504)
/// are retried for that long, as a client does while an instance restarts.
public final class PlatformClient: Sendable {
    /// Where the MCP client "listens" for the authorization response: the browser stops there.
    public static let redirectURI = "http://127.0.0.1:53682/callback"

    public struct Reply: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: String
    }

    public let observations = Observations()
    private let http: HTTPClient
    private let patience: Duration

    /// AsyncHTTPClient, trusting the machine's store (where `scripts/test-tls` put the test CA),
    /// following no redirect itself.
    public init(patience: Duration = .zero) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.patience = patience
    }

    public func shutdown() async { try? await http.shutdown() }

    /// Runs `body` with a client, shut down afterwards.
    public static func with<T: Sendable>(patience: Duration = .zero, _ body: (PlatformClient) async throws -> T) async throws -> T {
        let client = PlatformClient(patience: patience)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// One request; transient failures are retried while `patience` lasts.
    public func send(
        _ method: String,
        _ url: String,
        body: String? = nil,
        contentType: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> Reply {
        let deadline = ContinuousClock.now + patience
        while true {
            let started = ContinuousClock.now
            var request = HTTPClientRequest(url: url)
            request.method = HTTPMethod(rawValue: method)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let reply: Reply
            do {
                let response = try await http.execute(request, timeout: .seconds(30))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                reply = Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
            } catch {
                observations.record(error, method, url, after: ContinuousClock.now - started)
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            observations.record(reply.status)
            guard [502, 503, 504].contains(reply.status), ContinuousClock.now < deadline else { return reply }
            // Retry-After is honoured up to a second: the restarts here take about that long.
            let after = reply.headers.first(name: "Retry-After").flatMap(Double.init) ?? 0.2
            try await Task.sleep(for: .milliseconds(Int(min(max(after, 0.1), 1) * 1000)))
        }
    }

    /// Dynamic client registration (RFC 7591) of a native public client.
    public func register(_ endpoints: OAuthEndpoints) async throws -> String {
        let body = """
            {"client_name":"Gatehouse platform client","redirect_uris":["\(Self.redirectURI)"],"token_endpoint_auth_method":"none",\
            "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"application_type":"native"}
            """
        return try Self.field(
            "client_id",
            of: try await expectJSON(send("POST", endpoints.registration, body: body, contentType: "application/json"), 201)
        )
    }

    /// The authorization code flow with PKCE and the resource indicator: the browser through
    /// consent and the upstream sign-in (as `person` when the upstream asks), then the code
    /// exchange. `state` and `iss` (RFC 9207) are checked.
    public func signIn(
        _ endpoints: OAuthEndpoints,
        clientId: String,
        scopes: [String],
        person: (email: String, name: String)? = nil
    )
        async throws -> SignedIn
    {
        let verifier = Base64URL.encode(SecretGenerator.randomBytes(32))
        let state = Base64URL.encode(SecretGenerator.randomBytes(16))
        let query = FormBody.encode([
            ("response_type", "code"), ("client_id", clientId), ("redirect_uri", Self.redirectURI), ("state", state),
            ("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256"), ("resource", endpoints.resource),
            ("scope", scopes.joined(separator: " ")),
        ])
        let back = try await browse(endpoints.authorization + "?" + query, person: person)
        let answer = FormBody.parse(String(back.split(separator: "?", maxSplits: 1).last ?? ""))
        guard answer["state"] == state else { throw TestSupportError("the authorization response's state is not ours: \(back)") }
        guard answer["iss"] == endpoints.issuer else { throw TestSupportError("the authorization response's iss is \(answer["iss"] ?? "missing")") }
        guard let code = answer["code"] else { throw TestSupportError("no code in the authorization response: \(back)") }
        let tokens = try await expectJSON(
            send(
                "POST",
                endpoints.token,
                body: FormBody.encode([
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Self.redirectURI), ("client_id", clientId),
                    ("code_verifier", verifier), ("resource", endpoints.resource),
                ]),
                contentType: "application/x-www-form-urlencoded"
            ),
            200
        )
        guard try Self.field("token_type", of: tokens) == "Bearer" else { throw TestSupportError("token_type is not Bearer") }
        return SignedIn(clientId: clientId, access: try Self.field("access_token", of: tokens), refresh: try Self.field("refresh_token", of: tokens))
    }

    /// The refresh grant; the answer's new access and refresh tokens.
    public func refresh(_ endpoints: OAuthEndpoints, _ signedIn: SignedIn) async throws -> SignedIn {
        let tokens = try await expectJSON(
            send(
                "POST",
                endpoints.token,
                body: FormBody.encode([
                    ("grant_type", "refresh_token"), ("refresh_token", signedIn.refresh), ("client_id", signedIn.clientId),
                ]),
                contentType: "application/x-www-form-urlencoded"
            ),
            200
        )
        return SignedIn(
            clientId: signedIn.clientId,
            access: try Self.field("access_token", of: tokens),
            refresh: try Self.field("refresh_token", of: tokens)
        )
    }

    /// A JSON-RPC `tools/call` of `tool` with JSON `arguments`.
    public static func toolCallBody(_ tool: String, arguments: String = "{}", id: String = "1") -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)}}"#
    }

    /// A `tools/call` on the tenant's MCP endpoint; the JSON-RPC answer's body.
    public func callTool(_ endpoints: OAuthEndpoints, token: String, tool: String, arguments: String = "{}") async throws -> Reply {
        try await send(
            "POST",
            endpoints.resource,
            body: Self.toolCallBody(tool, arguments: arguments),
            contentType: "application/json",
            headers: [
                ("Authorization", "Bearer \(token)"), ("Accept", "application/json, text/event-stream"), ("MCP-Protocol-Version", "2025-06-18"),
            ]
        )
    }

    /// The user's browser from the authorization request to the client's redirect URI: it
    /// approves our consent page, fills the upstream's sign-in form when there is one, follows
    /// redirects, keeps each site's cookies, and stops at the redirect URI (nothing listens there).
    private func browse(_ start: String, person: (email: String, name: String)?) async throws -> String {
        var cookies: [String: [String: String]] = [:]  // by origin
        var url = start
        var form: String? = nil
        for _ in 0..<8 {
            let origin = Self.origin(of: url)
            var headers: [(String, String)] = []
            if let jar = cookies[origin], !jar.isEmpty { headers.append(("Cookie", jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))) }
            let reply = try await send(
                form == nil ? "GET" : "POST",
                url,
                body: form,
                contentType: form == nil ? nil : "application/x-www-form-urlencoded",
                headers: headers
            )
            for value in reply.headers["Set-Cookie"] {
                let pair = value.split(separator: ";").first?.split(separator: "=", maxSplits: 1) ?? []
                if pair.count == 2 { cookies[origin, default: [:]][pair[0].trimmingCharacters(in: .whitespaces)] = String(pair[1]) }
            }
            form = nil
            switch reply.status {
            case 301, 302, 303, 307:
                guard let location = reply.headers.first(name: "Location") else { throw TestSupportError("a redirect without Location") }
                let next = location.hasPrefix("/") ? origin + location : location
                if next.hasPrefix(Self.redirectURI) { return next }
                url = next
            case 200:
                guard let page = HTMLForm(reply.body) else { throw TestSupportError("a page without a form at \(url): \(reply.body.prefix(200))") }
                var fields = page.hidden
                if page.hiddenValue("csrf") != nil {
                    fields.append(("decision", "approve"))
                } else if page.fieldNames.contains("email") {
                    guard let person else { throw TestSupportError("the upstream asks who signs in, and no person was given") }
                    fields += [("email", person.email), ("name", person.name)]
                }
                url = page.action.hasPrefix("/") ? origin + page.action : page.action
                form = FormBody.encode(fields)
            default:
                throw TestSupportError("the login stopped at \(url.split(separator: "?").first ?? ""): \(reply.status) \(reply.body.prefix(300))")
            }
        }
        throw TestSupportError("the login did not come back to the client")
    }

    private func expectJSON(_ reply: Reply, _ status: Int) throws -> [String: Any] {
        guard reply.status == status, let object = try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any] else {
            throw TestSupportError("expected \(status), got \(reply.status): \(reply.body.prefix(300))")
        }
        return object
    }

    private static func field(_ name: String, of object: [String: Any]) throws -> String {
        guard let value = object[name] as? String else { throw TestSupportError("no \(name) in \(object.keys.sorted())") }
        return value
    }

    static func origin(of url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        return String(url[..<scheme.upperBound]) + String(rest.prefix { $0 != "/" && $0 != "?" })
    }
}

/// The first form of an HTML page: its action, hidden fields (unescaped) and the names of all its inputs.
public struct HTMLForm {
    public var action: String
    public var hidden: [(String, String)]
    public var fieldNames: Set<String>

    /// The value of the hidden field `name`.
    public func hiddenValue(_ name: String) -> String? { hidden.first { $0.0 == name }?.1 }

    public init?(_ page: String) {
        guard let form = page.range(of: "<form") else { return nil }
        let rest = page[form.lowerBound...]
        guard let action = Self.attribute("action", in: rest.prefix { $0 != ">" }) else { return nil }
        self.action = action
        hidden = []
        fieldNames = []
        var cursor = rest.startIndex
        while let input = rest.range(of: "<input", range: cursor..<rest.endIndex) {
            let tag = rest[input.lowerBound...].prefix { $0 != ">" }
            cursor = tag.endIndex
            guard let name = Self.attribute("name", in: tag) else { continue }
            fieldNames.insert(name)
            if Self.attribute("type", in: tag) == "hidden" { hidden.append((name, Self.attribute("value", in: tag) ?? "")) }
        }
    }

    private static func attribute(_ name: String, in tag: Substring) -> String? {
        guard let start = tag.range(of: " \(name)=\"") else { return nil }
        let value = tag[start.upperBound...].prefix { $0 != "\"" }
        return value.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }
}
