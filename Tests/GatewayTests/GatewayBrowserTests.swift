import AuthorizationGateway
import Foundation
import GatehouseOAuth
import GatehouseRuntime
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceFixtures
import Synchronization
import Testing

/// The consent page in a real browser: Debian's Chromium, headless, driven through WebDriver.
@Suite("Gateway: consent in a headless browser")
struct GatewayBrowserTests {
    /// The client application's side: records what arrives at its redirect URI, and serves a page
    /// that tries to frame the consent page.
    final class ClientApp: Sendable {
        let arrivals = Mutex<[[String: String]]>([])
        var received: [[String: String]] { arrivals.withLock { $0 } }

        func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
            let router = Router()
            router.get("/cb") { request, _ -> Response in
                var query: [String: String] = [:]
                for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
                self.arrivals.withLock { $0.append(query) }
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/html"],
                    body: .init(byteBuffer: ByteBuffer(string: "<p>back in the app</p>"))
                )
            }
            router.get("/frame") { request, _ -> Response in
                let target = request.uri.queryParameters["src"].map(String.init) ?? ""
                let html = #"<iframe id="consent" src="\#(HTMLText.escape(target))" width="600" height="400"></iframe>"#
                return Response(status: .ok, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: html)))
            }
            return try await serveOnLoopback(router, label: "client app", body)
        }
    }

    static let clientName = #"<img src=x onerror="document.title='owned'"> Evil & Co"#

    @Test(
        "The client name is shown escaped, deny and approve reach the client, and the page refuses to be framed",
        .enabled(if: WebDriver.isInstalled, "needs Debian's chromium and chromium-driver (scripts/install-deps installs them)")
    )
    func consentInChromium() async throws {
        let github = FakeGitHub()
        let clientApp = ClientApp()
        try await github.run { upstream in
            try await clientApp.run { appBase in
                try await GatewayFixture.run(publicScheme: "http") { gateway in
                    try await gateway.application().test(.live) { http in
                        let host = "127.0.0.1:\(try #require(http.port))"
                        try await gateway.parts.tenants.create(
                            TenantInput(
                                id: "acme",
                                displayName: "Acme",
                                hosts: [host],
                                authMode: .oauth,
                                upstream: .init(
                                    kind: .oauth2,
                                    authorizationEndpoint: "\(upstream)/login/oauth/authorize",
                                    tokenEndpoint: "\(upstream)/login/oauth/access_token",
                                    userEndpoint: "\(upstream)/user",
                                    emailsEndpoint: "\(upstream)/user/emails",
                                    clientId: github.clientId,
                                    claims: .init(subject: "id")
                                ),
                                clientSecret: github.clientSecret
                            )
                        )
                        // Registered for a loopback redirect; the port may vary (RFC 8252).
                        let clientId = try await gateway.parts.clients.register(
                            ClientMetadata(
                                redirectUris: ["http://127.0.0.1:5555/cb"],
                                tokenEndpointAuthMethod: "none",
                                grantTypes: ["authorization_code"],
                                responseTypes: ["code"],
                                applicationType: "native",
                                clientName: Self.clientName
                            ),
                            tenant: "acme",
                            from: nil,
                            unusedLifetime: .seconds(3600)
                        ).clientId
                        func authorizeURL(scope: String) -> String {
                            "http://\(host)/oauth/authorize?"
                                + FormBody.encode([
                                    ("response_type", "code"), ("client_id", clientId), ("redirect_uri", "\(appBase)/cb"),
                                    ("code_challenge", PKCE.challenge(for: String(repeating: "v", count: 50))), ("code_challenge_method", "S256"),
                                    ("scope", scope), ("state", "st<a>te"),
                                ])
                        }
                        let authorize = authorizeURL(scope: "mcp:tools")

                        try await WebDriver.run { browser in
                            // Shown escaped: the markup is text, no element was injected, no script ran.
                            try await browser.navigate(to: authorize)
                            let name = try await browser.text(of: try await browser.element("#client-name"))
                            #expect(name == Self.clientName)
                            #expect(try await browser.script("return document.querySelectorAll('img').length") as? Int == 0)
                            #expect(try await browser.script("return document.title") as? String != "owned")

                            // Deny: the client hears access_denied, with its state and our issuer.
                            try await browser.click(try await browser.element("#deny"))
                            try await eventually("the denial reaches the client", timeout: .seconds(20)) { clientApp.received.count == 1 }
                            #expect(clientApp.received[0]["error"] == "access_denied")
                            #expect(clientApp.received[0]["state"] == "st<a>te" && clientApp.received[0]["iss"] == "http://\(host)")

                            // Approve: upstream, back through our callback, and a code for the client.
                            try await browser.navigate(to: authorize)
                            try await browser.click(try await browser.element("#approve"))
                            try await eventually("the code reaches the client", timeout: .seconds(20)) { clientApp.received.count == 2 }
                            let back = clientApp.received[1]
                            #expect(back["code"]?.hasPrefix("mcp_code_") == true && back["state"] == "st<a>te" && back["error"] == nil)
                            #expect(
                                try SealedCode.open(try #require(back["code"]), tenant: "acme", keyRing: gateway.configuration.keyRing).clientId
                                    == clientId
                            )

                            // Framed by another site (asking for more, so that consent is asked): the browser refuses to show it.
                            _ = try await browser.consoleMessages()
                            try await browser.navigate(to: "\(appBase)/frame?" + FormBody.encode([("src", authorizeURL(scope: "mcp:tools email"))]))
                            let messages = Mutex<[String]>([])
                            try await eventually("the browser reports the refused frame", timeout: .seconds(20)) {
                                let new = try await browser.consoleMessages()
                                messages.withLock { $0 += new }
                                return messages.withLock { $0.contains { $0.contains("frame-ancestors 'none'") && $0.contains("blocked") } }
                            }
                            // The frame holds the browser's error page instead of ours.
                            let tree = try await browser.devTools("Page.getFrameTree") as? [String: Any]
                            let child =
                                ((tree?["frameTree"] as? [String: Any])?["childFrames"] as? [[String: Any]])?.first?["frame"] as? [String: Any]
                            #expect(child?["url"] as? String == "chrome-error://chromewebdata/")
                            #expect((child?["unreachableUrl"] as? String)?.contains("/oauth/authorize") == true)
                            #expect(try await browser.script("return document.getElementById('consent').contentDocument") is NSNull)
                        }
                    }
                }
            }
        }
    }
}
