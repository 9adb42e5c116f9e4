import Crypto
import Foundation
import GatehouseCrypto
import GatehouseOAuth
import Hummingbird
import Logging
import Synchronization

/// A GitHub-style OAuth 2.0 upstream on loopback, speaking real HTTP: `/login/oauth/authorize`
/// signs the configured user in at once (or refuses, when told to), `/login/oauth/access_token`
/// checks the client, the code, the redirect URI and the PKCE verifier, `/user` hides the
/// private email, `/user/emails` lists it as primary and verified. With expiring tokens (GitHub
/// Apps), tokens come with `expires_in` and a refresh token, and the refresh grant rotates both
/// (counted, and refusable with `invalid_grant`).
public final class FakeGitHub: Sendable {
    public struct User: Sendable {
        public var id: Int
        public var login: String
        public var name: String
        public var publicEmail: String?
        public var primaryEmail: String

        public init(id: Int, login: String, name: String, publicEmail: String?, primaryEmail: String) {
            self.id = id
            self.login = login
            self.name = name
            self.publicEmail = publicEmail
            self.primaryEmail = primaryEmail
        }
    }

    struct Grant {
        var redirectUri: String
        var challenge: String
        var used = false
    }

    public let clientId = "gh-client"
    public let clientSecret = "gh-secret-value"
    private struct State {
        var user = User(id: 4242, login: "octo", name: "Octo Cat", publicEmail: nil, primaryEmail: "octo@example.org")
        var deny = false
        var grants: [String: Grant] = [:]
        var tokens: Set<String> = []
        var exchanges = 0
        var refreshTokens: Set<String> = []
        var refreshes = 0
        var refusingRefresh = false
        var refreshScopes: [String] = []
    }

    private let state = Mutex(State())
    /// Issue tokens that expire, with refresh tokens.
    public let expiringTokens: Bool
    /// Whether a refresh returns a new refresh token (or leaves the old one valid, as RFC 6749 §6 allows).
    public let rotatesRefreshTokens: Bool

    public init(expiringTokens: Bool = false, rotatesRefreshTokens: Bool = true) {
        self.expiringTokens = expiringTokens
        self.rotatesRefreshTokens = rotatesRefreshTokens
    }

    /// Refresh grants answered so far, and the scope each re-sent.
    public var refreshes: Int { state.withLock { $0.refreshes } }
    public var refreshScopes: [String] { state.withLock { $0.refreshScopes } }
    /// From now on, every refresh token is refused with `invalid_grant` (the user revoked the app).
    public func revokeRefreshTokens() { state.withLock { $0.refusingRefresh = true } }

    public func setUser(_ user: User) { state.withLock { $0.user = user } }
    /// Whether an access token this provider issued has the SHA-256 (hex) `fingerprint`.
    public func issuedToken(withFingerprint fingerprint: String) -> Bool {
        state.withLock { state in
            state.tokens.contains { SHA256.hash(data: Array($0.utf8)).map { String(format: "%02x", $0) }.joined() == fingerprint }
        }
    }
    public func setDenying(_ deny: Bool) { state.withLock { $0.deny = deny } }
    public var exchanges: Int { state.withLock { $0.exchanges } }

