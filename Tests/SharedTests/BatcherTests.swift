import GatehouseRuntime
import Synchronization
import Testing

/// The batcher the token service puts in front of its hot statements.
@Suite("Batcher")
struct BatcherTests {
    final class Runs: Sendable {
        let batches = Mutex<[[String]]>([])
        func record(_ keys: [String]) { batches.withLock { $0.append(keys) } }
        var all: [[String]] { batches.withLock { $0 } }
    }

    @Test("Concurrent requests share batches; each gets the answer for its own key, and a missing key is nil")
    func coalesces() async throws {
        let runs = Runs()
        let batcher = Batcher<String, String>(duplicates: .share) { keys in
            runs.record(keys)
            try await Task.sleep(for: .milliseconds(20))
            return Dictionary(uniqueKeysWithValues: keys.filter { $0 != "missing" }.map { ($0, "value of \($0)") })
        }
        let answers = try await withThrowingTaskGroup(of: (String, String?).self) { group in
            for index in 0..<100 { group.addTask { ("k\(index % 50)", try await batcher.submit("k\(index % 50)", key: "k\(index % 50)")) } }
            group.addTask { ("missing", try await batcher.submit("missing", key: "missing")) }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 101)
        #expect(answers.allSatisfy { key, value in key == "missing" ? value == nil : value == "value of \(key)" })
        #expect(runs.all.count < 20)
        #expect(runs.all.allSatisfy { Set($0).count == $0.count })
    }

    @Test("With .separate, a key already in the open batch waits for a later batch")
    func separatesDuplicates() async throws {
        let runs = Runs()
        let batcher = Batcher<Int, Int>(duplicates: .separate) { requests in
            runs.record(requests.map(String.init))
            try await Task.sleep(for: .milliseconds(20))
            return ["grant": requests.count]
        }
        _ = try await withThrowingTaskGroup(of: Int?.self) { group in
            for index in 0..<5 { group.addTask { try await batcher.submit(index, key: "grant") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.all.count == 5)
        #expect(runs.all.allSatisfy { $0.count == 1 })
    }

    @Test("A failing or stuck statement fails every request of its batch; later batches run")
    func failuresAndDeadline() async throws {
        struct Broken: Error {}
        let calls = Mutex(0)
        let batcher = Batcher<String, Int>(duplicates: .share, deadline: .seconds(2)) { keys in
            let call = calls.withLock {
                $0 += 1
                return $0
            }
            if call == 1 { throw Broken() }
            if call == 2 { try await Task.sleep(for: .seconds(30)) }
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, 1) })
        }
        await #expect(throws: Broken.self) { try await batcher.submit("a", key: "a") }
        await #expect(throws: DeadlineExceeded.self) { try await batcher.submit("b", key: "b") }
        #expect(try await batcher.submit("c", key: "c") == 1)
    }
}
