import AsyncHTTPClient
import AuthorizationGateway
import Foundation
import GatehouseOAuth
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import ServiceFixtures
import Synchronization
import Testing
import TokenService

/// Client ID Metadata Documents: an https URL as `client_id`, fetched safely and cached.
@Suite("Gateway: client ID metadata documents")
struct GatewayMetadataDocumentTests {
    typealias A = GatewayAuthorizeTests
    typealias C = GatewayCallbackTests

    /// A loopback web server publishing documents (the test-only loopback setting lets the gateway fetch it).
    final class DocumentServer: Sendable {
        let hits = Mutex<[String: Int]>([:])
        /// `/flaky.json` answers 503 while this is true.
        let flakyFails = Mutex(false)

        func hitCount(_ path: String) -> Int { hits.withLock { $0[path] ?? 0 } }

        func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
            let late = LateValue<String>()
            let router = Router()
            func document(_ path: String, _ fields: String, cache: String = "max-age=600") {
                router.get(RouterPath(path)) { _, _ -> Response in
                    self.hits.withLock { $0[path, default: 0] += 1 }
                    return Response(
                        status: .ok,
                        headers: [.contentType: "application/json", .cacheControl: cache],
                        body: .init(byteBuffer: ByteBuffer(string: #"{"client_id": "\#(late.get)\#(path)", \#(fields)}"#))
                    )
                }
            }
            let redirects = #""redirect_uris": ["\#(A.redirect)"]"#
            document("/good.json", #""client_name": "Docs <i>Client</i>", \#(redirects), "grant_types": ["authorization_code", "refresh_token"]"#)
            document("/uncached.json", #""client_name": "Uncached", \#(redirects)"#, cache: "no-store")
            document("/secret-method.json", #"\#(redirects), "token_endpoint_auth_method": "client_secret_basic""#)
            document("/with-secret.json", #"\#(redirects), "client_secret": "s3cret""#)
            document("/javascript.json", #""redirect_uris": ["javascript:alert(1)"]"#)
            document("/no-redirects.json", #""client_name": "None""#)
            router.get("/mismatch.json") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"client_id": "https://elsewhere.example/client.json", \#(redirects)}"#))
                )
            }
            router.get("/flaky.json") { _, _ -> Response in
                self.hits.withLock { $0["/flaky.json", default: 0] += 1 }
                if self.flakyFails.withLock({ $0 }) { return Response(status: .serviceUnavailable) }
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json", .cacheControl: "no-store"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"client_id": "\#(late.get)/flaky.json", "client_name": "Flaky", \#(redirects)}"#))
                )
            }
            router.get("/down.json") { _, _ -> Response in Response(status: .badGateway) }
            router.get("/redirect.json") { _, _ -> Response in Response(status: .found, headers: [.location: "\(late.get)/good.json"]) }
            router.get("/big.json") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(
                        byteBuffer: ByteBuffer(
                            string:
                                #"{"client_id": "\#(late.get)/big.json", \#(redirects), "client_name": "\#(String(repeating: "x", count: 20_000))"}"#
                        )
                    )
                )
            }
            router.get("/text.json") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/html"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"client_id": "\#(late.get)/text.json", \#(redirects)}"#))
                )
            }
            router.get("/slow.json") { _, _ -> Response in
                try await Task.sleep(for: .seconds(8))
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"client_id": "\#(late.get)/slow.json", \#(redirects)}"#))
                )
            }
            return try await serveOnLoopback(router, label: "document server") { base in
                late.set(base)
                return try await body(base)
            }
        }
    }

    @Test("A metadata document client signs in: fetched once and cached, its name on the consent page, its code redeemable")
    func signsIn() async throws {
        let server = DocumentServer()
        let github = FakeGitHub()
        try await server.run { base in
            try await github.run { upstream in
                try await GatewayFixture.run(allowLoopbackMetadataDocuments: true) { gateway in
                    try await C().tenant(gateway, github: github, base: upstream)
                    let clientId = "\(base)/good.json"
                    try await gateway.application().test(.live) { http in
                        let page = try await http.send(A.valid(clientId), host: A.host)
                        #expect(page.status == .ok)
                        #expect(page.body.contains("Docs &lt;i&gt;Client&lt;/i&gt;") && !page.body.contains("<i>Client"))
                        let again = try await http.send(A.valid(clientId), host: A.host)
                        #expect(again.status == .ok)
                        #expect(server.hitCount("/good.json") == 1, "cached for its max-age")

                        let callback = try await C().signIn(http, clientId: clientId, http: gateway.parts.upstream.http)
                        let code = try #require(A.location(try await http.send(callback, host: A.host))?.query["code"])
                        let binding = try SealedCode.open(code, tenant: "acme", keyRing: gateway.configuration.keyRing)
                        #expect(binding.clientId == clientId && binding.client.tokenEndpointAuthMethod == "none")
                        #expect(binding.client.grantTypes == ["authorization_code", "refresh_token"])
                        try await TokenFixture.run(settings: gateway.settings) { tokens in
                            try await tokens.tenant("acme")
                            try await tokens.application().test(.live) { tokenHTTP in
                                let redeemed = try await tokenHTTP.form(
                                    "/oauth/token",
                                    [
                                        ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", A.redirect),
                                        ("code_verifier", String(repeating: "v", count: 50)), ("client_id", clientId),
                                    ]
                                )
                                #expect(redeemed.status == .ok && redeemed.json["refresh_token"] is String)
                            }
                        }
                    }
                    #expect(try await gateway.count("clients") == 0, "a document client has no registration row")
                }
            }
        }
    }

    @Test("no-store documents are fetched every time")
    func uncached() async throws {
        let server = DocumentServer()
        try await server.run { base in
            try await GatewayFixture.run(allowLoopbackMetadataDocuments: true) { gateway in
                _ = try await A().setUp(gateway)
                try await gateway.application().test(.live) { http in
                    for _ in 0..<2 {
                        let page = try await http.send(A.valid("\(base)/uncached.json"), host: A.host)
                        #expect(page.status == .ok)
                    }
                }
                #expect(server.hitCount("/uncached.json") == 2)
            }
        }
    }

    static let refusedPaths = [
        "/mismatch.json", "/redirect.json", "/big.json", "/text.json", "/secret-method.json", "/with-secret.json",
        "/javascript.json", "/no-redirects.json", "/missing.json",
    ]

    @Test("A document that breaks a rule is refused on our page, and nothing is written", arguments: refusedPaths)
    func refusedDocument(_ path: String) async throws {
        let server = DocumentServer()
        try await server.run { base in
            try await GatewayFixture.run(allowLoopbackMetadataDocuments: true) { gateway in
                _ = try await A().setUp(gateway)
                try await gateway.application().test(.live) { http in
                    let page = try await http.send(A.valid("\(base)\(path)"), host: A.host)
                    #expect(page.status == .badRequest, "\(path)")
                    #expect(page.headers[.location] == nil)
                    #expect(page.body.contains("invalid_client"))
                }
                #expect(try await gateway.count("authorization_requests") == 0)
                if path == "/redirect.json" { #expect(server.hitCount("/good.json") == 0, "the redirect was not followed") }
            }
        }
    }

    @Test(
        "A document whose server fails (a 5xx, a timeout) is reported as unavailable, not as an unknown client",
        arguments: ["/down.json", "/slow.json"]
    )
    func unavailableDocument(_ path: String) async throws {
        let server = DocumentServer()
        try await server.run { base in
            try await GatewayFixture.run(allowLoopbackMetadataDocuments: true) { gateway in
                _ = try await A().setUp(gateway)
                try await gateway.application().test(.live) { http in
                    let page = try await http.send(A.valid("\(base)\(path)"), host: A.host)
                    #expect(page.status == .serviceUnavailable, "\(path)")
                    #expect(page.headers[.location] == nil)
                    #expect(page.body.contains("temporarily_unavailable") && !page.body.contains("invalid_client"))
                }
                #expect(try await gateway.count("authorization_requests") == 0)
            }
        }
    }

    @Test("When a refetch fails in transit the last good document stands in, within its age limit; a pinned document is never fetched")
    func lastGoodAndPinned() async throws {
        let server = DocumentServer()
        try await server.run { base in
            let url = "\(base)/flaky.json"
            let lenient = ClientMetadataDocuments(allowLoopback: true, logger: testLogger())
            let strict = ClientMetadataDocuments(allowLoopback: true, staleLimit: .zero, logger: testLogger())
            #expect(try await lenient.client(for: url).name == "Flaky")
            #expect(try await strict.client(for: url).name == "Flaky")
            server.flakyFails.withLock { $0 = true }
            #expect(try await lenient.client(for: url).name == "Flaky", "the last good document")
            await #expect(throws: ClientMetadataDocuments.Failure.self) { try await strict.client(for: url) }
            #expect(server.hitCount("/flaky.json") == 4, "every refetch was tried")

            // Through the gateway: a user signs in while the publisher is down.
            try await GatewayFixture.run(allowLoopbackMetadataDocuments: true) { gateway in
                _ = try await A().setUp(gateway)
                try await gateway.application().test(.live) { http in
                    server.flakyFails.withLock { $0 = false }
                    #expect(try await http.send(A.valid(url), host: A.host).status == .ok)
                    server.flakyFails.withLock { $0 = true }
                    let page = try await http.send(A.valid(url), host: A.host)
                    #expect(page.status == .ok && page.body.contains("Flaky"), "the consent page still names the application")
                }
            }

            let pinnedURL = "https://client.example.org/pinned.json"
            let pinned = try ClientMetadataDocuments.pin([
                pinnedURL: #"{"client_id": "\#(pinnedURL)", "client_name": "Pinned", "redirect_uris": ["\#(A.redirect)"]}"#
            ])
            let documents = ClientMetadataDocuments(allowLoopback: false, pinned: pinned, logger: testLogger())
            #expect(try await documents.client(for: pinnedURL).name == "Pinned")
            #expect(await documents.fetches == 0)
            #expect(throws: ClientMetadataDocuments.Failure.self) {
                try ClientMetadataDocuments.pin([
                    pinnedURL: #"{"client_id": "https://elsewhere.example/c.json", "redirect_uris": ["\#(A.redirect)"]}"#
                ])
            }
        }
    }

    @Test("Pinned documents come from a file named in the environment, checked at start")
    func pinnedFromEnvironment() throws {
        let url = "https://client.example.org/pinned.json"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pinned-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let base = ["GATEHOUSE_KEYRING": "k1:" + String(repeating: "A", count: 43)]
        func configuration(_ json: String) throws -> GatewayConfiguration {
            try Data(json.utf8).write(to: file)
            return try GatewayConfiguration(environment: base.merging(["GATEHOUSE_PINNED_CLIENT_METADATA_FILE": file.path]) { $1 })
        }
        let good = try configuration(#"{"\#(url)": {"client_id": "\#(url)", "client_name": "Pinned", "redirect_uris": ["\#(A.redirect)"]}}"#)
        #expect(good.pinnedMetadataDocuments[url]?.name == "Pinned")
        #expect(throws: ConfigurationError.self) { try configuration(#"{"\#(url)": {"client_id": "https://other.example/c.json"}}"#) }
        #expect(throws: ConfigurationError.self) { try configuration("not json") }
        #expect(try GatewayConfiguration(environment: base).pinnedMetadataDocuments.isEmpty)
    }

    static let refusedURLs = [
        "http://127.0.0.1:9/client.json",  // http, without the test-only setting
        "https://127.0.0.1:9/client.json",  // loopback
        "https://localhost:9/client.json",  // resolves to loopback
        "https://10.0.0.1/client.json",  // private
        "https://169.254.169.254/latest/meta",  // link-local (cloud metadata)
        "https://[::1]/client.json",  // IPv6 loopback
        "https://[fd00::1]/client.json",  // unique local
        "https://100.64.0.1/client.json",  // shared address space
        "https://client.example.org",  // no path
        "https://client.example.org/a#frag",  // fragment
        "https://user@client.example.org/c.json",  // user info
        "https://client.example.org/a/../c.json",  // dot segment
    ]

    @Test("Addresses that are not public https URLs are refused before any connection", arguments: refusedURLs)
    func refusedURL(_ url: String) async throws {
        try await GatewayFixture.run { gateway in
            _ = try await A().setUp(gateway)
            try await gateway.application().test(.live) { http in
                let page = try await http.send(A.valid(url), host: A.host)
                #expect(page.status == .badRequest, "\(url)")
                #expect(page.body.contains("invalid_client"))
            }
            #expect(await gateway.parts.metadataDocuments.fetches == 0)
            #expect(try await gateway.count("authorization_requests") == 0)
        }
    }

    @Test("Address ranges and cache lifetimes")
    func rules() {
        for address in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] { #expect(ClientMetadataDocuments.isPublic(address), "\(address)") }
        for address in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.1.1", "::1", "fe80::1",
            "fd12::1", "::ffff:127.0.0.1", "224.0.0.1", "255.255.255.255",
        ] {
            #expect(!ClientMetadataDocuments.isPublic(address), "\(address)")
        }
        #expect(ClientMetadataDocuments.lifetime(cacheControl: nil) == .seconds(300))
        #expect(ClientMetadataDocuments.lifetime(cacheControl: "public, max-age=60") == .seconds(60))
        #expect(ClientMetadataDocuments.lifetime(cacheControl: "max-age=99999999") == .seconds(86_400))
        #expect(ClientMetadataDocuments.lifetime(cacheControl: "no-store") == .zero)
        #expect(ClientMetadataDocuments.lifetime(cacheControl: "max-age=600, no-cache") == .zero)
    }
}
