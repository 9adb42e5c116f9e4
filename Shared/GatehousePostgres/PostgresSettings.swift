import Logging
import PostgresNIO

/// Where and how to reach PostgreSQL.
public struct PostgresSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var maximumConnections: Int

    public init(
        host: String,
        port: Int = 5432,
        username: String,
        password: String? = nil,
        database: String,
        maximumConnections: Int = 10
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.maximumConnections = maximumConnections
    }

    /// Configuration for the pooled client every service uses.
    public var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: .disable
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectionIdleTimeout = .seconds(60)
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(30))
        return configuration
    }

    /// Configuration for a single dedicated connection (LISTEN).
    public var connectionConfiguration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: .disable
        )
    }
}

/// A quoted SQL identifier for a schema we own. Only `[a-z_][a-z0-9_]*` names are accepted, so
/// interpolating one into SQL text can never inject anything.
public struct SchemaName: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) throws {
        guard let first = name.unicodeScalars.first, first == "_" || ("a"..."z").contains(first),
            name.unicodeScalars.allSatisfy({ $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }),
            name.count <= 48
        else {
            throw SchemaNameError(name: name)
        }
        self.name = name
    }

    /// `"name"`, for use in SQL text.
    public var quoted: String { "\"\(name)\"" }
    public var description: String { name }
}

public struct SchemaNameError: Error, CustomStringConvertible {
    public let name: String
    public var description: String { "schema name must match [a-z_][a-z0-9_]{0,47}, got '\(name)'" }
}
