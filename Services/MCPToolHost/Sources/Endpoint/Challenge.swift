import GatehouseOAuth
import GatehouseRuntime
import HTTPTypes

/// The `WWW-Authenticate: Bearer` challenge of this resource (RFC 6750 §3, RFC 9728 §5.1).
struct Challenge {
    let origin: PublicOrigin
    let scope: [String]
    /// The DPoP nonce to hand out with a 401, where the tenant asks for nonces (RFC 9449 §9).
    var nonce: String? = nil

    func header(error: APIError.Code?, description: String? = nil) -> String {
        var parameters: [String] = []
        if let error { parameters.append(#"error="\#(error.rawValue)""#) }
        if let description { parameters.append(#"error_description="\#(description)""#) }
        if !scope.isEmpty { parameters.append(#"scope="\#(scope.joined(separator: " "))""#) }
        parameters.append(#"resource_metadata="\#(origin.description)/.well-known/oauth-protected-resource/mcp""#)
        return "Bearer " + parameters.joined(separator: ", ")
    }

    /// The `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1): the algorithms proofs may use.
    func dpopHeader(error: APIError.Code?, description: String? = nil) -> String {
        var parameters: [String] = []
        if let error { parameters.append(#"error="\#(error.rawValue)""#) }
        if let description { parameters.append(#"error_description="\#(description)""#) }
        parameters.append(#"algs="\#(DPoPProof.algorithms.sorted().joined(separator: " "))""#)
        return "DPoP " + parameters.joined(separator: ", ")
    }

    /// The challenges of a 401: Bearer, and DPoP where the tenant accepts it; each names the
    /// error only for the scheme the request used.
    func headers(error: APIError.Code?, description: String? = nil, dpop: Bool, usedDPoP: Bool = false) -> HTTPFields {
        var fields = HTTPFields()
        fields.append(HTTPField(name: .wwwAuthenticate, value: header(error: usedDPoP ? nil : error, description: usedDPoP ? nil : description)))
        if dpop || usedDPoP {
            fields.append(
                HTTPField(name: .wwwAuthenticate, value: dpopHeader(error: usedDPoP ? error : nil, description: usedDPoP ? description : nil))
            )
        }
        if let nonce { fields.append(HTTPField(name: .dpopNonce, value: nonce)) }
        return fields
    }
}
