import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// An error answered as JSON `{"error": code, "error_description": text}` with an HTTP status
/// (the shape of OAuth error responses, used by every Gatehouse API). The description is for
/// the caller and never carries a secret.
public struct APIError: HTTPResponseError, CustomStringConvertible, Equatable {
    public var status: HTTPResponse.Status
    public var code: Code
    public var detail: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: Code, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(detail)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONBody.response(["error": code.rawValue, "error_description": detail], status: status)
        for field in headers { response.headers.append(field) }
        response.headers[.cacheControl] = "no-store"
        return response
    }

    public static func invalidRequest(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidRequest, detail) }
    public static func notFound(_ detail: String) -> APIError { APIError(.notFound, code: .notFound, detail) }
    /// Our infrastructure failed (database, upstream): try again later; never a client error.
    public static let temporarilyUnavailable = APIError(
        .serviceUnavailable,
        code: .temporarilyUnavailable,
        "The service is temporarily unavailable; try again shortly",
        headers: [.retryAfter: "5"]
    )

    /// 429 `slow_down` with `Retry-After` in whole seconds (at least one).
    public static func tooManyRequests(_ detail: String, retryAfter wait: Duration) -> APIError {
        let seconds = max(1, Int((wait / .seconds(1)).rounded(.up)))
        return APIError(.tooManyRequests, code: .slowDown, detail, headers: [.retryAfter: String(seconds)])
    }

    /// How long a request waits on PostgreSQL or an upstream before it is an outage: the pool
    /// keeps trying to connect to a stopped server, and the client must hear 503, not wait.
    public static let infrastructureDeadline: Duration = .seconds(5)

    /// Runs `body` under `infrastructureDeadline`; any error it throws, or running out of
    /// time, is an infrastructure failure (the callers' own validation happens outside):
    /// logged with `message`, answered with 503.
    /// (`deadline: nil` for work that has its own, such as a `Batcher`'s.)
    public static func mappingInfrastructureFailures<T: Sendable>(
        _ logger: Logger,
        _ message: Logger.Message,
        deadline: Duration? = infrastructureDeadline,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            guard let deadline else { return try await body() }
            return try await withDeadline(deadline, body)
        } catch {
            logger.error(message, metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
    }
}

/// JSON bodies as Gatehouse writes them: snake_case keys, ISO 8601 dates, sorted keys.
public enum JSONBody {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Reads what `encoder()` writes (request bodies, documents stored as JSON).
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp")
            }
            return date
        }
        return decoder
    }

    public static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder().encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// Thrown by `withDeadline` when the time ran out.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var description: String { "the operation did not finish in time" }
}

/// Runs `body` and returns its result, or throws `DeadlineExceeded` once `deadline` has passed,
/// whichever comes first. On the deadline `body` is cancelled and no longer waited for: a call
/// that ignores cancellation cannot hold the caller. (PostgresNIO can leave a statement's
/// future unanswered when its connection closes under it, as when PostgreSQL restarts; with a
/// task group the caller would wait for that child forever.)
public func withDeadline<T: Sendable>(_ deadline: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = FirstOutcome<T>()
    let work = Task {
        do {
            race.finish(.success(try await body()))
        } catch {
            race.finish(.failure(error))
        }
    }
    // An event-loop timer rather than a sleeping task: this runs for every storage call.
    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(deadline)) {
        if race.finish(.failure(DeadlineExceeded())) { work.cancel() }
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { race.begin($0) }
    } onCancel: {
        work.cancel()
    }
}

/// Resumes a continuation with the first outcome offered, once.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, result: Result<T, any Error>?)>((nil, nil))

    func begin(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// True when this outcome was the first.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (first, continuation): (Bool, CheckedContinuation<T, any Error>?) = state.withLock { state in
            guard state.result == nil else { return (false, nil) }
            state.result = result
            defer { state.continuation = nil }
            return (true, state.continuation)
        }
        continuation?.resume(with: result)
        return first
    }
}
