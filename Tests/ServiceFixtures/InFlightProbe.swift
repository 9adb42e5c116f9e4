import Hummingbird
import Synchronization

/// Counts the requests a test server is handling at once and remembers the most it saw, so
/// a test that claims to race requests can show that they really overlapped in the server.
package final class InFlightProbe: Sendable {
    /// How many requests a burst sends at once: the connections per host of the `.ahc` test
    /// client's pool (AsyncHTTPClient's default), so every request of a burst is in flight
    /// together and none waits in the client's queue, where a busy machine could time it out.
    package static let burst = 8

    private let counts = Mutex((now: 0, peak: 0))

    package init() {}

    package var peak: Int { counts.withLock { $0.peak } }

    package func middleware<Context: RequestContext>() -> Middleware<Context> { Middleware(probe: self) }

    package struct Middleware<Context: RequestContext>: RouterMiddleware {
        let probe: InFlightProbe

        package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            probe.counts.withLock {
                $0.now += 1
                $0.peak = max($0.peak, $0.now)
            }
            defer { probe.counts.withLock { $0.now -= 1 } }
            return try await next(request, context)
        }
    }
}
