import Foundation

/// A real third-party MCP server as a proxied tenant's upstream: the sample server in
/// `examples/python-mcp-server` or one in `Tests/Upstreams`, run with the Python environment `scripts/python-env` made, trusting the
/// test CA so it can fetch the tenant's JWKS through the TLS front door.
public final class PythonUpstream: Sendable {
    public let port: Int
    public let process: ChildProcess

    /// The URL a tenant proxies to, which is also the audience of its assertions.
    public var url: String { "http://127.0.0.1:\(port)/mcp" }

    /// `script`: its path in the repository; `issuer`: the tenant's origin.
    public init(script: String, issuer: String, arguments extra: [String] = []) async throws {
        let python = TestPaths.packageRoot.appendingPathComponent(".gatehouse/python/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw TestSupportError("no Python test environment: run scripts/python-env (scripts/test does)")
        }
        let port = try freeTCPPort()
        let path = TestPaths.packageRoot.appendingPathComponent(script).path
        process = try ChildProcess(
            executable: python,
            arguments: [
                path, "--port", String(port), "--issuer", issuer, "--jwks-url", issuer + "/oauth/jwks", "--audience",
                "http://127.0.0.1:\(port)/mcp",
            ] + extra,
            environment: [
                "SSL_CERT_FILE": FrontDoor.tlsDirectory.appendingPathComponent("ca.crt").path, "PYTHONUNBUFFERED": "1",
            ],
            name: URL(fileURLWithPath: script).lastPathComponent,
            captureStandardError: true
        )
        self.port = port
        try await eventually("\(script) listening on \(port)", timeout: .seconds(60), interval: .milliseconds(100)) { [process] in
            guard process.isRunning else { throw TestSupportError("\(script) exited: \(process.output.suffix(10))") }
            return accepts(port: port)
        }
    }

    public func stop() async { await process.terminate(timeout: .seconds(10)) }
}

/// A Python MCP SDK client script (`script`: its path in the repository): runs it and returns
/// the JSON object it prints.
public func runPythonClient(_ script: String, arguments: [String], timeout: Duration = .seconds(60)) async throws -> [String: Any] {
    let python = TestPaths.packageRoot.appendingPathComponent(".gatehouse/python/bin/python")
    let process = try ChildProcess(
        executable: python,
        arguments: [TestPaths.packageRoot.appendingPathComponent("\(script)").path] + arguments,
        environment: ["SSL_CERT_FILE": FrontDoor.tlsDirectory.appendingPathComponent("ca.crt").path],
        name: script,
        captureStandardError: true
    )
    let line = try await process.waitForLine(timeout: timeout) { $0.hasPrefix("{") }
    await process.terminate(timeout: .seconds(5))
    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw TestSupportError("\(script) printed no JSON object: \(line)")
    }
    return object
}
