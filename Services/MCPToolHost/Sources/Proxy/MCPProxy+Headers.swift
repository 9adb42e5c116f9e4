import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOHTTP1

/// Which headers cross the proxy, each way.
extension MCPProxy {
    /// Request headers that never reach the upstream: hop-by-hop ones, the client's
    /// credentials (its DPoP proof too), cookies, what the proxy sets itself, and forwarding headers a client
    /// could forge.
    static let withheldRequestHeaders: Set<String> = [
        "host", "authorization", "cookie", "connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "origin", "forwarded", "x-forwarded-for", "x-forwarded-host",
        "x-forwarded-proto", "x-real-ip", "accept-encoding", "mcp-session-id", "dpop",
    ]

    /// Answer headers the client never sees: hop-by-hop ones, cookies, the upstream's own
    /// challenges and CORS (Gatehouse answers for both), and what is set anew.
    static let withheldResponseHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "set-cookie", "www-authenticate", "mcp-session-id", "server", "date",
    ]

    /// The client's headers as the upstream gets them; `excluding` names the headers the proxy
    /// itself sets (the assertion's, the upstream token's), which a client cannot supply.
    static func forwardedHeaders(_ fields: HTTPFields, excluding ownHeaders: [String]) -> HTTPHeaders {
        let named = Set(fields[values: .connection].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        let own = Set(ownHeaders.map { $0.lowercased() })
        var headers = HTTPHeaders()
        for field in fields {
            let name = field.name.canonicalName
            guard !withheldRequestHeaders.contains(name), !named.contains(name), !own.contains(name) else { continue }
            headers.add(name: field.name.rawName, value: field.value)
        }
        headers.add(name: "Accept-Encoding", value: "identity")
        return headers
    }

    static func returnedHeaders(_ headers: HTTPHeaders) -> HTTPFields {
        let named = Set(headers["Connection"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        var fields = HTTPFields()
        for (name, value) in headers {
            let lowered = name.lowercased()
            guard !withheldResponseHeaders.contains(lowered), !named.contains(lowered), !lowered.hasPrefix("access-control-"),
                let fieldName = HTTPField.Name(name)
            else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        if fields[.cacheControl] == nil { fields[.cacheControl] = "no-store" }
        return fields
    }
}
