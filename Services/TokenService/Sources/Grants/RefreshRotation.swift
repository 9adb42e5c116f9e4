import Foundation

/// What presenting a refresh token does to its grant: the whole rule of rotation, as a pure
/// function of the grant's state (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
///
/// Every use of the live token rotates it. Its successor is derived from it (see
/// `RefreshSuccessor`), so the token it replaced, presented again within the grace window and
/// before the successor is used, yields that same successor: concurrent refreshes, retries
/// and two tabs sharing one token all end up holding the one live token. Anything older, or
/// the replaced token after the window, is reuse and revokes the grant.
enum RefreshRotation: Equatable, Sendable {
    /// The live token: the next generation replaces it.
    case rotate
    /// The token the live one replaced, within the grace window: the live one is handed out
    /// again (with a new access token); the grant does not change.
    case repeatSuccessor
    /// An older token, or the replaced one after the window: the family is revoked.
    case reuse
    /// Refused without touching the grant.
    case refused(Refusal)

    enum Refusal: Equatable, Sendable {
        case revoked
        case expired
    }

    /// The decision for a token whose hash is `presentedHash`, belonging to `grant` as read at
    /// `grant.now` (the database's clock, which also judges the compare-and-set).
    static func decide(presentedHash: String, grant: GrantState, grace: Duration) -> RefreshRotation {
        if grant.revoked { return .refused(.revoked) }
        guard let expires = grant.refreshExpiresAt, expires > grant.now else { return .refused(.expired) }
        if presentedHash == grant.refreshHash { return .rotate }
        if presentedHash == grant.previousRefreshHash, let rotated = grant.refreshedAt,
            grant.now.timeIntervalSince(rotated) <= grace / .seconds(1)
        {
            return .repeatSuccessor
        }
        return .reuse
    }
}
