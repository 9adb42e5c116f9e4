import Foundation
import GatehouseTestSupport
import Testing

/// docker-compose.yml and deploy/kubernetes, checked without an engine or a cluster by
/// `scripts/check-deploy` (the Compose Specification's schema, scaling, environment wiring,
/// probes, autoscalers, migrations, ingress routes); and the checker is shown to catch each
/// kind of mistake.
@Suite("Deployment files")
struct DeploymentFilesTests {
    static func check(_ arguments: [String] = []) async throws -> (status: Int32, output: String) {
        let process = try ChildProcess(
            executable: URL(fileURLWithPath: "/usr/bin/env"),
            arguments: ["python3", TestPaths.packageRoot.appendingPathComponent("scripts/check-deploy").path] + arguments,
            name: "check-deploy",
            captureStandardError: true
        )
        // Its last line is the verdict.
        _ = try await process.waitForLine(timeout: .seconds(60)) { $0.hasPrefix("deploy files:") }
        await process.waitForExit()
        return (process.terminationStatus, process.output.joined(separator: "\n"))
    }

    @Test("The compose file and the Kubernetes manifests pass the checks")
    func shippedFilesPass() async throws {
        let result = try await Self.check()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasSuffix("deploy files: ok"))
    }

    @Test("A fixed host port on a scaled service, a variable no service reads, and a missing probe are each reported")
    func mistakesAreCaught() async throws {
        let root = TestPaths.packageRoot
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-deploy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        var compose = try String(contentsOf: root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        compose = compose.replacingOccurrences(
            of: "    command: [\"gatehouse-token-service\"]\n",
            with: "    command: [\"gatehouse-token-service\"]\n    ports: [\"8082:8082\"]\n"
        )
        compose = compose.replacingOccurrences(
            of: "      GATEHOUSE_TOKEN_SERVICE_URL: http://token-service:8082\n",
            with: "      GATEHOUSE_TOKEN_SERVICE_URL: http://token-service:8082\n      GATEHOUSE_TOKEN_SERVCE_URL: typo\n"
        )
        try compose.write(to: work.appendingPathComponent("compose.yml"), atomically: true, encoding: .utf8)

        let manifests = work.appendingPathComponent("kubernetes")
        try FileManager.default.copyItem(at: root.appendingPathComponent("deploy/kubernetes"), to: manifests)
        let toolHost = manifests.appendingPathComponent("tool-host.yaml")
        try String(contentsOf: toolHost, encoding: .utf8).replacingOccurrences(of: "path: /health/live", with: "path: /healthz")
            .write(to: toolHost, atomically: true, encoding: .utf8)

        let result = try await Self.check(["--compose", work.appendingPathComponent("compose.yml").path, "--kubernetes", manifests.path])
        #expect(result.status == 1)
        #expect(result.output.contains("token-service publishes host port 8082:8082, so it cannot scale"), "\(result.output)")
        #expect(result.output.contains("mcp-tool-host sets GATEHOUSE_TOKEN_SERVCE_URL, which gatehouse-tool-host does not read"), "\(result.output)")
        #expect(result.output.contains("Deployment tool-host: livenessProbe must GET /health/live"), "\(result.output)")
        #expect(result.output.hasSuffix("deploy files: 3 problem(s)"), "\(result.output)")
    }
}
