import Foundation

/// The platform's front door in tests: Debian's nginx with `deploy/nginx/gatehouse.conf.template`,
/// routing a tenant host's paths to the services, over TLS with the certificate that
/// `scripts/test-tls` made (trusted by this machine, valid for the name localhost only).
public final class FrontDoor: Sendable {
    public let port: Int
    public let process: ChildProcess
    let prefix: URL

    /// `https://localhost:<port>`: the origin clients use, and the tenant's host.
    public var origin: String { "https://localhost:\(port)" }
    public var host: String { "localhost:\(port)" }

    public static var tlsDirectory: URL { TestPaths.packageRoot.appendingPathComponent(".gatehouse/test-tls") }

    public init(gateway: [Int], tokenService: [Int], toolHost: [Int]) async throws {
        let tls = Self.tlsDirectory
        guard FileManager.default.fileExists(atPath: tls.appendingPathComponent("server.crt").path) else {
            throw TestSupportError("no test certificate: run scripts/test-tls (scripts/test does)")
        }
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-nginx-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: prefix, withIntermediateDirectories: true)
        let port = try freeTCPPort()
        func servers(_ ports: [Int]) -> String { ports.map { "        server 127.0.0.1:\($0);" }.joined(separator: "\n") }
        var text = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("deploy/nginx/gatehouse.conf.template"), encoding: .utf8)
        let values = [
            "USER": getuid() == 0 ? "user root;" : "",
            "PREFIX": prefix.path,
            "LISTEN": "127.0.0.1:\(port) ssl",
            "TLS":
                "        ssl_certificate \(tls.appendingPathComponent("server.crt").path);\n        ssl_certificate_key \(tls.appendingPathComponent("server.key").path);",
            "GATEWAY_SERVERS": servers(gateway), "TOKEN_SERVICE_SERVERS": servers(tokenService), "TOOL_HOST_SERVERS": servers(toolHost),
        ]
        for (name, value) in values { text = text.replacingOccurrences(of: "{{\(name)}}", with: value) }
        let configuration = prefix.appendingPathComponent("nginx.conf")
        try text.write(to: configuration, atomically: true, encoding: .utf8)
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let nginx else { throw TestSupportError("nginx is not installed (scripts/install-deps installs it)") }
        process = try ChildProcess(
            executable: URL(fileURLWithPath: nginx),
            arguments: ["-p", prefix.path, "-c", configuration.path],
            name: "nginx",
            captureStandardError: true
        )
        self.port = port
        self.prefix = prefix
        try await eventually("nginx listening on \(port)", timeout: .seconds(20), interval: .milliseconds(50)) {
            guard process.isRunning else { throw TestSupportError("nginx exited: \(process.output.suffix(5))") }
            return accepts(port: port)
        }
    }

    public var errorLog: String { prefix.appendingPathComponent("error.log").path }

    public func stop() async {
        await process.terminate(timeout: .seconds(10))
        try? FileManager.default.removeItem(at: prefix)
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func accepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
