/// Coalesces concurrent requests into one database round trip: while `pipeline` batches are
/// running, the requests that arrive gather into the next batch, which starts when the oldest
/// of them returns. Under load one
/// statement answers many requests (on a 2-core machine a PostgreSQL round trip costs more CPU
/// than the rest of a request); alone, a request runs at once. Nothing is cached: every answer
/// comes from a statement that started after the request was made.
///
/// Requests have keys. For lookups, requests with the same key share one answer (`.share`).
/// For writes that must see each other's effects (two rotations of one grant), a second
/// request with a key already in the open batch waits for a later batch (`.separate`).
public actor Batcher<Request: Sendable, Value: Sendable> {
    public enum Duplicates: Sendable { case share, separate }
    public typealias Run = @Sendable ([Request]) async throws -> [String: Value]

    private final class Batch: @unchecked Sendable {  // only touched on the actor
        var keys: Set<String> = []
        var requests: [Request] = []
        var task: Task<[String: Value], any Error>?
    }

    private let run: Run
    private let duplicates: Duplicates
    private let maximumBatch: Int
    private let deadline: Duration
    private let pipeline: Int
    private var open: Batch?
    private var running: [Task<[String: Value], any Error>] = []

    /// Each batch must finish within `deadline` (then its requests fail with `DeadlineExceeded`).
    public init(
        duplicates: Duplicates,
        maximumBatch: Int = 256,
        pipeline: Int = 1,
        deadline: Duration = APIError.infrastructureDeadline,
        run: @escaping Run
    ) {
        self.run = run
        self.pipeline = pipeline
        self.duplicates = duplicates
        self.maximumBatch = maximumBatch
        self.deadline = deadline
    }

    /// The value the batch's statement gave for `key` (nil: none).
    public func submit(_ request: Request, key: String) async throws -> Value? {
        var batch: Batch
        if let open, open.requests.count < maximumBatch, !(duplicates == .separate && open.keys.contains(key)) {
            batch = open
        } else {
            batch = startBatch()
        }
        if !batch.keys.contains(key) {
            batch.keys.insert(key)
            batch.requests.append(request)
        }
        let task = batch.task!
        return try await task.value[key]
    }

    private func startBatch() -> Batch {
        let batch = Batch()
        open = batch
        let previous = running.count >= pipeline ? running.removeFirst() : nil
        let task = Task { [run, deadline] in
            if let previous { _ = try? await previous.value }
            let requests = self.close(batch)
            return try await withDeadline(deadline) { try await run(requests) }
        }
        batch.task = task
        running.append(task)
        return batch
    }

    /// Stops a batch taking requests and returns them (when its statement starts).
    private func close(_ batch: Batch) -> [Request] {
        if open === batch { open = nil }
        return batch.requests
    }
}
