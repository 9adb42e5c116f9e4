import PostgresNIO

extension PostgresQuery.StringInterpolation {
    /// A schema's name, quoted, as part of the SQL text: `\(schema).users`. Names cannot be
    /// bound parameters; `SchemaName` only holds names it has checked, so nothing else is ever
    /// spliced into a statement this way.
    public mutating func appendInterpolation(_ schema: SchemaName) {
        appendInterpolation(unescaped: schema.quoted)
    }
}
