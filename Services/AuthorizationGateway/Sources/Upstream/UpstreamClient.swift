import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseRuntime
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// What the upstream says about the user who logged in.
package struct UpstreamIdentity: Sendable, Equatable {
    package var issuer: String
    package var subject: String
    package var email: String?
    package var emailVerified: Bool
    package var name: String?
}

/// The upstream's tokens; they never leave the gateway except sealed in its own table.
package struct UpstreamTokens: Sendable {
    package var accessToken: UpstreamToken
    package var refreshToken: UpstreamToken?
    package var expiresIn: Int?
    package var idToken: String?
}

/// Why the upstream leg failed: the user or the upstream refused (the client gets
/// `access_denied`), or the upstream is slow or broken (`temporarily_unavailable`).
package enum UpstreamFailure: Error, Equatable {
    case refused(String)
    case unavailable(String)
    /// The upstream answered `invalid_grant` to a refresh: the user's grant there is gone.
    case grantRevoked
}

/// Talks to a tenant's upstream over HTTPS with timeouts and no redirects followed. Each
/// upstream host has a circuit breaker: while one is known to be failing, calls to it fail at
/// once (503 with `Retry-After` for the caller) instead of each waiting out the timeout.
package struct UpstreamClient: Sendable {
    package let http: HTTPClient
    package let timeout: TimeAmount
    package let breaker: CircuitBreaker

    package init(http: HTTPClient, timeout: TimeAmount = .seconds(10), breaker: CircuitBreaker = CircuitBreaker()) {
        self.http = http
        self.timeout = timeout
        self.breaker = breaker
    }

    /// An HTTP client for upstream calls: no redirects, bounded connect time. Shut it down with the service.
    package static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.maximumUsesPerConnection = 100
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Exchanges the upstream code (RFC 6749 §4.1.3 with our PKCE verifier; client_secret_post).
    package func exchange(
        code: String,
        verifier: String,
        redirectUri: String,
        upstream: UpstreamConfiguration,
        clientSecret: String?
    ) async throws -> UpstreamTokens {
        try await tokenRequest(
            [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectUri),
                ("code_verifier", verifier),
            ],
            upstream: upstream,
            clientSecret: clientSecret
        )
    }

    /// Refreshes the upstream access token (RFC 6749 §6), re-sending the tenant's scopes. An
    /// answer without a new refresh token means the old one stays valid (the caller keeps it).
    package func refresh(_ refreshToken: UpstreamToken, upstream: UpstreamConfiguration, clientSecret: String?) async throws -> UpstreamTokens {
        try await tokenRequest(
            [
                ("grant_type", "refresh_token"), ("refresh_token", refreshToken.revealed),
                ("scope", upstream.scopes.joined(separator: " ")),
            ],
            upstream: upstream,
            clientSecret: clientSecret
        )
    }

    private func tokenRequest(_ grant: [(String, String)], upstream: UpstreamConfiguration, clientSecret: String?) async throws -> UpstreamTokens {
        guard let endpoint = upstream.tokenEndpoint else { throw UpstreamFailure.unavailable("no token endpoint") }
        var form = grant + [("client_id", upstream.clientId)]
        if let clientSecret { form.append(("client_secret", clientSecret)) }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: FormBody.encode(form)))
        let (status, body) = try await send(request)
        // An answer that is not an OAuth JSON object (an HTML error page, a proxy's 404) is the
        // upstream failing, not the user being refused.
        guard let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw UpstreamFailure.unavailable("token endpoint answered \(status) without a JSON object")
        }
        if let error = json["error"] as? String {
            throw error == APIError.Code.invalidGrant.rawValue ? UpstreamFailure.grantRevoked : UpstreamFailure.refused("token endpoint: \(error)")
        }
        guard (200..<300).contains(status), let accessToken = json["access_token"] as? String, !accessToken.isEmpty else {
            throw status >= 500 ? UpstreamFailure.unavailable("token endpoint answered \(status)") : UpstreamFailure.refused("no access token")
        }
        return UpstreamTokens(
            accessToken: UpstreamToken(accessToken),
            refreshToken: (json["refresh_token"] as? String).map(UpstreamToken.init),
            expiresIn: (json["expires_in"] as? NSNumber)?.intValue,
            idToken: json["id_token"] as? String
        )
    }

    /// The identity from an OAuth 2.0 upstream's user endpoint; the primary verified address of
    /// the emails endpoint when the user endpoint has no verified email (GitHub hides private ones).
    package func identity(tokens: UpstreamTokens, upstream: UpstreamConfiguration, issuer: String) async throws -> UpstreamIdentity {
        guard let userEndpoint = upstream.userEndpoint else { throw UpstreamFailure.unavailable("no user endpoint") }
        guard let user = try await getJSON(userEndpoint, token: tokens.accessToken) as? [String: Any] else {
            throw UpstreamFailure.unavailable("the user endpoint did not answer with an object")
        }
        let claims = upstream.claims
        let subject: String? =
            switch user[claims.subject] {
            case let text as String: text
            case let number as NSNumber: number.stringValue
            default: nil
            }
        guard let subject, !subject.isEmpty else { throw UpstreamFailure.refused("the upstream gave no subject") }
        var email = (user[claims.email] as? String).flatMap { $0.isEmpty ? nil : $0 }
        var verified = (user[claims.emailVerified] as? Bool) ?? false
        if !verified, let emailsEndpoint = upstream.emailsEndpoint {
            let entries = try await getJSON(emailsEndpoint, token: tokens.accessToken) as? [[String: Any]] ?? []
            if let primary = entries.first(where: { ($0["primary"] as? Bool) == true && ($0["verified"] as? Bool) == true }),
                let address = primary["email"] as? String
            {
                email = address
                verified = true
            }
        }
        return UpstreamIdentity(
            issuer: issuer,
            subject: subject,
            email: email,
            emailVerified: verified && email != nil,
            name: (user[claims.name] as? String).flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    private func getJSON(_ url: String, token: UpstreamToken) async throws -> Any {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token.revealed)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Gatehouse")
        let (status, body) = try await send(request)
        guard (200..<300).contains(status) else {
            throw status >= 500 ? UpstreamFailure.unavailable("\(url) answered \(status)") : UpstreamFailure.refused("\(url) answered \(status)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: body) else { throw UpstreamFailure.unavailable("\(url) answered no JSON") }
        return json
    }

    /// Sends a request within the timeout; status and body (at most 1 MiB). A transport failure
    /// is the upstream being unavailable.
    func send(_ request: HTTPClientRequest) async throws -> (Int, Data) {
        let key = Self.breakerKey(of: request.url)
        do {
            try breaker.admit(key)
        } catch {
            throw UpstreamFailure.unavailable("calls to \(key) are paused for \(error.retryAfter.components.seconds + 1) s: it keeps failing")
        }
        do {
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 1 << 20)
            let status = Int(response.status.code)
            if status >= 500 { breaker.failed(key) } else { breaker.succeeded(key) }
            return (status, Data(buffer: body))
        } catch {
            breaker.failed(key)
            throw UpstreamFailure.unavailable("the upstream did not answer: \(type(of: error))")
        }
    }

    /// The breaker's key for a URL: its scheme, host and port (one upstream).
    static func breakerKey(of url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host else { return url }
        return "\(components.scheme ?? "https")://\(host)\(components.port.map { ":\($0)" } ?? "")"
    }
}
