import PostgresNIO

extension PostgresClient {
    /// Runs the client's pool while `body` runs, for short-lived users (migrations, tests,
    /// benchmarks). Long-lived services put the client in their `ServiceGroup` instead.
    /// A client runs once in its life, so each call needs a fresh client.
    public func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}
