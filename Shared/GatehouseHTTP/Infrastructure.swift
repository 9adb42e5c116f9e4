import Hummingbird
import Logging

/// A call to our own infrastructure (the service's database, another Gatehouse service), on
/// behalf of a request: its failure, or its running out of `deadline`, is our outage, logged and
/// answered 503 `temporarily_unavailable` with `Retry-After`, never an error that would make
/// the client throw away a good credential (docs/design.md invariants 4 and 9). The request's
/// own validation happens outside. `deadline: nil` for calls through a `Batcher`, which has its
/// own.
@discardableResult
public func infrastructure<T: Sendable>(
    _ context: some RequestContext,
    deadline: Duration? = APIError.infrastructureDeadline,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await APIError.mappingInfrastructureFailures(context.logger, "A storage or service call failed", deadline: deadline, body)
}
