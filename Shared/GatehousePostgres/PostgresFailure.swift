import PostgresNIO

/// Sorts database errors into "try again later" and "will fail again".
public enum PostgresFailure {
    /// SQLSTATE classes that describe the server's or the connection's condition, not the data:
    /// 08 connection exception, 40 transaction rollback (serialization, deadlock),
    /// 53 insufficient resources, 57 operator intervention (shutdown), 58 system error.
    private static let transientClasses: Set<Substring> = ["08", "40", "53", "57", "58"]

    /// The error that matters inside a `PostgresTransactionError`: what the transaction's body
    /// threw, else what `BEGIN`, `COMMIT` or `ROLLBACK` threw.
    public static func underlying(_ error: any Error) -> any Error {
        guard let transaction = error as? PostgresTransactionError else { return error }
        let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError ?? transaction.rollbackError
        return inner.map(underlying) ?? error
    }

    public static func isTransient(_ error: any Error) -> Bool {
        guard let error = underlying(error) as? PSQLError else { return false }
        switch error.code {
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return true }
            return transientClasses.contains(state.prefix(2))
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown,
            .poolClosed, .queryCancelled, .listenFailed, .unlistenFailed:
            return true
        default:
            return false
        }
    }

    /// A short, secret-free description of a database error for logs.
    public static func describe(_ error: any Error) -> String {
        let error = underlying(error)
        guard let error = error as? PSQLError else { return String(describing: error) }
        if let state = error.serverInfo?[.sqlState], let message = error.serverInfo?[.message] {
            return "postgres \(state): \(message)"
        }
        return "postgres \(error.code)"
    }
}
