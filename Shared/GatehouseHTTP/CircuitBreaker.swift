import Synchronization

/// Per-key circuit breakers for calls to backends we do not control (a tenant's upstream
/// identity provider): after `threshold` failures in a row a key's circuit opens, and calls are
/// refused at once, without waiting for a backend known to be failing, for `pause`; then one
/// call goes through as a probe, and its outcome closes the circuit or opens it again.
public final class CircuitBreaker: Sendable {
    public struct Open: Error, CustomStringConvertible {
        /// How long until the next probe may go through.
        public var retryAfter: Duration
        public var description: String { "the backend is failing; calls are paused" }
    }

    enum State: Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case probing
    }

    private let threshold: Int
    private let pause: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let states = Mutex<[String: State]>([:])

    public init(threshold: Int = 5, pause: Duration = .seconds(10), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.threshold = threshold
        self.pause = pause
        self.now = now
    }

    /// Admits a call for `key`, or throws `Open`. An admitted call must report its outcome.
    public func admit(_ key: String) throws(Open) {
        let instant = now()
        let refusal: Duration? = states.withLock { states in
            switch states[key] ?? .closed(failures: 0) {
            case .closed:
                return nil
            case .open(let until) where instant >= until:
                states[key] = .probing
                return nil
            case .open(let until):
                return until - instant
            case .probing:
                return pause
            }
        }
        if let refusal { throw Open(retryAfter: refusal) }
    }

    /// The admitted call succeeded (the backend answered as it should).
    public func succeeded(_ key: String) {
        states.withLock { $0[key] = nil }
    }

    /// The admitted call failed on the backend's side (no answer, a timeout, a 5xx).
    public func failed(_ key: String) {
        let instant = now()
        states.withLock { states in
            switch states[key] ?? .closed(failures: 0) {
            case .closed(let failures) where failures + 1 < threshold:
                states[key] = .closed(failures: failures + 1)
            case .closed, .probing, .open:
                states[key] = .open(until: instant + pause)
            }
        }
    }

    /// Whether `key`'s circuit is open or probing now (for metrics and tests).
    public func isOpen(_ key: String) -> Bool {
        states.withLock { states in
            if case .closed = states[key] ?? .closed(failures: 0) { return false }
            return true
        }
    }
}
