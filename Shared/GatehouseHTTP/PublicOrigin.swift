import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The scheme and host a request was addressed to, as the client saw them: the `Host` header,
/// or `X-Forwarded-Host`/`X-Forwarded-Proto` when (and only when) the connection comes from a
/// configured proxy. A tenant's issuer is exactly this origin.
public struct PublicOrigin: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String

    public var description: String { "\(scheme)://\(host)" }
    public var issuer: String { description }
    public var mcpResource: String { "\(description)/mcp" }
    public func url(_ path: String) -> String { "\(description)\(path)" }
}

/// Works out `PublicOrigin`s under the configured trust.
public struct OriginResolver: Sendable {
    public let defaultScheme: String
    public let trustedProxies: [IPNetwork]

    public init(defaultScheme: String, trustedProxies: [IPNetwork]) {
        self.defaultScheme = defaultScheme
        self.trustedProxies = trustedProxies
    }

    public func origin(of request: Request, remoteAddress: SocketAddress?) -> PublicOrigin? {
        var host = request.head.authority
        var scheme = defaultScheme
        if let remote = remoteAddress?.ipAddress, trustedProxies.contains(where: { $0.contains(remote) }) {
            if let forwarded = request.headers[HTTPField.Name("X-Forwarded-Host")!]?.split(separator: ",").first {
                host = forwarded.trimmingCharacters(in: .whitespaces)
            }
            if let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.split(separator: ",").first?
                .trimmingCharacters(in: .whitespaces).lowercased(), proto == "https" || proto == "http"
            {
                scheme = proto
            }
        }
        guard let host, let normalised = HostName.normalise(host) else { return nil }
        // The default port of the scheme is not part of the origin.
        let bare =
            (scheme == "https" && normalised.hasSuffix(":443")) || (scheme == "http" && normalised.hasSuffix(":80"))
            ? String(normalised[..<normalised.lastIndex(of: ":")!]) : normalised
        return PublicOrigin(scheme: scheme, host: bare)
    }
}

extension OriginResolver {
    /// `GATEHOUSE_PUBLIC_SCHEME` (`https` unless said otherwise) and `GATEHOUSE_TRUSTED_PROXIES`
    /// (comma-separated addresses or CIDRs whose forwarded headers are believed).
    public init(environment env: EnvironmentReader) throws {
        let scheme = try env.string("GATEHOUSE_PUBLIC_SCHEME", default: "https")
        guard ["https", "http"].contains(scheme) else {
            throw ConfigurationError(variable: "GATEHOUSE_PUBLIC_SCHEME", problem: "must be https or http")
        }
        let proxies = try (env.optionalString("GATEHOUSE_TRUSTED_PROXIES") ?? "").split(separator: ",").map {
            let text = $0.trimmingCharacters(in: .whitespaces)
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(variable: "GATEHOUSE_TRUSTED_PROXIES", problem: "'\(text)' is not an IP address or CIDR")
            }
            return network
        }
        self.init(defaultScheme: scheme, trustedProxies: proxies)
    }

    /// The address of the client: the connection's peer, or, when the peer is a trusted proxy,
    /// the last address in `X-Forwarded-For` that is not itself a trusted proxy.
    public func clientAddress(of request: Request, remoteAddress: SocketAddress?) -> String? {
        guard let remote = remoteAddress?.ipAddress else { return nil }
        guard trustedProxies.contains(where: { $0.contains(remote) }),
            let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!]
        else { return remote }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return hops.last { hop in !trustedProxies.contains { $0.contains(hop) } } ?? hops.first ?? remote
    }
}

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`, or a single address).
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    let address: [UInt8]
    let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let address = IPNetwork.parse(first) else { return nil }
        let maximum = address.count * 8
        let prefix = parts.count == 2 ? Int(parts[1]) : maximum
        guard let prefix, (0...maximum).contains(prefix) else { return nil }
        self.address = address
        self.prefix = prefix
        self.description = text
    }

    public func contains(_ text: String) -> Bool {
        guard let other = IPNetwork.parse(text), other.count == address.count else { return false }
        var remaining = prefix
        for index in address.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address[index] & mask != other[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The address's bytes in network order (4 for IPv4, 16 for IPv6); nil for anything else.
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, text, &v4) == 1 { return v4 }
        var v6 = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET6, text, &v6) == 1 { return v6 }
        return nil
    }
}

/// Host names as tenants are known by.
public enum HostName {
    /// Lower-cases a host name with an optional port; nil for anything else (schemes, paths,
    /// user info, IPv6 literals, empty labels).
    public static func normalise(_ text: String) -> String? {
        let lowered = text.lowercased()
        var host = Substring(lowered)
        if let colon = lowered.lastIndex(of: ":") {
            guard let port = Int(lowered[lowered.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            host = lowered[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard !host.isEmpty, host.count <= 253,
            labels.allSatisfy({ label in
                (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy {
                        ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                            || $0 == UInt8(ascii: "-")
                    }
            })
        else { return nil }
        return lowered
    }
}
