import Foundation
import Hummingbird
import Logging

/// One dependency the service needs to be useful (PostgreSQL, Kafka).
public struct ReadinessCheck: Sendable {
    public var name: String
    public var check: @Sendable () async throws -> Void

    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }
}

/// `/health/live` (the process answers) and `/health/ready` (its dependencies answer).
public enum HealthRoutes {
    public static func add<Context: RequestContext>(to router: Router<Context>, checks: [ReadinessCheck], timeout: Duration = .seconds(2)) {
        router.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/health/ready") { _, context -> Response in
            var results: [String: String] = [:]
            await withTaskGroup(of: (String, String).self) { group in
                for check in checks {
                    group.addTask {
                        do {
                            try await withDeadline(timeout) { try await check.check() }
                            return (check.name, "ok")
                        } catch {
                            return (check.name, "unavailable")
                        }
                    }
                }
                for await (name, state) in group { results[name] = state }
            }
            let ready = results.values.allSatisfy { $0 == "ok" }
            if !ready { context.logger.warning("Not ready", metadata: ["checks": "\(results)"]) }
            let body = try JSONSerialization.data(withJSONObject: ["status": ready ? "ok" : "unavailable", "checks": results], options: .sortedKeys)
            var headers: HTTPFields = [.contentType: "application/json"]
            if !ready { headers[.retryAfter] = "5" }
            return Response(status: ready ? .ok : .serviceUnavailable, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
