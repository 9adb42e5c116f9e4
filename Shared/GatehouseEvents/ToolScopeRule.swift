/// Scopes a proxied tool needs: `tool` is an exact name, or a prefix ending in `*`
/// (`admin_*` covers `admin_delete` and `admin_list`).
public struct ToolScopeRule: Codable, Sendable, Equatable {
    public var tool: String
    public var scopes: [String]

    public init(tool: String, scopes: [String]) {
        self.tool = tool
        self.scopes = scopes
    }

    public var isPrefix: Bool { tool.hasSuffix("*") }

    public func matches(_ name: String) -> Bool {
        isPrefix ? name.hasPrefix(tool.dropLast()) : name == tool
    }
}
