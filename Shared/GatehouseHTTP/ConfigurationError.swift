import GatehouseCrypto

/// A bad or missing environment variable, named, with what was expected.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var variable: String
    public var problem: String

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "configuration error: \(variable) \(problem)" }
}

/// Reads typed values from an environment dictionary, failing with the variable's name.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String]) { self.values = values }

    public func string(_ name: String, default fallback: String? = nil) throws -> String {
        if let value = values[name], !value.isEmpty { return value }
        if let fallback { return fallback }
        throw ConfigurationError(variable: name, problem: "is required but not set")
    }

    public func optionalString(_ name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func int(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = optionalString(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(variable: name, problem: "must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return value
    }

    public func bool(_ name: String, default fallback: Bool) throws -> Bool {
        let text = try string(name, default: fallback ? "true" : "false")
        guard let value = ["true": true, "false": false][text] else {
            throw ConfigurationError(variable: name, problem: "must be true or false")
        }
        return value
    }

    /// A bearer secret (operator, internal): at least 32 printable ASCII characters; nil when unset.
    public func bearerToken(_ name: String) throws -> OperatorToken? {
        guard let token = optionalString(name) else { return nil }
        guard token.count >= OperatorToken.minimumLength, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw ConfigurationError(
                variable: name,
                problem: "must be at least \(OperatorToken.minimumLength) printable ASCII characters without spaces"
            )
        }
        return OperatorToken(token)
    }

    /// `GATEHOUSE_INTERNAL_TOKEN`: how the token service authenticates at the gateway's internal route.
    public func internalToken() throws -> OperatorToken? { try bearerToken("GATEHOUSE_INTERNAL_TOKEN") }

    /// `GATEHOUSE_KEYRING` (required: `id:base64key[,id:base64key]`, the first is current): the
    /// key ring the gateway and the token service share (sealed codes, upstream secrets).
    public func keyRing(_ name: String = "GATEHOUSE_KEYRING") throws -> KeyRing {
        do {
            return try KeyRing(specification: try string(name))
        } catch let error as KeyRing.Failure {
            throw ConfigurationError(variable: name, problem: error.description)
        }
    }

    /// A key ring in the same format that may be absent (nil when the variable is unset).
    public func optionalKeyRing(_ name: String) throws -> KeyRing? {
        guard optionalString(name) != nil else { return nil }
        return try keyRing(name)
    }

    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, default fallback: T) throws -> T where T.RawValue == String {
        guard let text = optionalString(name) else { return fallback }
        guard let value = T(rawValue: text.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(variable: name, problem: "must be one of \(allowed), got '\(text)'")
        }
        return value
    }
}
