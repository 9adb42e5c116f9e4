import Foundation
import GatehouseEvents
import GatehousePostgres
import GatehouseRuntime
import GatehouseTestSupport
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A directory source that answers from a script and remembers the positions it was asked from.
private final class ScriptedChanges: Sendable {
    private let state = Mutex<(script: [DirectoryChanges<String>], asked: [String?])>(([], []))

    init(_ script: [DirectoryChanges<String>]) {
        state.withLock { $0.script = script }
    }

    func next(since position: String?) -> DirectoryChanges<String> {
        state.withLock { state in
            state.asked.append(position)
            return state.script.isEmpty ? DirectoryChanges(changes: [], position: position ?? "") : state.script.removeFirst()
        }
    }

    var asked: [String?] { state.withLock { $0.asked } }
}

@Suite("Tenant directory")
struct TenantDirectoryTests {
    private typealias Change = DirectoryChanges<String>.Change

    @Test("The directory loads once, then applies only what changed: new, moved and disabled tenants")
    func appliesChanges() async throws {
        let source = ScriptedChanges([
            DirectoryChanges(
                changes: [Change(id: "a", hosts: ["A.test", "shared.test"], record: "a1"), Change(id: "b", hosts: ["b.test"], record: "b1")],
                position: "10"
            ),
            // "a" gives shared.test to "c" (listed first, so the release must not depend on order)
            // and "b" is disabled.
            DirectoryChanges(
                changes: [
                    Change(id: "c", hosts: ["shared.test"], record: "c1"), Change(id: "a", hosts: ["a.test"], record: "a2"),
                    Change(id: "b", hosts: ["b.test"], record: nil),
                ],
                position: "12"
            ),
            // "c" is read again (its writer was still running at the last read): nothing moves.
            DirectoryChanges(changes: [Change(id: "c", hosts: ["shared.test"], record: "c1")], position: "13"),
        ])
        let directory = HostDirectory<String>(maximumAge: .zero) { source.next(since: $0) }

        #expect(try await directory.record(forHost: "a.test") == "a1")
        #expect(try await directory.record(forHost: "shared.test") == "c1")
        #expect(try await directory.record(forHost: "A.TEST") == "a2")
        #expect(try await directory.record(forHost: "b.test") == nil)
        #expect(try await directory.record(forHost: "shared.test") == "c1")
        #expect(try await directory.record(forHost: "unknown.test") == nil)
        #expect(source.asked == [nil, "10", "12", "13", "13", "13"])
    }

    @Test("A fresh directory answers from memory without asking its source")
    func answersFromMemoryWhileFresh() async throws {
        let source = ScriptedChanges([DirectoryChanges(changes: [Change(id: "a", hosts: ["a.test"], record: "a1")], position: "1")])
        let directory = HostDirectory<String>(maximumAge: .seconds(3600)) { source.next(since: $0) }
        #expect(directory.cachedRecord(forHost: "a.test") == nil, "nothing is known before the first read")
        #expect(try await directory.record(forHost: "a.test") == "a1")
        #expect(directory.cachedRecord(forHost: "a.test") == .some("a1"))
        #expect(directory.cachedRecord(forHost: "b.test") == .some(nil))
        #expect(try await directory.record(forHost: "b.test") == nil)
        #expect(source.asked == [nil])
        await directory.invalidate()
        _ = try await directory.record(forHost: "a.test")
        #expect(source.asked == [nil, "1"])
    }

    @Test("The write watermark finds a write whose transaction commits after a later one was read")
    func watermarkSeesLateCommits() async throws {
        let (postgres, _) = try await TestEnvironment.shared.postgresAndBroker()
        let settings = try await postgres.makeDatabase(named: "watermark")
        let logger = testLogger()
        let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
        try await client.whileRunning {
            try await client.query("CREATE TABLE rows (id TEXT PRIMARY KEY, \(unescaped: WriteWatermark.columnDefinition))", logger: logger)
            func written(since watermark: WriteWatermark?) async throws -> Set<String> {
                let rows = try await client.query("SELECT id FROM rows t WHERE \(writtenSince: watermark, alias: "t")", logger: logger)
                return try await rows.decode(String.self).reduce(into: []) { $0.insert($1) }
            }
            var watermark: WriteWatermark?
            try await client.withTransaction(logger: logger) { early in
                // The early transaction writes first and commits last.
                try await early.query("INSERT INTO rows (id) VALUES ('early')", logger: logger)
                try await client.query("INSERT INTO rows (id) VALUES ('late')", logger: logger)
                let mark = try await WriteWatermark.current(client: client, logger: logger)
                #expect(try await written(since: nil) == ["late"])
                watermark = mark
            }
            #expect(try await written(since: watermark).contains("early"), "the late commit is read after the watermark")
            let afterBoth = try await WriteWatermark.current(client: client, logger: logger)
            try await client.query("UPDATE rows SET written_by = pg_current_xact_id() WHERE id = 'late'", logger: logger)
            #expect(try await written(since: afterBoth).contains("late"), "a row written again is read again")
        }
    }
}
