import Foundation
import Synchronization

/// A dedicated OS thread that runs blocking librdkafka calls one at a time, so that they never
/// occupy Swift's cooperative pool or Dispatch's global queues.
final class BlockingWorker: Sendable {
    private let queue = JobQueue()

    init(name: String) {
        let thread = Thread { [queue] in
            while let job = queue.next() { job() }
        }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the worker thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = queue.push { continuation.resume(with: Result { try body() }) }
            if !accepted {
                continuation.resume(throwing: KafkaError(code: .closed, reason: "the Kafka client is shut down"))
            }
        }
    }

    /// Lets queued jobs finish, then ends the thread.
    func stop() { queue.close() }
}

/// A FIFO of jobs with a blocking `next()`.
private final class JobQueue: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var closed = false
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)

    func push(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
        return accepted
    }

    func close() {
        state.withLock { $0.closed = true }
        available.signal()
    }

    /// Blocks until a job is queued; nil once closed and drained.
    func next() -> (@Sendable () -> Void)? {
        while true {
            available.wait()
            let (job, closed) = state.withLock { state in
                (state.jobs.isEmpty ? nil : state.jobs.removeFirst(), state.closed)
            }
            if let job { return job }
            if closed {
                available.signal()  // let later waiters see the close too
                return nil
            }
        }
    }
}
