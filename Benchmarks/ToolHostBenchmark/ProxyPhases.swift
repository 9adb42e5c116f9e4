import AsyncHTTPClient
import Foundation
import GatehouseEvents
import GatehouseTestSupport
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The proxy's phases (`--proxy`): authenticated `tools/call` through the tool host to upstream
/// MCP servers of our own, next to the same calls sent straight to those servers, in one run.
/// One upstream answers at once (the proxy's own cost: added p50 and CPU per call), one after
/// 5 ms as real tools do (throughput kept); and a stream of 1,000 progress events (time to
/// first byte and to the end, through the proxy and direct).
struct ProxyPhases {
    let connections: [Int]
    let seconds: Int
    let toolHostPort: Int
    let tokenFile: String
    let script: String
    let http: HTTPClient
    let logger: Logger
    /// Points tenant `acme` at an upstream URL (a new `tenant.updated`), effective at once.
    let proxyTo: @Sendable (String) async throws -> Void

    static let events = 1000

    func run() async throws {
        let router = Router()
        router.post("/instant") { request, context in try await Self.answer(request, context, delay: nil) }
        router.post("/slow") { request, context in try await Self.answer(request, context, delay: .milliseconds(5)) }
        router.post("/stream") { _, _ in Self.stream() }
        // The upstream has event loops of its own, as it would in a process of its own: on the
        // tool host's loops each side would wait for the other's writes.
        let upstreamLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await serveOnLoopback(router, label: "bench-upstream", eventLoopGroup: upstreamLoops) { base in
            var rows: [(String, Int, Wrk.Result, Wrk.Result, Double, Double)] = []
            for (name, path) in [("instant tool", "instant"), ("5 ms tool", "slow")] {
                try await proxyTo("\(base)/\(path)")
                for count in connections {
                    let (direct, directCPU) = try measured {
                        try Wrk.run(
                            "tools/call straight to the upstream (\(name))",
                            url: "\(base)/\(path)",
                            arguments: ["-s", script],
                            connections: count,
                            seconds: seconds,
                            environment: ["GATEHOUSE_BENCH_BODY": ToolHostBenchmark.body]
                        )
                    }
                    let (proxied, proxiedCPU) = try measured {
                        try Wrk.run(
                            "tools/call through the proxy, authenticated (\(name))",
                            url: "http://127.0.0.1:\(toolHostPort)/mcp",
                            arguments: ["-s", script],
                            connections: count,
                            seconds: seconds,
                            environment: ["GATEHOUSE_BENCH_BODY": ToolHostBenchmark.body, "GATEHOUSE_BENCH_TOKENS": tokenFile]
                        )
                    }
                    let total = Double(seconds)
                    let directPerCall = directCPU / (direct.requestsPerSecond * total)
                    let proxiedPerCall = proxiedCPU / (proxied.requestsPerSecond * total)
                    rows.append((name, count, direct, proxied, directPerCall, proxiedPerCall))
                }
            }
            print("")
            print("upstream     | conns | direct /s (p50, p99)   | proxied /s (p50, p99)  | proxied/direct | added p50 | proxy CPU/call")
            for (name, count, direct, proxied, directPerCall, proxiedPerCall) in rows {
                let ratio = proxied.requestsPerSecond / direct.requestsPerSecond
                let added = proxied.p50Milliseconds - direct.p50Milliseconds
                let verdict =
                    name == "5 ms tool"
                    ? (ratio >= 0.9 ? "(target >= 0.9 met)" : "(target >= 0.9 NOT met)")
                    : (added <= 2 ? "(target <= 2 ms met)" : "(target <= 2 ms NOT met)")
                print(
                    String(
                        format: "%-12@ | %5d | %6.0f (%@, %@) | %6.0f (%@, %@) | %.2f | %.2f ms | %.0f µs %@",
                        name,
                        count,
                        direct.requestsPerSecond,
                        direct.p50,
                        direct.p99,
                        proxied.requestsPerSecond,
                        proxied.p50,
                        proxied.p99,
                        ratio,
                        added,
                        (proxiedPerCall - directPerCall) * 1_000_000,
                        verdict
                    )
                )
            }
            try await proxyTo("\(base)/stream")
            try await streams(direct: "\(base)/stream")
        }
        try await upstreamLoops.shutdownGracefully()
    }

