/// A token bucket per key (a client address, a client id): `capacity` requests at once, refilled
/// at `capacity` per `period`. Answers how long to wait when a request is over the limit. Keys
/// not seen for a period are forgotten, so memory stays bounded by the active keys.
///
/// Limits are per process: with N instances behind a balancer a key gets up to N times the
/// budget, which still makes guessing hopeless.
public actor RateLimiter {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let capacity: Double
    private let period: Duration
    private var buckets: [String: Bucket] = [:]
    private var lastSweep = ContinuousClock.now

    public init(capacity: Int, per period: Duration) {
        self.capacity = Double(capacity)
        self.period = period
    }

    /// nil if the request may go ahead (and is counted); otherwise the time until it may.
    public func acquire(_ key: String) -> Duration? {
        let now = ContinuousClock.now
        sweep(now)
        var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
        let refill = (now - bucket.updated) / period * capacity
        bucket.tokens = min(capacity, bucket.tokens + refill)
        bucket.updated = now
        defer { buckets[key] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        return period * ((1 - bucket.tokens) / capacity)
    }

    /// nil if `key` has a request left, without counting one; otherwise the time until it has.
    /// (For budgets spent only by failures: check first, `acquire` when a request fails.)
    public func check(_ key: String) -> Duration? {
        guard let bucket = buckets[key] else { return nil }
        let tokens = min(capacity, bucket.tokens + (ContinuousClock.now - bucket.updated) / period * capacity)
        return tokens >= 1 ? nil : period * ((1 - tokens) / capacity)
    }

    private func sweep(_ now: ContinuousClock.Instant) {
        guard now - lastSweep > period else { return }
        lastSweep = now
        buckets = buckets.filter { now - $0.value.updated < period }
    }
}
