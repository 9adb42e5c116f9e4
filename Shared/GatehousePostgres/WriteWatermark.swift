import Logging
import PostgresNIO

/// A position in a table's history of writes, for readers that fetch only what changed.
///
/// Each row names the transaction that last wrote it (`written_by`, an `xid8`). A reader first
/// takes the oldest transaction still running (`pg_snapshot_xmin` of its snapshot): every
/// transaction older than that has committed and is visible to what the reader does next. It
/// then reads the rows written by that transaction or later. A write that commits after the read
/// has a transaction id at or above the watermark, so the next read finds it. A timestamp or a
/// sequence would not do: they are taken before the commit, and a transaction that commits late
/// would fall behind a reader that has already moved on.
///
/// A row may be read twice (its writer was still running at the first read), so applying a
/// change must be idempotent.
public struct WriteWatermark: Sendable, Hashable, CustomStringConvertible {
    /// The transaction id (`xid8` as text, which is how it is bound and read).
    public let transaction: String

    public init(transaction: String) {
        self.transaction = transaction
    }

    public var description: String { transaction }

    /// The column a table adds to be read this way; `UPDATE`s set it again (`written_by =
    /// pg_current_xact_id()`), an `INSERT … ON CONFLICT DO UPDATE` with
    /// `written_by = EXCLUDED.written_by`.
    public static let columnDefinition = "written_by XID8 NOT NULL DEFAULT pg_current_xact_id()"

    /// The watermark to read from now on; take it before reading the changes.
    public static func current(client: PostgresClient, logger: Logger) async throws -> WriteWatermark {
        let rows = try await client.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", logger: logger)
        for try await transaction in rows.decode(String.self) {
            return WriteWatermark(transaction: transaction)
        }
        throw PostgresWatermarkUnavailable()
    }

    struct PostgresWatermarkUnavailable: Error {}
}

extension PostgresQuery.StringInterpolation {
    /// The condition selecting rows written at or after `watermark` (every row when it is nil),
    /// for a table whose `written_by` column is qualified by `alias` (`t.written_by`).
    public mutating func appendInterpolation(writtenSince watermark: WriteWatermark?, alias: String) {
        precondition(alias.allSatisfy { $0.isLetter || $0 == "_" }, "an alias is a plain identifier")
        if let watermark {
            appendInterpolation(unescaped: "\(alias).written_by >= ")
            appendInterpolation(watermark.transaction)
            appendInterpolation(unescaped: "::text::xid8")
        } else {
            appendInterpolation(unescaped: "TRUE")
        }
    }
}
