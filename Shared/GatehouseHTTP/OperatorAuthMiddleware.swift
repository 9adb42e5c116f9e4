import Crypto
import GatehouseCrypto
import Hummingbird

/// Lets a request through only with `Authorization: Bearer <operator token>`: the admin API's
/// authentication. The token is compared through SHA-256 digests in constant time, so neither
/// its length nor a prefix leaks through timing. Without a configured token every request is
/// refused: the admin API is closed, not open.
public struct OperatorAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    private let expectedDigest: [UInt8]?

    public init(token: OperatorToken?) {
        expectedDigest = token.map { Array(SHA256.hash(data: Array($0.value.utf8))) }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let expectedDigest else {
            throw APIError(
                .unauthorized,
                code: .unauthorized,
                "The admin API is disabled: no operator token is configured",
                headers: [.wwwAuthenticate: #"Bearer realm="gatehouse-admin""#]
            )
        }
        guard let token = request.bearerToken else {
            throw APIError(
                .unauthorized,
                code: .unauthorized,
                "An operator bearer token is required",
                headers: [.wwwAuthenticate: #"Bearer realm="gatehouse-admin""#]
            )
        }
        let presented = Array(SHA256.hash(data: Array(token.utf8)))
        guard constantTimeEqual(presented, expectedDigest) else {
            throw APIError(
                .unauthorized,
                code: .unauthorized,
                "The operator token is not valid",
                headers: [.wwwAuthenticate: #"Bearer realm="gatehouse-admin", error="invalid_token""#]
            )
        }
        return try await next(request, context)
    }
}

/// The operator's secret for the admin API (`GATEHOUSE_OPERATOR_TOKEN`). Its description is
/// redacted, so it cannot reach a log line by accident.
public struct OperatorToken: Sendable, CustomStringConvertible {
    public static let minimumLength = 32
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
}
