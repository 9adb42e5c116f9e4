import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseRuntime
import HTTPTypes

/// OAuth errors of the token service's endpoints, with the status RFC 6749 §5.2 gives them.
/// Descriptions are for the client developer and never carry a secret.
enum OAuthError {
    static func invalidRequest(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidRequest, detail) }
    static func invalidGrant(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidGrant, detail) }
    static func invalidScope(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidScope, detail) }
    static func invalidTarget(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidTarget, detail) }
    static func unauthorizedClient(_ detail: String) -> APIError { APIError(.badRequest, code: .unauthorizedClient, detail) }
    static func unsupportedGrantType(_ detail: String) -> APIError { APIError(.badRequest, code: .unsupportedGrantType, detail) }
    /// RFC 9449 §5: a DPoP proof the token endpoint does not accept.
    static func invalidDPoPProof(_ detail: String) -> APIError { APIError(.badRequest, code: .invalidDPoPProof, detail) }

    /// 401; with `WWW-Authenticate: Basic` when the client tried the Authorization header.
    static func invalidClient(_ detail: String, basic: Bool) -> APIError {
        APIError(.unauthorized, code: .invalidClient, detail, headers: basic ? [.wwwAuthenticate: #"Basic realm="gatehouse""#] : [:])
    }
}
