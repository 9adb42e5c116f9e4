import GatehouseRuntime

/// The `WWW-Authenticate: Bearer` challenge of this resource (RFC 6750 §3, RFC 9728 §5.1).
struct Challenge {
    let origin: PublicOrigin
    let scope: [String]

    func header(error: APIError.Code?, description: String? = nil) -> String {
        var parameters: [String] = []
        if let error { parameters.append(#"error="\#(error.rawValue)""#) }
        if let description { parameters.append(#"error_description="\#(description)""#) }
        if !scope.isEmpty { parameters.append(#"scope="\#(scope.joined(separator: " "))""#) }
        parameters.append(#"resource_metadata="\#(origin.description)/.well-known/oauth-protected-resource/mcp""#)
        return "Bearer " + parameters.joined(separator: ", ")
    }
}
