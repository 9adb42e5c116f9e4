import Foundation
import GatehouseTestSupport
import Testing

@testable import GatehouseEvents

/// The hand-written wire timestamps agree with Foundation's ISO 8601 styles.
@Suite("Event timestamps")
struct EventTimestampTests {
    @Test("Formatting gives the instant to the nearest millisecond, as Foundation's ISO 8601 parser reads it")
    func formatMatchesFoundation() throws {
        var random = SeededGenerator(seed: 5)
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: 4_107_542_399.999), Date(timeIntervalSince1970: -86_400.5),
        ]
        for _ in 0..<2000 {
            dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: -2_000_000_000_000...4_000_000_000_000, using: &random)) / 1000))
        }
        for date in dates {
            let text = EventTimestamp.format(date)
            // Foundation's own formatter truncates, so x.903 stored as x.90299… would lose a
            // millisecond; its parser is the oracle here.
            #expect(text.count == 24 && text.hasSuffix("Z"), "\(text)")
            let byFoundation = try style.parse(text)
            #expect(abs(byFoundation.timeIntervalSince(date)) < 0.0005, "\(text) for \(date.timeIntervalSince1970)")
            #expect(
                text.prefix(19)
                    == Date(timeIntervalSince1970: (byFoundation.timeIntervalSince1970 + 0.0001).rounded(.down)).formatted(style).prefix(19)
            )
            let parsed = try #require(EventTimestamp.parse(text))
            #expect(abs(parsed.timeIntervalSince(date)) < 0.0005, "\(text)")
            #expect(EventTimestamp.format(parsed) == text)
        }
    }

    @Test(
        "Other ISO 8601 spellings are read as Foundation reads them; non-timestamps are refused",
        arguments: [
            ("2026-11-01T12:00:00Z", true), ("2026-11-01T12:00:00.5Z", true), ("2026-11-01T12:00:00.123456Z", true),
            ("2026-11-01T13:00:00.123+01:00", true), ("2026-11-01T12:00:00", false), ("2026-13-01T12:00:00Z", false),
            ("yesterday", false), ("2026-11-01 12:00:00Z", false),
        ]
    )
    func otherSpellings(_ text: String, valid: Bool) {
        let parsed = EventTimestamp.parse(text)
        #expect((parsed != nil) == valid)
        if let parsed {
            let foundation =
                (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
                ?? (try? Date.ISO8601FormatStyle().parse(text))
            #expect(foundation.map { abs($0.timeIntervalSince(parsed)) < 0.001 } ?? false, "\(text)")
        }
    }
}
