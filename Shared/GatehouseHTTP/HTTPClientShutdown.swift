import AsyncHTTPClient
import ServiceLifecycle

/// Shuts an outgoing HTTP client down when the service stops.
public struct HTTPClientShutdown: Service {
    public let client: HTTPClient

    public init(client: HTTPClient) { self.client = client }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
