import Foundation
import GatehouseCrypto
import GatehouseEvents
import Testing

@testable import TokenService

/// The rule of refresh rotation as a plain function: no server, no database.
@Suite("Refresh rotation decision")
struct RefreshRotationTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A grant at generation 3: `live` is its refresh token, `previous` the one it replaced
    /// `rotatedAgo` seconds before `now`.
    static func grant(revoked: Bool = false, expiresIn: TimeInterval = 3600, rotatedAgo: TimeInterval? = 10) -> GrantState {
        GrantState(
            grantId: "grt_1",
            tenant: "acme",
            clientId: "c",
            userId: "u",
            scopes: ["mcp:tools"],
            resource: "https://acme.example/mcp",
            client: RegisteredClient(clientId: "c", tokenEndpointAuthMethod: "none", secretHash: nil, grantTypes: ["refresh_token"], disabled: false),
            revoked: revoked,
            generation: 3,
            refreshHash: "live",
            previousRefreshHash: rotatedAgo == nil ? nil : "previous",
            refreshedAt: rotatedAgo.map { now.addingTimeInterval(-$0) },
            refreshExpiresAt: now.addingTimeInterval(expiresIn),
            refreshKeyID: "k1",
            now: now
        )
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var presented: String
        var grant: GrantState
        var grace: Duration = .seconds(30)
        var expected: RefreshRotation
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "the live token rotates", presented: "live", grant: grant(), expected: .rotate),
        Case(name: "the live token of a grant never rotated before rotates", presented: "live", grant: grant(rotatedAgo: nil), expected: .rotate),
        Case(
            name: "the replaced token inside the window repeats the successor",
            presented: "previous",
            grant: grant(rotatedAgo: 10),
            expected: .repeatSuccessor
        ),
        Case(
            name: "the replaced token at the window's very end still repeats",
            presented: "previous",
            grant: grant(rotatedAgo: 30),
            expected: .repeatSuccessor
        ),
        Case(name: "the replaced token after the window is reuse", presented: "previous", grant: grant(rotatedAgo: 30.5), expected: .reuse),
        Case(
            name: "with no grace window the replaced token is reuse at once",
            presented: "previous",
            grant: grant(rotatedAgo: 0.001),
            grace: .zero,
            expected: .reuse
        ),
        Case(
            name: "a token two generations old is reuse, even inside the window",
            presented: "older",
            grant: grant(rotatedAgo: 1),
            expected: .reuse
        ),
        Case(name: "a revoked grant refuses even its live token", presented: "live", grant: grant(revoked: true), expected: .refused(.revoked)),
        Case(
            name: "a revoked grant refuses an old token without revoking again",
            presented: "older",
            grant: grant(revoked: true),
            expected: .refused(.revoked)
        ),
        Case(name: "an expired family refuses its live token", presented: "live", grant: grant(expiresIn: 0), expected: .refused(.expired)),
        Case(
            name: "an expired family refuses an old token as expired, not reuse",
            presented: "older",
            grant: grant(expiresIn: -5),
            expected: .refused(.expired)
        ),
    ]

    @Test("RefreshRotation.decide", arguments: cases)
    func decide(_ testCase: Case) {
        #expect(RefreshRotation.decide(presentedHash: testCase.presented, grant: testCase.grant, grace: testCase.grace) == testCase.expected)
    }

    @Test("A successor is derived the same way on every instance, and differs per token, grant, generation and key")
    func successorDerivation() throws {
        let k1 = Array(repeating: UInt8(1), count: 32)
        let ring = try KeyRing(keys: ["k1": k1], current: "k1")
        // After a rotation of the ring, the old key still derives what it derived before.
        let rotated = try KeyRing(keys: ["k1": k1, "k2": Array(repeating: 2, count: 32)], current: "k2")
        let token = RefreshToken("mcp_rt_presented")
        let successor = try #require(RefreshSuccessor.derive(from: token, grantId: "g", generation: 2, keyRing: ring, keyID: "k1"))
        #expect(successor.revealed.hasPrefix("mcp_rt_") && successor.revealed.count > 40)
        #expect(RefreshSuccessor.derive(from: token, grantId: "g", generation: 2, keyRing: rotated, keyID: "k1") == successor)
        let others = [
            RefreshSuccessor.derive(from: RefreshToken(token.revealed + "x"), grantId: "g", generation: 2, keyRing: ring, keyID: "k1"),
            RefreshSuccessor.derive(from: token, grantId: "h", generation: 2, keyRing: ring, keyID: "k1"),
            RefreshSuccessor.derive(from: token, grantId: "g", generation: 3, keyRing: ring, keyID: "k1"),
            RefreshSuccessor.derive(from: token, grantId: "g", generation: 2, keyRing: rotated, keyID: "k2"),
        ]
        #expect(Set(others.compactMap { $0 } + [successor]).count == 5)
        // A retired key derives nothing.
        #expect(RefreshSuccessor.derive(from: token, grantId: "g", generation: 2, keyRing: ring, keyID: "k0") == nil)
    }
}
