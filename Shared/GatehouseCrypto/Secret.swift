/// A secret as it passes through the code: an access or refresh token, an authorization code,
/// a client secret, an upstream provider's token. Its kind is part of its type, so an access
/// token cannot be passed where a refresh token is expected; and it never shows itself by
/// accident: interpolated into a log line or an error, printed, dumped or mirrored, it reads
/// `<access token>` and nothing of its value. The value is read only where it must leave the
/// process or be hashed, through `revealed`, which is easy to find in review.
public struct Secret<Kind: SecretKind>: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The clear value.
    public let revealed: String

    public init(_ revealed: String) {
        self.revealed = revealed
    }

    /// A new random secret of this kind with its recognisable prefix (`SecretGenerator`).
    public static func generate(prefix: String) -> Secret {
        Secret(SecretGenerator.generate(prefix: prefix))
    }

    /// Its stored form (`SecretHash`).
    public var hash: String { SecretHash.of(revealed) }

    /// Whether it is the secret whose stored form is `hash` (in constant time).
    public func matches(hash: String) -> Bool { SecretHash.matches(revealed, hash: hash) }

    public var description: String { "<\(Kind.name)>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// What a `Secret` is, by name only (`access token`), for its redacted description.
public protocol SecretKind: Sendable {
    static var name: String { get }
}

/// The kinds of secret Gatehouse handles.
public enum SecretKinds {
    public enum AccessToken: SecretKind { public static let name = "access token" }
    public enum RefreshToken: SecretKind { public static let name = "refresh token" }
    public enum AuthorizationCode: SecretKind { public static let name = "authorization code" }
    public enum ClientSecret: SecretKind { public static let name = "client secret" }
    public enum UpstreamToken: SecretKind { public static let name = "upstream token" }
}

/// An access token we issued (or a bearer token presented as one).
public typealias AccessToken = Secret<SecretKinds.AccessToken>
/// A refresh token we issued (or one presented as one).
public typealias RefreshToken = Secret<SecretKinds.RefreshToken>
/// An authorization code (sealed by the gateway, redeemed at the token service).
public typealias AuthorizationCode = Secret<SecretKinds.AuthorizationCode>
/// A client's secret, as presented or as issued at registration.
public typealias ClientSecret = Secret<SecretKinds.ClientSecret>
/// A token of the tenant's upstream provider, which only the gateway holds.
public typealias UpstreamToken = Secret<SecretKinds.UpstreamToken>

extension DefaultStringInterpolation {
    /// A secret cannot be interpolated: into a log line or an error it would mean nothing, and
    /// into a header or a body its redacted description would silently replace the value.
    /// Say `secret.revealed` where the value must be sent, and leave it out everywhere else.
    @available(*, deprecated, message: "interpolate secret.revealed where the value must be sent; never log a secret")
    public mutating func appendInterpolation<Kind>(_ secret: Secret<Kind>) {}

    @available(*, deprecated, message: "interpolate secret.revealed where the value must be sent; never log a secret")
    public mutating func appendInterpolation<Kind>(_ secret: Secret<Kind>?) {}
}
