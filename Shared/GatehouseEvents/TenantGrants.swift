/// The grants a tenant's authorization server offers beyond authorization code and refresh,
/// each off until the operator turns it on. Metadata announces only those that are on.
public struct TenantGrants: Codable, Sendable, Equatable {
    /// The client credentials grant (RFC 6749 §4.4, the MCP authorization extension) for
    /// confidential clients the operator registered: tokens for a service principal, no end user.
    public var clientCredentials: Bool
    /// DPoP (RFC 9449): a client that sends a proof gets tokens bound to its key, which the
    /// tenant's `/mcp` then accepts only with a proof of that key.
    public var dpop: Bool
    /// With `dpop`: every proof must carry a nonce the service handed out (RFC 9449 §8, §9).
    public var dpopNonces: Bool

    /// Whether DPoP proofs must carry a nonce (asked for only where DPoP is on).
    public var requiresDPoPNonce: Bool { dpop && dpopNonces }

    public init(clientCredentials: Bool = false, dpop: Bool = false, dpopNonces: Bool = false) {
        self.clientCredentials = clientCredentials
        self.dpop = dpop
        self.dpopNonces = dpopNonces
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clientCredentials = try container.decodeIfPresent(Bool.self, forKey: .clientCredentials) ?? false
        dpop = try container.decodeIfPresent(Bool.self, forKey: .dpop) ?? false
        dpopNonces = try container.decodeIfPresent(Bool.self, forKey: .dpopNonces) ?? false
    }
}

/// The public keys a client signs its `private_key_jwt` assertions with (RFC 7517 JWK set;
/// RFC 7523 §2.2): each key's members as the client published them, never a private member.
public struct ClientKeySet: Codable, Sendable, Equatable {
    public var keys: [[String: String]]

    public init(keys: [[String: String]]) {
        self.keys = keys
    }
}
