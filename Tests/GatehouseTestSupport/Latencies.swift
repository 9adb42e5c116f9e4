import Histogram

/// The latencies of a benchmark phase, in an HdrHistogram (microseconds, three significant
/// digits, up to a minute): quantiles without keeping or sorting every sample.
public struct Latencies: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    public init() {}

    public mutating func record(_ duration: Duration) {
        let microseconds = duration / .microseconds(1)
        _ = histogram.record(UInt64(min(max(0, microseconds), 60_000_000)))
    }

    public mutating func add(_ other: Latencies) { histogram.add(other.histogram) }

    public var count: Int { Int(histogram.totalCount) }

    /// The q-quantile (0...1) in milliseconds; 0 when nothing was recorded.
    public func milliseconds(at q: Double) -> Double {
        count == 0 ? 0 : Double(histogram.valueAtPercentile(q * 100)) / 1000
    }

    /// The largest latency recorded, in milliseconds.
    public var maximumMilliseconds: Double { count == 0 ? 0 : Double(histogram.max) / 1000 }
}
