import Hummingbird
import NIOCore

/// The request context of Gatehouse's HTTP services: Hummingbird's basic context plus the
/// connected peer's address (for rate limits per IP and for trusting forwarded headers only
/// from configured proxies).
public struct GatehouseRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Request bodies Gatehouse accepts are small forms and JSON documents.
    public var maxUploadSize: Int { 64 * 1024 }
}
