import GatehouseRuntime
import GatehouseTestSupport
import Synchronization
import Testing

/// `withDeadline`, which bounds every storage call a request makes.
@Suite("Deadline")
struct DeadlineTests {
    struct Broken: Error {}

    @Test("The body's value and its error come through unchanged")
    func passesThrough() async throws {
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
        await #expect(throws: Broken.self) { try await withDeadline(.seconds(5)) { () async throws -> Int in throw Broken() } }
    }

    @Test("A body that ignores cancellation does not hold the caller past the deadline")
    func abandonsAStuckBody() async throws {
        // The body waits for a callback that comes only when the test releases it, and ignores
        // cancellation (like a statement whose connection closed under it).
        let release = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let finished = Atomic<Bool>(false)
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50)) {
                await withCheckedContinuation { continuation in release.withLock { $0 = continuation } }
                finished.store(true, ordering: .sequentiallyConsistent)
            }
        }
        // The caller got its answer while the body was still waiting.
        #expect(finished.load(ordering: .sequentiallyConsistent) == false)
        try await eventually("the body started") { release.withLock { $0 != nil } }
        release.withLock { $0?.resume() }
    }
}
