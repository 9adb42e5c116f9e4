import Synchronization

/// A token bucket per key (a client address, a client id): `capacity` requests at once, refilled
/// at `capacity` per `period`. Answers how long to wait when a request is over the limit. Keys
/// not seen for a period are forgotten, so memory stays bounded by the active keys. A mutex,
/// not an actor: each call is a few arithmetic operations on the hot path of every request.
///
/// Limits are per process: with N instances behind a balancer a key gets up to N times the
/// budget, which still makes guessing hopeless.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
        var lastSweep = ContinuousClock.now
    }

    private let capacity: Double
    private let period: Duration
    private let state = Mutex(State())

    public init(capacity: Int, per period: Duration) {
        self.capacity = Double(capacity)
        self.period = period
    }

    /// nil if the request may go ahead (and is counted); otherwise the time until it may.
    public func acquire(_ key: String) -> Duration? {
        let now = ContinuousClock.now
        return state.withLock { state in
            sweep(&state, now)
            var bucket = refilled(state.buckets[key], now)
            defer { state.buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return wait(for: bucket)
        }
    }

    /// nil if `key` has a request left, without counting one; otherwise the time until it has.
    /// (For budgets spent only by failures: check first, `acquire` when a request fails.)
    public func check(_ key: String) -> Duration? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let bucket = state.buckets[key].map({ refilled($0, now) }), bucket.tokens < 1 else { return nil }
            return wait(for: bucket)
        }
    }

    private func refilled(_ bucket: Bucket?, _ now: ContinuousClock.Instant) -> Bucket {
        guard let bucket else { return Bucket(tokens: capacity, updated: now) }
        return Bucket(tokens: min(capacity, bucket.tokens + (now - bucket.updated) / period * capacity), updated: now)
    }

    private func wait(for bucket: Bucket) -> Duration {
        period * ((1 - bucket.tokens) / capacity)
    }

    private func sweep(_ state: inout State, _ now: ContinuousClock.Instant) {
        guard now - state.lastSweep > period else { return }
        state.lastSweep = now
        state.buckets = state.buckets.filter { now - $0.value.updated < period }
    }
}
