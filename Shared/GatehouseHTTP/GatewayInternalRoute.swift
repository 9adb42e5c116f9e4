import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The gateway's internal routes as the other services call them (`/internal/upstream-profile`
/// for the token service, `/internal/upstream-token` for the tool host): where the gateway is
/// and the token it expects, read from the environment together, and one way to call a route.
public struct GatewayInternalRoute: Sendable {
    public let url: String
    public let token: OperatorToken

    public init(url: String, token: OperatorToken) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
    }

    /// `GATEHOUSE_GATEWAY_URL` with `GATEHOUSE_INTERNAL_TOKEN`, set together or not at all (nil).
    public init?(environment env: EnvironmentReader) throws {
        switch (env.optionalString("GATEHOUSE_GATEWAY_URL"), try env.internalToken()) {
        case (let url?, let token?):
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""), components.host != nil else {
                throw ConfigurationError(variable: "GATEHOUSE_GATEWAY_URL", problem: "must be an http(s) URL such as http://gateway:8081")
            }
            self.init(url: url, token: token)
        case (nil, nil):
            return nil
        default:
            throw ConfigurationError(variable: "GATEHOUSE_GATEWAY_URL", problem: "and GATEHOUSE_INTERNAL_TOKEN are set together or not at all")
        }
    }

    /// POSTs `{"tenant": ..., "user_id": ...}` to the route at `path`; the status and the decoded
    /// JSON object of the answer. Throws when the gateway does not answer within 15 s.
    public func post(_ path: String, tenant: String, userId: String, http: HTTPClient) async throws -> (status: UInt, json: [String: Any]) {
        var request = HTTPClientRequest(url: url + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["tenant": tenant, "user_id": userId])))
        let response = try await http.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 16)
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        return (response.status.code, json)
    }
}
