import Foundation
import Hummingbird
import Logging

/// An error answered as JSON `{"error": code, "error_description": text}` with an HTTP status
/// (the shape of OAuth error responses, used by every Gatehouse API). The description is for
/// the caller and never carries a secret.
public struct APIError: HTTPResponseError, CustomStringConvertible, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var detail: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(detail)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONBody.response(["error": code, "error_description": detail], status: status)
        for field in headers { response.headers.append(field) }
        response.headers[.cacheControl] = "no-store"
        return response
    }

    public static func invalidRequest(_ detail: String) -> APIError { APIError(.badRequest, code: "invalid_request", detail) }
    public static func notFound(_ detail: String) -> APIError { APIError(.notFound, code: "not_found", detail) }
    /// Our infrastructure failed (database, upstream): try again later; never a client error.
    public static let temporarilyUnavailable = APIError(.serviceUnavailable, code: "temporarily_unavailable",
                                                        "The service is temporarily unavailable; try again shortly",
                                                        headers: [.retryAfter: "5"])

    /// 429 `slow_down` with `Retry-After` in whole seconds (at least one).
    public static func tooManyRequests(_ detail: String, retryAfter wait: Duration) -> APIError {
        let seconds = max(1, Int((wait / .seconds(1)).rounded(.up)))
        return APIError(.tooManyRequests, code: "slow_down", detail, headers: [.retryAfter: String(seconds)])
    }

    /// How long a request waits on PostgreSQL or an upstream before it is an outage: the pool
    /// keeps trying to connect to a stopped server, and the client must hear 503, not wait.
    public static let infrastructureDeadline: Duration = .seconds(5)

    /// Runs `body` under `infrastructureDeadline`; any error it throws, or running out of
    /// time, is an infrastructure failure (the callers' own validation happens outside):
    /// logged with `message`, answered with 503.
    /// (`deadline: nil` for work that has its own, such as a `Batcher`'s.)
    public static func mappingInfrastructureFailures<T: Sendable>(_ logger: Logger, _ message: Logger.Message,
                                                                  deadline: Duration? = infrastructureDeadline,
                                                                  _ body: @Sendable () async throws -> T) async throws -> T {
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
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Thrown by `withDeadline` when the time ran out.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var description: String { "the operation did not finish in time" }
}

/// Runs `body`, cancelling it when `deadline` passes first (PostgresNIO and AsyncHTTPClient stop
/// waiting on cancellation).
public func withDeadline<T: Sendable>(_ deadline: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
    try await withoutActuallyEscaping(body) { body in
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
            return value
        }
    }
}
