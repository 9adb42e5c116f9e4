import Foundation
import GatehouseCrypto
import GatehouseEvents

extension TenantRules {
    package static let maximumToolScopeRules = 200

    /// Headers the assertion may not travel in: the transport's own, the protocol's, and the
    /// ones a proxy never forwards.
    static let reservedAssertionHeaders: Set<String> = [
        "host", "content-type", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
        "proxy-authorization", "proxy-authenticate", "cookie", "set-cookie", "accept", "accept-encoding", "last-event-id",
        "mcp-session-id", "mcp-protocol-version", "origin", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
    ]

    /// Checks what a tenant's `/mcp` serves. A proxied endpoint needs users who log in (the
    /// assertion names one), an upstream URL that is https (or http, when allowed explicitly,
    /// to a loopback or private host only), and well-formed headers and tool rules.
    package static func validate(
        _ settings: MCPEndpointSettings,
        authMode: Tenant.AuthMode,
        supportedScopes: [String] = GatewayScopes.supported
    ) throws {
        guard MCPEndpointSettings.timeoutRange.contains(settings.timeoutSeconds) else {
            throw TenantValidationError(field: "mcp.timeout_seconds", problem: "must be 1-300")
        }
        guard isHeaderName(settings.assertionHeader), !reservedAssertionHeaders.contains(settings.assertionHeader.lowercased())
        else {
            throw TenantValidationError(
                field: "mcp.assertion_header",
                problem: "must be a header name that is not one of the transport's or the protocol's own"
            )
        }
        if let header = settings.upstreamTokenHeader {
            guard isHeaderName(header), !reservedAssertionHeaders.contains(header.lowercased()), header.lowercased() != "authorization",
                header.lowercased() != settings.assertionHeader.lowercased()
            else {
                throw TenantValidationError(
                    field: "mcp.upstream_token_header",
                    problem: "must be a header name other than Authorization, the assertion's and the protocol's own"
                )
            }
            guard settings.mode == .proxy else {
                throw TenantValidationError(field: "mcp.upstream_token_header", problem: "is only for mode proxy")
            }
        }
        guard settings.toolScopes.count <= maximumToolScopeRules else {
            throw TenantValidationError(field: "mcp.tool_scopes", problem: "at most \(maximumToolScopeRules) rules")
        }
        for (index, rule) in settings.toolScopes.enumerated() {
            let field = "mcp.tool_scopes[\(index)]"
            let name = rule.isPrefix ? String(rule.tool.dropLast()) : rule.tool
            guard (1...128).contains(rule.tool.utf8.count), !name.contains("*") else {
                throw TenantValidationError(
                    field: field + ".tool",
                    problem: "must be a tool name, or a prefix ending in '*' (a lone '*' covers every tool)"
                )
            }
            guard (1...16).contains(rule.scopes.count), rule.scopes.allSatisfy(supportedScopes.contains) else {
                throw TenantValidationError(
                    field: field + ".scopes",
                    problem: "must list 1-16 of the scopes tokens can carry: \(supportedScopes.joined(separator: " "))"
                )
            }
        }
        switch settings.mode {
        case .hosted:
            guard settings.upstreamUrl == nil else {
                throw TenantValidationError(field: "mcp.upstream_url", problem: "is only for mode proxy")
            }
        case .proxy:
            guard authMode == .oauth else {
                throw TenantValidationError(field: "mcp.mode", problem: "proxy needs auth_mode oauth: the upstream is told who calls")
            }
            guard let url = settings.upstreamUrl else {
                throw TenantValidationError(field: "mcp.upstream_url", problem: "is required for mode proxy")
            }
            try validateUpstreamURL(url, allowHTTP: settings.allowHttp)
        }
    }

    static func validateUpstreamURL(_ text: String, allowHTTP: Bool) throws {
        let field = "mcp.upstream_url"
        guard text.utf8.count <= 2048, let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty, components.user == nil, components.password == nil, components.fragment == nil
        else {
            throw TenantValidationError(field: field, problem: "must be an absolute URL without user info or fragment")
        }
        switch scheme {
        case "https":
            return
        case "http" where allowHTTP:
            guard isPrivateHost(host) else {
                throw TenantValidationError(
                    field: field,
                    problem: "http is allowed only to a loopback or private address, localhost or a single-label service name"
                )
            }
        case "http":
            throw TenantValidationError(field: field, problem: "must be https (set allow_http for a loopback or private upstream)")
        default:
            throw TenantValidationError(field: field, problem: "must be an https URL")
        }
    }

    /// A host that cannot be on the public internet: a loopback or private IP literal (IPv4
    /// RFC 1918, IPv6 loopback and unique local), `localhost`, a `.localhost` or `.internal`
    /// name, or a single-label name (a cluster's service name such as `sample-mcp`).
    static func isPrivateHost(_ host: String) -> Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let octets = name.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        if octets.count == 4, octets.allSatisfy({ $0 != nil }) {
            let a = octets[0]!
            let b = octets[1]!
            return a == 127 || a == 10 || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168)
        }
        if name.contains(":") { return name == "::1" || name.hasPrefix("fc") || name.hasPrefix("fd") }
        if name == "localhost" || name.hasSuffix(".localhost") || name.hasSuffix(".internal") { return true }
        return !name.contains(".") && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") }
    }

    /// RFC 9110 §5.1 field name: a token.
    static func isHeaderName(_ name: String) -> Bool {
        let special = Set("!#$%&'*+-.^_`|~".utf8)
        return (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || special.contains($0) }
    }
}
