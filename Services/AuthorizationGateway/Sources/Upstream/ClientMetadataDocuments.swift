import AsyncHTTPClient
import Foundation
import GatehouseRuntime
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25):
/// a client whose `client_id` is an https URL publishes its metadata there. The gateway fetches
/// it as an untrusted party would hand it an address:
/// - https only, a path, no fragment, user info or dot segments;
/// - the host is resolved first and every address must be public (no loopback, private,
///   link-local, shared, multicast or reserved ranges); the connection then goes to the vetted
///   address (a second DNS answer cannot point it elsewhere);
/// - no redirects, 16 KiB at most, 5 s in all;
/// - the document's `client_id` must equal its URL exactly; it must name redirect URIs that pass
///   the registration rules and must not use a shared secret (`none` only).
/// Documents are cached as their `Cache-Control` says (5 minutes without, a day at most).
/// When a refetch fails in transit (the host unreachable, a timeout, a 5xx), the last good
/// document is used for up to `staleLimit` after it was fetched, so a publisher's outage does
/// not lock its users out; a document that now breaks a rule, or a host that now resolves to a
/// non-public address, is refused at once. Operators can pin documents (`pinned`, by exact
/// client id URL): a pinned document is never fetched.
/// `allowLoopback` lets tests serve documents over http on 127.0.0.1; never in production.
package actor ClientMetadataDocuments {
    package enum Failure: Error, Equatable, CustomStringConvertible {
        case notAnAcceptableURL
        case forbiddenAddress(String)
        case unresolvable
        /// The URL does not serve a document (a redirect, a 4xx, too large, not JSON).
        case fetchFailed(String)
        /// The publisher's server did not answer as it should (no answer, a timeout, a 5xx).
        case unavailable(String)
        case invalidDocument(String)

        package var description: String {
            switch self {
            case .notAnAcceptableURL: "the client_id is not an acceptable https URL"
            case .forbiddenAddress(let address): "the client_id's host resolves to a non-public address (\(address))"
            case .unresolvable: "the client_id's host does not resolve"
            case .fetchFailed(let reason): "the metadata document could not be fetched: \(reason)"
            case .unavailable(let reason): "the metadata document's server is not answering: \(reason)"
            case .invalidDocument(let reason): "the metadata document is invalid: \(reason)"
            }
        }

        /// A failure in transit, which a last good document may stand in for.
        package var isTransient: Bool {
            switch self {
            case .unresolvable, .unavailable: true
            case .notAnAcceptableURL, .forbiddenAddress, .fetchFailed, .invalidDocument: false
            }
        }
    }

    package static let maximumBytes = 16 * 1024
    package static let timeout: TimeAmount = .seconds(5)
    static let defaultLifetime: Duration = .seconds(300)
    static let maximumLifetime: Duration = .seconds(86_400)

    /// The last document fetched and accepted for a URL: fresh until `expires` (its
    /// `Cache-Control`; at once for `no-store`), the stand-in during outages until
    /// `fetched + staleLimit`.
    private struct Entry {
        var client: AuthorizingClient
        var fetched: ContinuousClock.Instant
        var expires: ContinuousClock.Instant
    }

    private let allowLoopback: Bool
    private let logger: Logger
    private let staleLimit: Duration
    private let pinned: [String: AuthorizingClient]
    private var cache: [String: Entry] = [:]
    /// Documents fetched so far (for tests and metrics).
    package private(set) var fetches = 0

    /// `pinned`: documents an operator fixed (see `pin`).
    package init(allowLoopback: Bool, staleLimit: Duration = .seconds(86_400), pinned: [String: AuthorizingClient] = [:], logger: Logger) {
        self.allowLoopback = allowLoopback
        self.staleLimit = staleLimit
        self.logger = logger
        self.pinned = pinned
    }

    /// Documents to pin, client id URL → document text, each checked as a fetched one would be.
    package nonisolated static func pin(_ documents: [String: String]) throws -> [String: AuthorizingClient] {
        try documents.reduce(into: [:]) { clients, pin in clients[pin.key] = try client(from: pin.value, url: pin.key) }
    }

    /// Whether `clientId` names a metadata document rather than a registered client.
    package nonisolated static func isDocumentURL(_ clientId: String) -> Bool {
        clientId.hasPrefix("https://") || clientId.hasPrefix("http://")
    }

    /// The client the document at `url` describes (from the cache while it is fresh).
    package func client(for url: String) async throws -> AuthorizingClient {
        if let client = pinned[url] { return client }
        if let entry = cache[url], entry.expires > .now { return entry.client }
        let components = try acceptableURL(url)
        let host = components.host!
        let client: AuthorizingClient
        let lifetime: Duration
        do {
            let address = try await vettedAddress(of: host)
            fetches += 1
            let body: String
            (body, lifetime) = try await fetch(url, host: host, address: address)
            client = try Self.client(from: body, url: url)
        } catch let failure as Failure {
            guard failure.isTransient, let last = cache[url], ContinuousClock.now - last.fetched <= staleLimit else { throw failure }
            logger.warning(
                "Metadata document refetch failed; using the last good one",
                metadata: ["client_id": "\(url)", "reason": "\(failure)", "age_s": "\((ContinuousClock.now - last.fetched).components.seconds)"]
            )
            return last.client
        }
        if cache.count > 10_000 { cache.removeAll() }
        let now = ContinuousClock.now
        cache[url] = Entry(client: client, fetched: now, expires: now + lifetime)
        return client
    }

    // MARK: The URL

    func acceptableURL(_ url: String) throws -> URLComponents {
        guard url.utf8.count <= 2048, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty, components.fragment == nil, components.user == nil, components.password == nil,
            components.path.count > 1,
            !components.path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == "." || $0 == ".." })
        else { throw Failure.notAnAcceptableURL }
        guard scheme == "https" || (allowLoopback && scheme == "http") else { throw Failure.notAnAcceptableURL }
        return components
    }

    // MARK: The address

    /// Resolves `host` and returns an address to connect to, if every address it has is public.
    func vettedAddress(of host: String) async throws -> String {
        let addresses = try await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }
        guard let first = addresses.first else { throw Failure.unresolvable }
        for address in addresses where !Self.isPublic(address) && !(allowLoopback && Self.isLoopback(address)) {
            throw Failure.forbiddenAddress(address)
        }
        return first
    }

    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            switch info.pointee.ai_family {
            case AF_INET:
                var address = info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                if inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil { addresses.append(Self.text(ofNullTerminated: buffer)) }
            case AF_INET6:
                var address = info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                if inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil { addresses.append(Self.text(ofNullTerminated: buffer)) }
            default:
                break
            }
            cursor = info.pointee.ai_next
        }
        return Array(Set(addresses)).sorted()
    }

    /// The text of a C string buffer (`inet_ntop`'s answer): the bytes before the first NUL.
    private static func text(ofNullTerminated buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Ranges no metadata document may live in (RFC 6890 special-purpose registries and friends).
    static let nonPublic: [IPNetwork] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
        "fc00::/7", "fe80::/10", "ff00::/8",
    ].map { IPNetwork($0)! }

    package static func isPublic(_ address: String) -> Bool { !nonPublic.contains { $0.contains(address) } }

    static let loopback: [IPNetwork] = ["127.0.0.0/8", "::1/128"].map { IPNetwork($0)! }

    static func isLoopback(_ address: String) -> Bool { loopback.contains { $0.contains(address) } }

    // MARK: The fetch

    private func fetch(_ url: String, host: String, address: String) async throws -> (String, Duration) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(3), read: Self.timeout)
        )
        configuration.dnsOverride = [host: address]
        configuration.maximumUsesPerConnection = 1
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        defer { http.shutdown { _ in } }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Gatehouse")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: Self.timeout)
            guard response.status == .ok else {
                if response.status.code >= 500 { throw Failure.unavailable("status \(response.status.code)") }
                throw Failure.fetchFailed(
                    (300..<400).contains(response.status.code) ? "redirects are not followed" : "status \(response.status.code)"
                )
            }
            body = try await response.body.collect(upTo: Self.maximumBytes)
        } catch let failure as Failure {
            throw failure
        } catch is NIOTooManyBytesError {
            throw Failure.fetchFailed("larger than \(Self.maximumBytes) bytes")
        } catch {
            throw Failure.unavailable("\(type(of: error))")
        }
        let type = response.headers.first(name: "Content-Type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard type == "application/json" || type.hasSuffix("+json") else { throw Failure.fetchFailed("not JSON (\(type))") }
        return (String(buffer: body), Self.lifetime(cacheControl: response.headers.first(name: "Cache-Control")))
    }

    /// How long to keep a document: its `max-age` within [0, a day]; nothing for `no-store`
    /// or `no-cache`; five minutes when it says nothing.
    package static func lifetime(cacheControl: String?) -> Duration {
        guard let cacheControl else { return defaultLifetime }
        let directives = cacheControl.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if directives.contains("no-store") || directives.contains("no-cache") { return .zero }
        if let maxAge = directives.first(where: { $0.hasPrefix("max-age=") }).flatMap({ Int($0.dropFirst("max-age=".count)) }) {
            return min(.seconds(max(0, maxAge)), maximumLifetime)
        }
        return defaultLifetime
    }

    // MARK: The document

    nonisolated static func client(from body: String, url: String) throws -> AuthorizingClient {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw Failure.invalidDocument("not a JSON object")
        }
        guard object["client_id"] as? String == url else { throw Failure.invalidDocument("its client_id is not exactly its URL") }
        guard object["client_secret"] == nil, object["client_secret_expires_at"] == nil else {
            throw Failure.invalidDocument("a metadata document cannot carry a client secret")
        }
        var request: ClientMetadataRequest
        do {
            request = try JSONBody.decoder().decode(ClientMetadataRequest.self, from: Data(body.utf8))
        } catch {
            throw Failure.invalidDocument("a field has the wrong type")
        }
        request.tokenEndpointAuthMethod = request.tokenEndpointAuthMethod ?? "none"
        guard request.tokenEndpointAuthMethod == "none" else {
            throw Failure.invalidDocument("token_endpoint_auth_method must be none (there is no shared secret)")
        }
        let metadata: ClientMetadata
        do {
            metadata = try ClientRegistrationRules.validate(request, supportedScopes: GatewayScopes.supported)
        } catch let error as RegistrationError {
            throw Failure.invalidDocument(error.detail)
        }
        return AuthorizingClient(
            clientId: url,
            name: metadata.clientName,
            redirectUris: metadata.redirectUris,
            grantTypes: metadata.grantTypes,
            scope: metadata.scope
        )
    }
}
