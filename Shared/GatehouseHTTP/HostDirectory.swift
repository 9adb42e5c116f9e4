import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// Host name → tenant record, loaded whole from the service's own tables and refreshed at most
/// `maximumAge` after a change: admin changes (or projected `tenant.updated` events) take effect
/// without a restart. The loader returns only tenants that may be served; a disabled tenant is
/// not found, exactly like an unknown host (docs/design.md invariant 7: never a default tenant).
public actor HostDirectory<Record: Sendable> {
    public typealias Loader = @Sendable () async throws -> [String: Record]

    private struct Snapshot {
        var byHost: [String: Record] = [:]
        var loadedAt: ContinuousClock.Instant?
    }

    private let load: Loader
    private let maximumAge: Duration
    /// The last load, readable without entering the actor (every request reads it).
    private nonisolated let snapshot = Mutex(Snapshot())
    private var loading: Task<[String: Record], any Error>?

    public init(maximumAge: Duration = .seconds(1), load: @escaping Loader) {
        self.load = load
        self.maximumAge = maximumAge
    }

    /// The answer from the cache when it is fresh (`.some(nil)`: no such tenant); nil when a
    /// load is needed.
    public nonisolated func cachedRecord(forHost host: String) -> Record?? {
        let now = ContinuousClock.now
        return snapshot.withLock { snapshot in
            guard let loadedAt = snapshot.loadedAt, now - loadedAt < maximumAge else { return nil }
            return .some(snapshot.byHost[host.lowercased()])
        }
    }

    public func record(forHost host: String) async throws -> Record? {
        try await current()[host.lowercased()]
    }

    /// Forgets the cache (for example after a change made by this process).
    public func invalidate() {
        snapshot.withLock { $0.loadedAt = nil }
    }

    /// Waits for a load; a waiter's cancellation (its deadline) cancels the load, whose other
    /// waiters then fail too rather than wait on a database that does not answer.
    private static func value(of task: Task<[String: Record], any Error>) async throws -> [String: Record] {
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    private func current() async throws -> [String: Record] {
        if let fresh = cachedMap() { return fresh }
        if let loading { return try await Self.value(of: loading) }
        let task = Task { try await load() }
        loading = task
        defer { loading = nil }
        let map = try await Self.value(of: task)
        snapshot.withLock { $0 = Snapshot(byHost: map, loadedAt: .now) }
        return map
    }

    private func cachedMap() -> [String: Record]? {
        let now = ContinuousClock.now
        return snapshot.withLock { snapshot in
            guard let loadedAt = snapshot.loadedAt, now - loadedAt < maximumAge else { return nil }
            return snapshot.byHost
        }
    }
}

/// Finds the tenant a request is for, from its public origin: unknown or disabled → 404, the
/// directory unavailable → 503.
public struct HostResolver<Record: Sendable>: Sendable {
    public let directory: HostDirectory<Record>
    public let origins: OriginResolver

    public init(directory: HostDirectory<Record>, origins: OriginResolver) {
        self.directory = directory
        self.origins = origins
    }

    public func resolve(_ request: Request, _ context: GatehouseRequestContext) async throws -> (Record, PublicOrigin) {
        // RFC 9112 §3.2: a request with more than one Host is refused (the first became the
        // authority; another left among the fields means the client named two hosts).
        guard request.headers[HTTPField.Name("Host")!] == nil else {
            throw APIError.invalidRequest("The request names more than one Host")
        }
        guard let origin = origins.origin(of: request, remoteAddress: context.remoteAddress) else {
            throw APIError(.notFound, code: .notFound, "No tenant is served at this host")
        }
        var found = directory.cachedRecord(forHost: origin.host)
        if found == nil {
            found = try await APIError.mappingInfrastructureFailures(context.logger, "Tenant lookup failed") {
                try await directory.record(forHost: origin.host)
            }
        }
        guard let record = found ?? nil else { throw APIError(.notFound, code: .notFound, "No tenant is served at this host") }
        return (record, origin)
    }
}