    /// CPU seconds this process used while `body` ran (the upstream's and the proxy's work;
    /// wrk is a process of its own).
    func measured<T>(_ body: () throws -> T) throws -> (T, Double) {
        let before = Self.cpuSeconds()
        let result = try body()
        return (result, Self.cpuSeconds() - before)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Twenty streams of 1,000 progress events each way, one at a time: medians of the time to
    /// the first byte and to the end.
    func streams(direct: String) async throws {
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).split(separator: "\n")[0]
        func once(_ url: String, authorized: Bool) async throws -> (Double, Double) {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Accept", value: "application/json, text/event-stream")
            request.headers.add(name: "X-Forwarded-Host", value: "acme.example")
            if authorized { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            request.body = .bytes(ByteBuffer(string: ToolHostBenchmark.body))
            let start = ContinuousClock.now
            let response = try await http.execute(request, timeout: .seconds(30))
            var first: Duration?
            var bytes = 0
            for try await chunk in response.body {
                if first == nil { first = ContinuousClock.now - start }
                bytes += chunk.readableBytes
            }
            let end = ContinuousClock.now - start
            guard response.status == .ok, bytes > Self.events * 50 else { throw TestSupportError("stream failed: \(response.status)") }
            func ms(_ duration: Duration) -> Double { Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000 }
            return (ms(first ?? end), ms(end))
        }
        func medians(_ url: String, authorized: Bool) async throws -> (Double, Double) {
            var firsts: [Double] = []
            var ends: [Double] = []
            for _ in 0..<20 {
                let (first, end) = try await once(url, authorized: authorized)
                firsts.append(first)
                ends.append(end)
            }
            return (firsts.sorted()[10], ends.sorted()[10])
        }
        _ = try await once(direct, authorized: false)
        _ = try await once("http://127.0.0.1:\(toolHostPort)/mcp", authorized: true)
        let (directFirst, directEnd) = try await medians(direct, authorized: false)
        let (proxiedFirst, proxiedEnd) = try await medians("http://127.0.0.1:\(toolHostPort)/mcp", authorized: true)
        print("")
        print("SSE stream of \(Self.events) progress events, then the result (median of 20):")
        print(String(format: "  direct:  first byte %.2f ms, whole stream %.2f ms", directFirst, directEnd))
        print(
            String(
                format: "  proxied: first byte %.2f ms (+%.2f ms, target <= 5 ms %@), whole stream %.2f ms (%.2f of direct, target <= 1.10 %@)",
                proxiedFirst,
                proxiedFirst - directFirst,
                proxiedFirst - directFirst <= 5 ? "met" : "NOT met",
                proxiedEnd,
                proxiedEnd / directEnd,
                proxiedEnd / directEnd <= 1.1 ? "met" : "NOT met"
            )
        )
    }

    /// A tool's JSON answer, echoing the request's id, after `delay`.
    static func answer(_ request: Request, _ context: BasicRequestContext, delay: Duration?) async throws -> Response {
        let call = try await request.decode(as: PlainCall.self, context: context)
        if let delay { try await Task.sleep(for: delay) }
        let text = #"{"jsonrpc":"2.0","id":\#(call.id),"result":{"content":[{"type":"text","text":"done"}],"isError":false}}"#
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// 1,000 progress notifications and the result, as an event stream written in pieces.
    static func stream() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                for step in 1...events {
                    try await writer.write(
                        ByteBuffer(
                            string:
                                "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":\(step),\"total\":\(events)}}\n\n"
                        )
                    )
                }
                try await writer.write(
                    ByteBuffer(string: "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[],\"isError\":false}}\n\n")
                )
                try await writer.finish(nil)
            }
        )
    }
}
