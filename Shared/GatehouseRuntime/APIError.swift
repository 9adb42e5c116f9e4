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

    /// Runs `body`; any error it throws is an infrastructure failure (the callers' own
    /// validation happens outside): logged with `message`, answered with 503.
    public static func mappingInfrastructureFailures<T: Sendable>(_ logger: Logger, _ message: Logger.Message,
                                                                  _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
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