    /// Serves until `body` returns; `body` gets the base URL (`http://127.0.0.1:port`).
    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("/login/oauth/authorize") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard let redirect = query["redirect_uri"].map(String.init), let state = query["state"].map(String.init),
                let challenge = query["code_challenge"].map(String.init), query["code_challenge_method"] == "S256",
                query["client_id"].map(String.init) == self.clientId
            else {
                return Response(status: .badRequest)
            }
            let deny = self.state.withLock { $0.deny }
            let code = SecretGenerator.generate(prefix: "ghc_", bytes: 16)
            if !deny { self.state.withLock { $0.grants[code] = Grant(redirectUri: redirect, challenge: challenge) } }
            let parameters = deny ? "error=access_denied&state=\(state)" : "code=\(code)&state=\(state)"
            return Response(status: .found, headers: [.location: redirect + "?" + parameters])
        }
        router.post("/login/oauth/access_token") { request, _ -> Response in
            let form = try await formFields(request)
            guard form["client_id"] == self.clientId, form["client_secret"] == self.clientSecret else {
                return jsonResponse(#"{"error":"incorrect_client_credentials"}"#, status: .unauthorized)
            }
            if form["grant_type"] == "refresh_token" { return self.refresh(form) }
            let token: String? = self.state.withLock { state in
                state.exchanges += 1
                guard let code = form["code"], var grant = state.grants[code], !grant.used, form["redirect_uri"] == grant.redirectUri,
                    let verifier = form["code_verifier"], PKCE.verify(verifier: verifier, challenge: grant.challenge)
                else { return nil }
                grant.used = true
                state.grants[code] = grant
                let token = SecretGenerator.generate(prefix: "gho_", bytes: 20)
                state.tokens.insert(token)
                return token
            }
            guard let token else { return jsonResponse(#"{"error":"bad_verification_code"}"#) }
            return self.tokenResponse(token)
        }
        router.get("/user") { request, _ -> Response in
            guard let user = self.user(authorizedBy: request) else { return Response(status: .unauthorized) }
            let email = user.publicEmail.map { "\"\($0)\"" } ?? "null"
            return jsonResponse(#"{"id":\#(user.id),"login":"\#(user.login)","name":"\#(user.name)","email":\#(email)}"#)
        }
        router.get("/user/emails") { request, _ -> Response in
            guard let user = self.user(authorizedBy: request) else { return Response(status: .unauthorized) }
            return jsonResponse(
                #"[{"email":"old@example.org","primary":false,"verified":true},{"email":"\#(user.primaryEmail)","primary":true,"verified":true}]"#
            )
        }
        return try await serveOnLoopback(router, label: "fake GitHub", body)
    }

    private func tokenResponse(_ token: String) -> Response {
        guard expiringTokens else {
            return jsonResponse(#"{"access_token":"\#(token)","token_type":"bearer","scope":"read:user,user:email"}"#)
        }
        let refresh = SecretGenerator.generate(prefix: "ghr_", bytes: 20)
        state.withLock { _ = $0.refreshTokens.insert(refresh) }
        return jsonResponse(
            #"{"access_token":"\#(token)","token_type":"bearer","scope":"read:user,user:email","expires_in":28800,"refresh_token":"\#(refresh)","refresh_token_expires_in":15811200}"#
        )
    }

    /// RFC 6749 §6: a known, unused refresh token gives a new access token and a new refresh token.
    private func refresh(_ form: [String: String]) -> Response {
        let token: String? = state.withLock { state in
            guard !state.refusingRefresh, let presented = form["refresh_token"], state.refreshTokens.contains(presented) else { return nil }
            if self.rotatesRefreshTokens { state.refreshTokens.remove(presented) }
            state.refreshes += 1
            state.refreshScopes.append(form["scope"] ?? "")
            let token = SecretGenerator.generate(prefix: "gho_", bytes: 20)
            state.tokens.insert(token)
            return token
        }
        guard let token else { return jsonResponse(#"{"error":"invalid_grant","error_description":"bad refresh token"}"#, status: .badRequest) }
        guard rotatesRefreshTokens else {
            return jsonResponse(#"{"access_token":"\#(token)","token_type":"bearer","scope":"read:user,user:email","expires_in":28800}"#)
        }
        return tokenResponse(token)
    }

    private func user(authorizedBy request: Request) -> User? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst(7))
        return state.withLock { $0.tokens.contains(token) ? $0.user : nil }
    }
}

/// A JSON response of the fake upstreams.
func jsonResponse(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

/// The fields of an `application/x-www-form-urlencoded` request body (the fake upstreams' token endpoints).
func formFields(_ request: Request) async throws -> [String: String] {
    let text = String(buffer: try await request.body.collect(upTo: 64 * 1024))
    var form: [String: String] = [:]
    for pair in text.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
        if parts.count == 2 { form[parts[0]] = parts[1] }
    }
    return form
}
