extension APIError {
    /// The error codes Gatehouse answers with, typed so that no branch compares strings: those of
    /// OAuth 2.1 and RFC 6749 (§4.1.2.1 authorization, §5.2 token), RFC 6750 §3.1 (bearer
    /// tokens), RFC 7591 §3.2.2 (registration), RFC 8707 and RFC 9101, and the admin API's own.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // OAuth 2.1: authorization and token endpoints.
        public static let invalidRequest = Code(rawValue: "invalid_request")
        public static let invalidClient = Code(rawValue: "invalid_client")
        public static let invalidGrant = Code(rawValue: "invalid_grant")
        public static let unauthorizedClient = Code(rawValue: "unauthorized_client")
        public static let unsupportedGrantType = Code(rawValue: "unsupported_grant_type")
        public static let unsupportedResponseType = Code(rawValue: "unsupported_response_type")
        public static let invalidScope = Code(rawValue: "invalid_scope")
        public static let accessDenied = Code(rawValue: "access_denied")
        public static let serverError = Code(rawValue: "server_error")
        public static let temporarilyUnavailable = Code(rawValue: "temporarily_unavailable")
        /// RFC 8707: a resource the server does not serve.
        public static let invalidTarget = Code(rawValue: "invalid_target")
        /// RFC 9101: request objects.
        public static let requestNotSupported = Code(rawValue: "request_not_supported")
        public static let requestURINotSupported = Code(rawValue: "request_uri_not_supported")
        /// RFC 8628 §3.5, also our answer to a caller over its rate.
        public static let slowDown = Code(rawValue: "slow_down")
        // RFC 6750 §3.1: protected resources.
        public static let invalidToken = Code(rawValue: "invalid_token")
        public static let insufficientScope = Code(rawValue: "insufficient_scope")
        // RFC 9449 §5 and §7.1: DPoP.
        public static let invalidDPoPProof = Code(rawValue: "invalid_dpop_proof")
        public static let useDPoPNonce = Code(rawValue: "use_dpop_nonce")
        // RFC 7591 §3.2.2: registration.
        public static let invalidRedirectURI = Code(rawValue: "invalid_redirect_uri")
        public static let invalidClientMetadata = Code(rawValue: "invalid_client_metadata")
        // Gatehouse's own, outside OAuth.
        public static let notFound = Code(rawValue: "not_found")
        public static let unauthorized = Code(rawValue: "unauthorized")
        public static let conflict = Code(rawValue: "conflict")
        public static let invalidTenant = Code(rawValue: "invalid_tenant")
        public static let forbiddenOrigin = Code(rawValue: "forbidden_origin")
        public static let upstreamGrantRevoked = Code(rawValue: "upstream_grant_revoked")
    }
}
