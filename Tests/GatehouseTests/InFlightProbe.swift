import Hummingbird
import Synchronization

/// Counts the requests a test server is handling at once and remembers the most it saw, so
/// a test that claims to race requests can show that they really overlapped in the server.
final class InFlightProbe: Sendable {
    private let counts = Mutex((now: 0, peak: 0))

    var peak: Int { counts.withLock { $0.peak } }

    func middleware<Context: RequestContext>() -> Middleware<Context> { Middleware(probe: self) }

    struct Middleware<Context: RequestContext>: RouterMiddleware {
        let probe: InFlightProbe

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            probe.counts.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            defer { probe.counts.withLock { $0.now -= 1 } }
            return try await next(request, context)
        }
    }
}
