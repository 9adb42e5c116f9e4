import AsyncHTTPClient
import Foundation
import GatehouseRuntime
import NIOCore
import NIOHTTP1

/// Asks the gateway (which owns the upstream tokens) for a user's current upstream profile:
/// `POST <gateway>/internal/upstream-profile` with the internal token.
package struct UpstreamProfileClient: Sendable {
    package struct Profile: Sendable, Equatable {
        package var email: String?
        package var emailVerified: Bool
        package var name: String?
    }

    package enum Failure: Error, Equatable {
        /// The upstream no longer accepts the user's grant: ours must end too.
        case grantRevoked
        /// The gateway or the upstream is unreachable, or answered something else.
        case unavailable(String)
    }

    package let http: HTTPClient
    package let gatewayURL: String
    package let token: OperatorToken

    package init(http: HTTPClient, gatewayURL: String, token: OperatorToken) {
        self.http = http
        self.gatewayURL = gatewayURL
        self.token = token
    }

    /// The client for the gateway's internal route. The gateway is a service of our own on the
    /// internal network: connecting is retried for 2 s at most (AsyncHTTPClient fails a request
    /// whose connection attempts have failed for the connect timeout), so when no instance accepts
    /// the connection the caller gets its 503 with Retry-After then, not after the 15 s that the
    /// gateway may need for a slow upstream.
    package static func makeHTTPClient() -> HTTPClient {
        let configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2)))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    package func profile(tenant: String, userId: String) async throws -> Profile {
        let (status, json): (UInt, [String: Any])
        do {
            (status, json) = try await GatewayInternalRoute(url: gatewayURL, token: token)
                .post("/internal/upstream-profile", tenant: tenant, userId: userId, http: http)
        } catch {
            throw Failure.unavailable("the gateway did not answer: \(type(of: error))")
        }
        switch status {
        case 200:
            return Profile(email: json["email"] as? String, emailVerified: json["email_verified"] as? Bool ?? false, name: json["name"] as? String)
        case 409 where json["error"] as? String == "upstream_grant_revoked":
            throw Failure.grantRevoked
        default:
            throw Failure.unavailable("the gateway answered \(status)")
        }
    }
}
