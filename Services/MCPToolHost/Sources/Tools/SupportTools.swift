import Foundation
import GatehouseEvents
import MCP

/// The tool host's tools: support requests filed under the caller's verified email, the
/// caller's own list of them, and who the caller is.
package enum SupportTools {
    /// Every tool needs this scope (the MCP resource's own scope).
    package static let toolsScope = "mcp:tools"

    package static func catalog(store: ToolHostStore) -> ToolCatalog {
        ToolCatalog([getSupport(store: store), listMySupportRequests(store: store), whoami()])
    }

    static let subjectLimit = 200
    static let messageLimit = 10_000

    static func getSupport(store: ToolHostStore) -> ToolDefinition {
        let schema: Value = [
            "type": "object",
            "properties": [
                "subject": ["type": "string", "minLength": 1, "maxLength": .int(subjectLimit), "description": "One line saying what is wrong"],
                "message": ["type": "string", "minLength": 1, "maxLength": .int(messageLimit), "description": "What happened, in detail"],
            ],
            "required": ["subject", "message"],
            "additionalProperties": false,
        ]
        let output: Value = [
            "type": "object",
            "properties": [
                "id": ["type": "string"], "email": ["type": "string"], "subject": ["type": "string"],
                "status": ["type": "string"], "createdAt": ["type": "string"],
            ],
            "required": ["id", "email", "subject", "status", "createdAt"],
        ]
        let declaration = Tool(
            name: "get_support",
            title: "Get support",
            description: "Files a support request under your verified email address and returns its id. Requires a signed-in user.",
            inputSchema: schema,
            annotations: .init(readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false),
            outputSchema: output
        )
        return ToolDefinition(declaration: declaration, requiredScopes: [toolsScope, "email"]) { call in
            var reader = ArgumentReader(call.arguments, allowed: ["subject", "message"])
            let subject = reader.text("subject", maximum: subjectLimit)
            let message = reader.text("message", maximum: messageLimit)
            if let failure = reader.failure { return failure }
            guard let principal = call.caller.principal else {
                return .failure(
                    """
                    Filing a support request needs a signed-in user, and this MCP server does not ask callers to log in, \
                    so there is no verified email to file it under. Ask the server's operator to enable login, then sign in and try again.
                    """,
                    outcome: .denied
                )
            }
            guard !principal.isService else {
                return .failure(
                    "A service principal (a client signed in with its own credentials) has no email to file a support request under.",
                    outcome: .denied
                )
            }
            guard let email = principal.verifiedEmail else {
                return .failure(
                    "Your account has no verified email address, so the request cannot be filed under one. "
                        + "Verify an email address with your identity provider, sign in again, and retry."
                )
            }
            return .change { invocation in
                let filed = try await store.fileSupportRequest(
                    by: principal,
                    email: email,
                    subject: subject,
                    message: message,
                    invocation: invocation
                )
                return .success("Filed support request \(filed.id) under \(email). We will reply to that address.", supportValue(filed))
            }
        }
    }

    static func listMySupportRequests(store: ToolHostStore) -> ToolDefinition {
        let declaration = Tool(
            name: "list_my_support_requests",
            title: "My support requests",
            description: "Lists the support requests you filed, newest first (at most 50).",
            inputSchema: ["type": "object", "properties": [:], "additionalProperties": false],
            annotations: .init(readOnlyHint: true),
            outputSchema: ["type": "object", "properties": ["requests": ["type": "array"]], "required": ["requests"]]
        )
        return ToolDefinition(declaration: declaration, requiredScopes: [toolsScope]) { call in
            let reader = ArgumentReader(call.arguments, allowed: [])
            if let failure = reader.failure { return failure }
            guard let principal = call.caller.principal else {
                return .failure("Support requests belong to signed-in users, and this MCP server does not ask callers to log in.", outcome: .denied)
            }
            guard let userId = principal.userId else {
                return .failure("Support requests belong to people; a service principal has none.", outcome: .denied)
            }
            let requests = try await store.supportRequests(of: userId, tenant: principal.tenant)
            let lines = requests.map { "- \($0.id) [\($0.status)] \($0.subject)" }
            let text = requests.isEmpty ? "You have no support requests." : "Your support requests:\n" + lines.joined(separator: "\n")
            return .success(text, ["requests": .array(requests.map(supportValue))])
        }
    }

    static func whoami() -> ToolDefinition {
        let declaration = Tool(
            name: "whoami",
            title: "Who am I",
            description:
                "Shows who this MCP server takes you for: tenant, user id, client, email (with the email scope), name (with the profile scope) and scopes.",
            inputSchema: ["type": "object", "properties": [:], "additionalProperties": false],
            annotations: .init(readOnlyHint: true, idempotentHint: true)
        )
        return ToolDefinition(declaration: declaration, requiredScopes: [toolsScope]) { call in
            let reader = ArgumentReader(call.arguments, allowed: [])
            if let failure = reader.failure { return failure }
            guard let principal = call.caller.principal else {
                return .success(
                    "You are not signed in: this MCP server does not ask callers to log in.",
                    ["authenticated": false, "tenant": .string(call.caller.tenant.rawValue)]
                )
            }
            var identity: [String: Value] = [
                "authenticated": true, "tenant": .string(principal.tenant.rawValue),
                "clientId": .string(principal.clientId.rawValue), "scopes": .array(principal.scopes.sorted().map { .string($0) }),
            ]
            guard let userId = principal.userId else {
                identity["principal"] = "service"
                return .success(
                    "You are the service principal of client \(principal.clientId) at tenant \(principal.tenant), with no end user.",
                    .object(identity)
                )
            }
            identity["principal"] = "user"
            identity["userId"] = .string(userId.rawValue)
            if principal.scopes.contains("email"), let email = principal.email {
                identity["email"] = .string(email)
                identity["emailVerified"] = .bool(principal.emailVerified)
            }
            if principal.scopes.contains("profile"), let name = principal.name { identity["name"] = .string(name) }
            let shown = principal.scopes.contains("email") ? principal.email ?? userId.rawValue : userId.rawValue
            return .success("You are \(shown) at tenant \(principal.tenant), calling through client \(principal.clientId).", .object(identity))
        }
    }

    static func supportValue(_ request: SupportRequest) -> Value {
        [
            "id": .string(request.id), "email": .string(request.email), "subject": .string(request.subject),
            "message": .string(request.message), "status": .string(request.status),
            "createdAt": .string(request.createdAt.formatted(.iso8601)),
        ]
    }
}
