import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A real headless browser for tests: Debian's Chromium driven through chromedriver's W3C
/// WebDriver HTTP API. Each `WebDriver` starts its own chromedriver and browser session and
/// ends both when done.
public final class WebDriver: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let driver: ChildProcess
    private let base: String
    private let session: String

    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
    }

    /// Runs `body` with a fresh headless browser.
    public static func run<T: Sendable>(_ body: (WebDriver) async throws -> T) async throws -> T {
        let port = try freeTCPPort()
        let driver = try ChildProcess(
            executable: URL(fileURLWithPath: "/usr/bin/chromedriver"),
            arguments: ["--port=\(port)"],
            name: "chromedriver",
            captureStandardError: true
        )
        let base = "http://127.0.0.1:\(port)"
        do {
            try await eventually("chromedriver listening", timeout: .seconds(30), interval: .milliseconds(100)) {
                (try? await Self.call(base, "GET", "/status")) != nil
            }
            let capabilities: [String: Any] = [
                "capabilities": [
                    "alwaysMatch": [
                        "browserName": "chrome",
                        "goog:chromeOptions": [
                            "binary": "/usr/bin/chromium",
                            "args": [
                                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                "--no-first-run", "--window-size=1024,768",
                            ],
                        ],
                        "goog:loggingPrefs": ["browser": "ALL"],
                    ]
                ]
            ]
            let created = try await Self.call(base, "POST", "/session", capabilities)
            guard let session = (created as? [String: Any])?["sessionId"] as? String else { throw Failure(description: "no session: \(created)") }
            let browser = WebDriver(driver: driver, base: base, session: session)
            do {
                let result = try await body(browser)
                _ = try? await Self.call(base, "DELETE", "/session/\(session)")
                _ = await driver.terminate(timeout: .seconds(10))
                return result
            } catch {
                _ = try? await Self.call(base, "DELETE", "/session/\(session)")
                throw error
            }
        } catch {
            _ = await driver.terminate(timeout: .seconds(10))
            throw error
        }
    }

    private init(driver: ChildProcess, base: String, session: String) {
        self.driver = driver
        self.base = base
        self.session = session
    }

    public func navigate(to url: String) async throws {
        _ = try await command("POST", "/url", ["url": url])
    }

    public func currentURL() async throws -> String {
        try await command("GET", "/url") as? String ?? ""
    }

    /// The element matching a CSS selector (its WebDriver reference).
    public func element(_ selector: String) async throws -> String {
        let found = try await command("POST", "/element", ["using": "css selector", "value": selector])
        guard let reference = (found as? [String: Any])?.values.first as? String else { throw Failure(description: "no element \(selector)") }
        return reference
    }

    public func text(of element: String) async throws -> String {
        try await command("GET", "/element/\(element)/text") as? String ?? ""
    }

    public func click(_ element: String) async throws {
        _ = try await command("POST", "/element/\(element)/click", [:])
    }

    /// Runs JavaScript in the page and returns its result.
    public func script(_ source: String) async throws -> Any {
        try await command("POST", "/execute/sync", ["script": source, "args": []])
    }

    /// The page's source as the browser holds it.
    public func source() async throws -> String {
        try await command("GET", "/source") as? String ?? ""
    }

    /// The browser console's messages since the last call (Chromium's log endpoint).
    public func consoleMessages() async throws -> [String] {
        let entries = try await Self.call(base, "POST", "/session/\(session)/se/log", ["type": "browser"]) as? [[String: Any]] ?? []
        return entries.compactMap { $0["message"] as? String }
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    public func devTools(_ command: String, _ parameters: [String: Any] = [:]) async throws -> Any {
        try await self.command("POST", "/goog/cdp/execute", ["cmd": command, "params": parameters])
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        try await Self.call(base, method, "/session/\(session)\(path)", body)
    }

    private static func call(_ base: String, _ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        var request = HTTPClientRequest(url: base + path)
        request.method = HTTPMethod(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8)) as? [String: Any] ?? [:]
        let value = json["value"] ?? NSNull()
        if response.status.code >= 400 { throw Failure(description: "\(method) \(path): \(value)") }
        return value
    }
}
