import HTTPTypes
import Hummingbird

extension Router {
    /// Answers every common method that `path` does not serve with 405 and an `Allow` header
    /// naming those it does (RFC 9110 §15.5.6), instead of the 404 of a path that does not exist.
    public func methodNotAllowed(_ path: String, allowing allowed: [HTTPRequest.Method]) {
        let allow = (allowed + [.options]).map(\.rawValue).joined(separator: ", ")
        let error = APIError(.methodNotAllowed, code: .invalidRequest, "This endpoint answers \(allow) only", headers: [.allow: allow])
        let served = allowed.contains(.get) ? allowed + [.head] : allowed
        for method in [HTTPRequest.Method.get, .head, .post, .put, .patch, .delete] where !served.contains(method) {
            on(RouterPath(path), method: method) { _, _ -> Response in throw error }
        }
    }
}
