import Foundation
import GatehousePostgres
import Logging
import PostgresNIO

/// A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `pg_ctl` on a free
/// loopback port. Both refuse to run as root, so as root they run as the `postgres` user.
/// A watchdog shell stops the server and removes the directory when the test process exits.
public final class TestPostgres: Sendable {
    public let directory: String
    public let port: Int
    public let username = "gatehouse"
    private let binDirectory: String
    private let runAsPostgres: Bool
    private let durable: Bool

    /// Starts a new cluster on a thread of its own: initdb and pg_ctl block, and a blocked
    /// cooperative thread (two on a 2-core machine) stalls every other test's tasks.
    public static func make(durable: Bool = false) async throws -> TestPostgres {
        try await onThread { try TestPostgres(durable: durable) }
    }

    /// Starts a new cluster, blocking the calling thread. `durable: false` turns fsync off
    /// (tests); benchmarks keep it on.
    public init(durable: Bool = false) throws {
        binDirectory = try Self.findBinDirectory()
        runAsPostgres = geteuid() == 0
        self.durable = durable
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-pg-\(UUID().uuidString.prefix(8))").path
        directory = base
        port = try freeTCPPort()
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        if runAsPostgres {
            try Self.shell("chown postgres:postgres \(base)")
        }
        try runTool("initdb", ["-D", "\(base)/data", "-U", username, "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        try startBlocking()
        try startWatchdog()
    }

    /// Starts the server again after `stop()`.
    public func start() async throws {
        try await Self.onThread { try self.startBlocking() }
    }

    /// Stops the server (`fast`: disconnects clients, like a crash from their point of view).
    public func stop() async throws {
        try await Self.onThread { try self.stopBlocking() }
    }

    private func startBlocking() throws {
        var options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=500"
        if !durable { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
        try runTool("pg_ctl", ["-D", "\(directory)/data", "-o", options, "-l", "\(directory)/server.log", "-w", "-t", "60", "start"])
    }

    private func stopBlocking() throws {
        try runTool("pg_ctl", ["-D", "\(directory)/data", "-m", "fast", "-w", "stop"])
    }

    /// Stops the server (`fast`), leaves it down for `downFor`, and starts it again.
    public func restart(downFor: Duration) async throws {
        try await stop()
        try await Task.sleep(for: downFor)
        try await start()
    }

    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            Thread {
                do {
                    continuation.resume(returning: try work())
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    /// Settings for a new, empty database on this cluster.
    /// A new, empty database. `maximumConnections`: its clients' pool (see below).
    public func makeDatabase(named prefix: String = "test", maximumConnections: Int = 10) async throws -> PostgresSettings {
        precondition(prefix.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }, "a database name is a plain identifier")
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = PostgresSettings(host: "127.0.0.1", port: port, username: username, database: "postgres")
        let connection = try await PostgresConnection.connect(
            configuration: admin.connectionConfiguration,
            id: 1,
            logger: Logger(label: "test-postgres")
        )
        do {
            try await connection.query("CREATE DATABASE \(unescaped: name)", logger: Logger(label: "test-postgres"))
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        // Every suite runs at once, each test on a database of its own: a pool of 10 per test
        // keeps the whole run within the shared server's connections (500), with room for the
        // services the system tests start. Tests that stop a cluster of their own keep 20: a
        // pool whose every slot is backing off from failed connects waits for a slot's timer
        // once the server is back, and a larger pool still has an unused slot to connect at once.
        return PostgresSettings(host: "127.0.0.1", port: port, username: username, database: name, maximumConnections: maximumConnections)
    }

    private func runTool(_ tool: String, _ arguments: [String]) throws {
        let path = "\(binDirectory)/\(tool)"
        if runAsPostgres {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        } else {
            try Self.run(path, arguments)
        }
    }

    /// Stops the server and deletes its files once the test process is gone.
    private func startWatchdog() throws {
        let stop =
            runAsPostgres
            ? "/usr/sbin/runuser -u postgres -- \(binDirectory)/pg_ctl -D \(directory)/data -m immediate stop"
            : "\(binDirectory)/pg_ctl -D \(directory)/data -m immediate stop"
        // Waits until the test process is gone or a zombie (its parent may wait for our pipes).
        let pid = getpid()
        let script = """
            while [ -d /proc/\(pid) ] && ! grep -q '^State:[[:space:]]*Z' /proc/\(pid)/status 2>/dev/null; do sleep 1; done; \
            \(stop) >/dev/null 2>&1; rm -rf \(directory)
            """
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        watchdog.arguments = ["/bin/sh", "-c", script]
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
    }

    private static func findBinDirectory() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["GATEHOUSE_PG_BIN"] { return configured }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        if let newest = versions.compactMap(Int.init).max() { return "\(root)/\(newest)/bin" }
        throw TestSupportError("no PostgreSQL server found under \(root); install the postgresql package")
    }

    private static func shell(_ command: String) throws {
        try run("/bin/sh", ["-c", command])
    }

    /// Runs a tool to completion with posix_spawn and waitpid. Its output goes to a file.
    /// (Foundation's `Process` is not used here: it notices a child's exit only when every
    /// descendant has closed an inherited descriptor, and `pg_ctl start` leaves a server running.)
    private static func run(_ executable: String, _ arguments: [String]) throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-tool-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Through a shell that closes every inherited descriptor above 2 first: a server started
        // by pg_ctl must not keep the test process's pipes open.
        let closeAndExec = #"for fd in $(ls /proc/self/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$@""#
        let argv = (["/bin/bash", "-c", closeAndExec, "bash", executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestSupportError("cannot start \(executable): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw TestSupportError("\(executable) \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
    }
}
