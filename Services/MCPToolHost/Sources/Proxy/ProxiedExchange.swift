import Foundation
import GatehouseEvents

/// What the proxy needs to know of one forwarded request, and reads back from the answer: a
/// `tools/call` (its outcome is recorded as `tool.invoked`), a `tools/list` whose hidden tools
/// are taken out (in the stateless era the list is then the caller's own: `cacheScope:
/// private`), or anything else (passed on untouched).
enum ProxiedExchange: Sendable {
    case toolCall(name: String, id: JSONRPCID)
    case toolList(id: JSONRPCID, privately: Bool, hidden: @Sendable (String) -> Bool)
    case other

    var inspectsAnswer: Bool {
        if case .other = self { return false }
        return true
    }

    var requestID: JSONRPCID? {
        switch self {
        case .toolCall(_, let id), .toolList(let id, _, _): id
        case .other: nil
        }
    }

    /// The JSON-RPC response to this request in `data` (a whole JSON text), if it is one.
    func response(in data: [UInt8]) -> [String: Any]? {
        guard let id = requestID, Self.mayBeResponse(data),
            let message = (try? JSONSerialization.jsonObject(with: Data(data))) as? [String: Any],
            message["result"] != nil || message["error"] != nil, JSONRPCID(message["id"]) == id
        else { return nil }
        return message
    }

    /// The outcome a response gives a tool call.
    static func outcome(of response: [String: Any]) -> ToolInvoked.Outcome {
        if response["error"] != nil { return .jsonrpcError }
        if let result = response["result"] as? [String: Any], result["isError"] as? Bool == true { return .error }
        return .success
    }

    /// A `tools/list` response without the tools `hidden` names; nil when it needs no change.
    func filtered(_ response: [String: Any]) -> [UInt8]? {
        guard case .toolList(_, let privately, let hidden) = self, var result = response["result"] as? [String: Any],
            let tools = result["tools"] as? [[String: Any]]
        else { return nil }
        let kept = tools.filter { !hidden(($0["name"] as? String) ?? "") }
        let shared = privately && result["cacheScope"] as? String != "private"
        guard kept.count != tools.count || shared else { return nil }
        result["tools"] = kept
        if privately { result["cacheScope"] = "private" }
        var changed = response
        changed["result"] = result
        return (try? JSONSerialization.data(withJSONObject: changed)).map(Array.init)
    }

    /// Cheap test before parsing: notifications (progress, logging) carry neither member.
    private static func mayBeResponse(_ data: [UInt8]) -> Bool {
        contains(data, Array(#""result""#.utf8)) || contains(data, Array(#""error""#.utf8))
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
