import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// What changed in a host directory's source since the position it was last read at.
public struct DirectoryChanges<Record: Sendable>: Sendable {
    /// One tenant as it is now: its hosts, and its record, or nil when it may not be served
    /// (disabled).
    public struct Change: Sendable {
        public var id: String
        public var hosts: [String]
        public var record: Record?

        public init(id: String, hosts: [String], record: Record?) {
            self.id = id
            self.hosts = hosts
            self.record = record
        }
    }

    public var changes: [Change]
    /// Where the next read starts; opaque to the directory.
    public var position: String

    public init(changes: [Change], position: String) {
        self.changes = changes
        self.position = position
    }
}

/// Host name → tenant record, kept from the service's own tables. The first lookup loads every
/// tenant; after that, at most `maximumAge` after the last check, a lookup asks the source only
/// for what changed since (admin changes, or projected `tenant.updated` events, take effect
/// without a restart, and ten thousand tenants are not read again on every change). A disabled
/// tenant is not found, exactly like an unknown host (docs/design.md invariant 7: never a
/// default tenant).
public actor HostDirectory<Record: Sendable> {
    /// Reads what changed after `position` (everything when it is nil).
    public typealias Loader = @Sendable (_ position: String?) async throws -> DirectoryChanges<Record>

    private struct Snapshot {
        struct Entry {
            var tenant: String
            var record: Record
        }

        var byHost: [String: Entry] = [:]
        var hostsByTenant: [String: [String]] = [:]
        var position: String?
        var checkedAt: ContinuousClock.Instant?

        /// Whether the source was asked less than `maximumAge` before `now`.
        func isFresh(at now: ContinuousClock.Instant, maximumAge: Duration) -> Bool {
            checkedAt.map { now - $0 < maximumAge } ?? false
        }

        mutating func apply(_ changes: DirectoryChanges<Record>) {
            // Release every changed tenant's hosts first, so a host that moves between two
            // tenants in one batch ends up with its new owner whatever the order.
            for change in changes.changes {
                for host in hostsByTenant.removeValue(forKey: change.id) ?? [] where byHost[host]?.tenant == change.id {
                    byHost[host] = nil
                }
            }
            for change in changes.changes {
                guard let record = change.record else { continue }
                let hosts = change.hosts.map { $0.lowercased() }
                hostsByTenant[change.id] = hosts
                for host in hosts { byHost[host] = Entry(tenant: change.id, record: record) }
            }
            position = changes.position
        }
    }

    private let load: Loader
    private let maximumAge: Duration
    /// The directory as last read, readable without entering the actor (every request reads it).
    private nonisolated let snapshot = Mutex(Snapshot())
    private var loading: Task<Void, any Error>?

    public init(maximumAge: Duration = .seconds(1), load: @escaping Loader) {
        self.load = load
        self.maximumAge = maximumAge
    }

    /// The answer from the cache when it is fresh (`.some(nil)`: no such tenant); nil when the
    /// source must be asked first.
    public nonisolated func cachedRecord(forHost host: String) -> Record?? {
        let now = ContinuousClock.now
        return snapshot.withLock { snapshot in
            guard snapshot.isFresh(at: now, maximumAge: maximumAge) else { return nil }
            return .some(snapshot.byHost[host.lowercased()]?.record)
        }
    }

    public func record(forHost host: String) async throws -> Record? {
        try await refreshIfStale()
        return snapshot.withLock { $0.byHost[host.lowercased()]?.record }
    }

    /// Makes the next lookup ask the source (for example after a change made by this process).
    public func invalidate() {
        snapshot.withLock { $0.checkedAt = nil }
    }

    /// Waits for a read; a waiter's cancellation (its deadline) cancels the read, whose other
    /// waiters then fail too rather than wait on a database that does not answer.
    private static func value(of task: Task<Void, any Error>) async throws {
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    private func refreshIfStale() async throws {
        let now = ContinuousClock.now
        if snapshot.withLock({ $0.isFresh(at: now, maximumAge: maximumAge) }) { return }
        if let loading { return try await Self.value(of: loading) }
        let position = snapshot.withLock { $0.position }
        // The read applies its own result, so that every waiter sees it when the task ends.
        let task = Task { [load] in
            let changes = try await load(position)
            self.snapshot.withLock { snapshot in
                snapshot.apply(changes)
                snapshot.checkedAt = now
            }
        }
        loading = task
        defer { loading = nil }
        try await Self.value(of: task)
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

    public func resolve(_ request: Request, _ context: some RemoteAddressRequestContext) async throws -> (Record, PublicOrigin) {
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
