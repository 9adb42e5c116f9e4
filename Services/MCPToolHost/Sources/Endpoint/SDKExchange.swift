import Foundation
import Logging
import MCP
import NIOCore
import NIOFoundationCompat

/// Runs one JSON-RPC request through the MCP Swift SDK's `Server`, on a transport that
/// carries exactly that request and its response.
///
/// One server per HTTP request, with the caller's tools bound in: nothing is shared between
/// requests, so two clients using the same JSON-RPC id can never receive each other's
/// response (the SDK's shared stateless transport matches responses by id alone), and no
/// session state pins a client to an instance. Used for the protocol's own methods
/// (`initialize`, `ping`, `tools/list`, and errors for methods we do not serve); `tools/call`,
/// the hot path, is decoded by `MCPEndpoint` itself.
struct SDKExchange {
    let name: String
    let version: String
    let title: String
    let instructions: String
    let catalog: ToolCatalog
    let logger: Logger
    /// A request the SDK has not answered by then gets no answer (the exchange is abandoned).
    var deadline: Duration = .seconds(10)

    /// The SDK's response to `message`, or nil when it gave none in time.
    func respond(to message: Data) async throws -> Data? {
        let server = Server(
            name: name,
            version: version,
            title: title,
            instructions: instructions,
            capabilities: .init(tools: .init(listChanged: false))
        )
        let tools = catalog.declarations
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        let transport = SingleExchangeTransport(message: message, logger: logger)
        try await server.start(transport: transport)
        let reply = await withTaskGroup(of: Data?.self) { group in
            group.addTask { await transport.reply() }
            group.addTask { [deadline] in
                try? await Task.sleep(for: deadline)
                await transport.disconnect()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        await server.stop()
        return reply
    }
}

/// A transport for one exchange: it delivers one message to the server and keeps the first
/// message the server sends back.
actor SingleExchangeTransport: Transport {
    nonisolated let logger: Logger
    private let incoming: AsyncThrowingStream<Data, any Error>
    private var received: Data?
    private var waiter: CheckedContinuation<Data?, Never>?
    private var closed = false

    init(message: Data, logger: Logger) {
        self.logger = logger
        let (stream, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        continuation.yield(message)
        continuation.finish()
        incoming = stream
    }

    func connect() async throws {}

    func disconnect() async {
        closed = true
        waiter?.resume(returning: received)
        waiter = nil
    }

    func send(_ data: Data) async throws {
        guard received == nil else { return }
        received = data
        waiter?.resume(returning: data)
        waiter = nil
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { incoming }

    /// The server's answer, once it is sent (nil if the exchange was closed first).
    func reply() async -> Data? {
        if received != nil || closed { return received }
        return await withCheckedContinuation { waiter = $0 }
    }
}
