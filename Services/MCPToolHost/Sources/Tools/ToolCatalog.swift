import Foundation
import GatehouseEvents
import GatehouseMessaging
import MCP

/// What a tool call produced: text for the model, structured content, and how it went (for
/// `tool.invoked`).
package struct ToolResult: Sendable {
    package var text: String
    package var structured: Value?
    package var isError: Bool
    package var outcome: ToolInvoked.Outcome

    static func success(_ text: String, _ structured: Value? = nil) -> ToolResult {
        ToolResult(text: text, structured: structured, isError: false, outcome: .success)
    }

    /// A tool execution error the caller can act on (bad arguments, nothing to file under).
    static func failure(_ text: String, outcome: ToolInvoked.Outcome = .error) -> ToolResult {
        ToolResult(text: text, structured: nil, isError: true, outcome: outcome)
    }
}

/// What a tool's code returns: its answer, or a state change that must commit together with
/// the call's `tool.invoked` and then gives the answer. Tools never record their calls; the
/// endpoint records every call, in one place, and hands a change its record to commit with.
package enum ToolOutput: Sendable {
    case answer(ToolResult)
    case change(@Sendable (_ invocation: OutboxRecord) async throws -> ToolResult)

    static func success(_ text: String, _ structured: Value? = nil) -> ToolOutput { .answer(.success(text, structured)) }

    static func failure(_ text: String, outcome: ToolInvoked.Outcome = .error) -> ToolOutput {
        .answer(.failure(text, outcome: outcome))
    }
}

/// Everything a tool sees of its call: the caller (already authenticated), its arguments, and
/// this invocation's id and start (for its `tool.invoked`).
package struct ToolCall: Sendable {
    package var caller: Caller
    package var arguments: [String: Value]
    package var invocationId: UUID
    package var started: ContinuousClock.Instant

    /// The `tool.invoked` record of this call, with its duration until now.
    func invocationRecord(tool: String, outcome: ToolInvoked.Outcome) -> OutboxRecord {
        let elapsed = ContinuousClock.now - started
        let microseconds = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        let milliseconds = Double(microseconds) / 1000
        let principal = caller.principal
        return OutboxRecord(
            EventEnvelope(
                eventId: invocationId,
                tenant: caller.tenant.rawValue,
                aggregateKey: principal?.subject ?? tool,
                aggregateVersion: 1,
                payload: ToolInvoked(
                    invocationId: invocationId.uuidString,
                    userId: principal?.userId?.rawValue,
                    clientId: principal?.clientId.rawValue,
                    tool: tool,
                    outcome: outcome,
                    durationMs: milliseconds
                )
            )
        )
    }
}

/// One tool: its MCP declaration, the scopes a token needs to call it, and its code.
package struct ToolDefinition: Sendable {
    package var declaration: Tool
    package var requiredScopes: [String]
    package var run: @Sendable (ToolCall) async throws -> ToolOutput

    /// The declaration's `_meta` names the required scopes, so `tools/list` tells clients what
    /// the 403 challenge would.
    package init(declaration: Tool, requiredScopes: [String], run: @escaping @Sendable (ToolCall) async throws -> ToolOutput) {
        var declaration = declaration
        declaration._meta = Metadata(additionalFields: ["gatehouse/requiredScopes": .array(requiredScopes.map { .string($0) })])
        self.declaration = declaration
        self.requiredScopes = requiredScopes
        self.run = run
    }

    package var name: String { declaration.name }
}

/// The tools of this host, by name.
package struct ToolCatalog: Sendable {
    package let tools: [ToolDefinition]
    private let byName: [String: ToolDefinition]

    package init(_ tools: [ToolDefinition]) {
        self.tools = tools
        byName = Dictionary(uniqueKeysWithValues: tools.map { ($0.name, $0) })
    }

    package subscript(name: String) -> ToolDefinition? { byName[name] }

    /// `tools/list`: every tool with its input schema; required scopes are named in `_meta`.
    package var declarations: [Tool] { tools.map(\.declaration) }
}

/// Reads a tool's arguments against its (flat, string-only) input schema.
struct ArgumentReader {
    let arguments: [String: Value]
    let allowed: Set<String>
    private(set) var problems: [String] = []

    init(_ arguments: [String: Value], allowed: Set<String>) {
        self.arguments = arguments
        self.allowed = allowed
        for name in arguments.keys.sorted() where !allowed.contains(name) {
            problems.append("unknown argument '\(name)'")
        }
    }

    /// A required string of `1...maximum` characters after trimming.
    mutating func text(_ name: String, maximum: Int) -> String {
        guard let value = arguments[name] else {
            problems.append("'\(name)' is required")
            return ""
        }
        guard case .string(let raw) = value else {
            problems.append("'\(name)' must be a string")
            return ""
        }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { problems.append("'\(name)' must not be empty") }
        if text.count > maximum { problems.append("'\(name)' must be at most \(maximum) characters") }
        return text
    }

    var failure: ToolOutput? {
        problems.isEmpty ? nil : .failure("Invalid arguments: " + problems.joined(separator: "; ") + ".")
    }
}
