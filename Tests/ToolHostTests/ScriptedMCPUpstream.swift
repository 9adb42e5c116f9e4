import Foundation
import GatehouseTestSupport
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// An upstream MCP server of our own for the proxy's failure tests, on loopback, each
/// behaviour at its own path (`/mcp/<behaviour>`). It records every request it receives (or
/// starts to answer), so a test can assert what reached it and what did not.
final class ScriptedMCPUpstream: Sendable {
    struct Received: Sendable {
        var path: String
        var method: String
        var headers: [String: String]
        var body: String
        var jsonRPCMethod: String? {
            ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["method"] as? String
        }
    }

    static let upstreamSession = "upstream-session-7f3a"
    private let received = Mutex<[Received]>([])
    private let streamsCancelled = Mutex(0)

    var requests: [Received] { received.withLock { $0 } }
    var cancelledStreams: Int { streamsCancelled.withLock { $0 } }
    func forget() { received.withLock { $0.removeAll() } }

    /// Runs the server for `body`, which gets the base URL (`http://127.0.0.1:<port>`).
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.on("/mcp/:behaviour", method: .post) { request, context in try await self.answer(request, context) }
        router.on("/mcp/:behaviour", method: .get) { request, context in try await self.answer(request, context) }
        router.on("/mcp/:behaviour", method: .delete) { request, context in try await self.answer(request, context) }
        return try await serveOnLoopback(router, label: "scripted-mcp-upstream", body)
    }

    private func answer(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let behaviour = try context.parameters.require("behaviour")
        let body = String(buffer: try await request.body.collect(upTo: 8 << 20))
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        received.withLock { $0.append(Received(path: request.uri.path, method: request.method.rawValue, headers: headers, body: body)) }
        let message = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        let id =
            message["id"].map { value -> String in
                if let text = value as? String { return "\"\(text)\"" }
                return "\(value)"
            } ?? "null"
        switch behaviour {
        case "fail": return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "boom")))
        case "unavailable": return Response(status: .serviceUnavailable)
        case "refuse":
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#])
        case "slow":
            try await Task.sleep(for: .seconds(3))
            return Self.json(#"{"jsonrpc":"2.0","id":\#(id),"result":{}}"#)
        case "huge":
            // 50 MiB of JSON in 1 MiB chunks, without a length: the proxy must stop reading.
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    let chunk = ByteBuffer(repeating: UInt8(ascii: " "), count: 1 << 20)
                    for _ in 0..<50 { try await writer.write(chunk) }
                    try await writer.finish(nil)
                }
            )
        case "endless":
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    do {
                        for step in 0..<6000 {
                            try await writer.write(ByteBuffer(string: Self.progressEvent(step)))
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        try await writer.finish(nil)
                    } catch {
                        self.streamsCancelled.withLock { $0 += 1 }
                        throw error
                    }
                }
            )
        case "sse":
            let name = (message["params"] as? [String: Any])?["name"] as? String ?? ""
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for step in 0..<5 { try await writer.write(ByteBuffer(string: Self.progressEvent(step))) }
                    let isError = name == "failing" ? "true" : "false"
                    try await writer.write(
                        ByteBuffer(
                            string:
                                "id: 9\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\(id),\"result\":{\"content\":[],\"isError\":\(isError)}}\r\n\r\n"
                        )
                    )
                    try await writer.finish(nil)
                }
            )
        default:
            break
        }
        // "ok": a small, correct MCP server.
        guard request.method == .post else { return Response(status: .methodNotAllowed) }
        switch message["method"] as? String {
        case "initialize":
            var response = Self.json(
                #"{"jsonrpc":"2.0","id":\#(id),"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"scripted","version":"1"}}}"#
            )
            response.headers[HTTPField.Name("Mcp-Session-Id")!] = Self.upstreamSession
            response.headers[.setCookie] = "tracking=1"
            return response
        case "tools/list":
            let tools = ["public_tool", "admin_delete", "admin_list", "reports"].map { #"{"name":"\#($0)","inputSchema":{"type":"object"}}"# }
            return Self.json(#"{"jsonrpc":"2.0","id":\#(id),"result":{"tools":[\#(tools.joined(separator: ","))]}}"#)
        case "tools/call":
            let name = (message["params"] as? [String: Any])?["name"] as? String ?? ""
            if name == "missing" {
                return Self.json(#"{"jsonrpc":"2.0","id":\#(id),"error":{"code":-32602,"message":"Unknown tool"}}"#)
            }
            let isError = name == "failing" ? "true" : "false"
            return Self.json(#"{"jsonrpc":"2.0","id":\#(id),"result":{"content":[{"type":"text","text":"done"}],"isError":\#(isError)}}"#)
        default:
            return Response(status: .accepted)
        }
    }

    static func progressEvent(_ step: Int) -> String {
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":\(step)}}\n\n"
    }

    static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
