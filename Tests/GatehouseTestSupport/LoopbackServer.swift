import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Serves a router on 127.0.0.1 at a port the system assigns while binding, until `body` returns.
/// Binding port 0 has no window between choosing a port and taking it, so parallel tests (and
/// their outgoing connections' ephemeral ports) can never collide with it.
public func serveOnLoopback<T: Sendable>(
    _ router: Router<BasicRequestContext>,
    label: String,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    _ body: @Sendable (_ base: String) async throws -> T
) async throws -> T {
    let port = Mutex<Int?>(nil)
    var logger = Logger(label: label)
    logger.logLevel = .warning
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger
    )
    return try await withServices([app], logger: logger) {
        try await eventually("\(label) listening", timeout: .seconds(10)) { port.withLock { $0 } != nil }
        return try await body("http://127.0.0.1:\(port.withLock { $0 }!)")
    }
}

/// A value known only once a server is running (its base URL), for routes built before it starts.
public final class LateValue<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    public init() {}
    public func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    public var get: Value { value.withLock { $0 }! }
}
