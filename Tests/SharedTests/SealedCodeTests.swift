import Foundation
import GatehouseCrypto
import GatehouseOAuth
import Testing

/// The sealed authorization code (docs/design.md invariant 3) and PKCE S256.
@Suite("Sealed codes and PKCE")
struct SealedCodeTests {
    static let ring = try! KeyRing(keys: ["old": Array(repeating: 1, count: 32), "new": Array(repeating: 2, count: 32)], current: "new")

    func binding(tenant: String = "acme", lifetime: TimeInterval = 60, at date: Date = Date()) -> CodeBinding {
        CodeBinding(
            tenant: tenant,
            clientId: "mcp_client_x",
            client: .init(tokenEndpointAuthMethod: "none", secretHash: nil, grantTypes: ["authorization_code", "refresh_token"]),
            redirectUri: "http://127.0.0.1:5000/cb",
            codeChallenge: PKCE.challenge(for: String(repeating: "v", count: 43)),
            resource: "https://acme.example/mcp",
            scopes: ["mcp:tools"],
            userId: "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            identity: .init(issuer: "https://idp.example", subject: "42", email: "a@example.org", emailVerified: true, name: "A"),
            issuedAt: date,
            lifetime: lifetime
        )
    }

    @Test("A sealed code opens at its tenant to exactly its binding, and names the current key")
    func roundTrip() throws {
        let original = binding()
        let code = try SealedCode.seal(original, keyRing: Self.ring)
        #expect(code.hasPrefix("mcp_code_new."))
        #expect(!code.contains("a@example.org") && !code.contains("mcp_client_x"))
        let opened = try SealedCode.open(code, tenant: "acme", keyRing: Self.ring)
        #expect(
            opened.clientId == original.clientId && opened.client == original.client && opened.scopes == original.scopes
                && opened.identity == original.identity
        )
        #expect(abs(opened.expiresAt.timeIntervalSince(original.expiresAt)) < 0.002)
        let again = try SealedCode.seal(original, keyRing: Self.ring)
        #expect(SealedCode.hash(code).count == 64 && SealedCode.hash(code) != SealedCode.hash(again))
    }

    @Test("Worthless at another tenant, after tampering, with an unknown key, or after expiry")
    func refused() throws {
        let code = try SealedCode.seal(binding(), keyRing: Self.ring)
        #expect(throws: SealedCode.Failure.invalid) { try SealedCode.open(code, tenant: "globex", keyRing: Self.ring) }
        var bytes = Array(code.utf8)
        bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: SealedCode.Failure.invalid) {
            try SealedCode.open(String(decoding: bytes, as: UTF8.self), tenant: "acme", keyRing: Self.ring)
        }
        let other = try KeyRing(keys: ["new": Array(repeating: 9, count: 32)], current: "new")
        #expect(throws: SealedCode.Failure.invalid) { try SealedCode.open(code, tenant: "acme", keyRing: other) }
        for garbage in ["", "mcp_code_", "mcp_code_new.", "mcp_code_nokey.AAAA", "mcp_at_whatever", String(repeating: "x", count: 5000)] {
            #expect(throws: SealedCode.Failure.invalid) { try SealedCode.open(garbage, tenant: "acme", keyRing: Self.ring) }
        }
        #expect(throws: SealedCode.Failure.expired) {
            try SealedCode.open(code, tenant: "acme", keyRing: Self.ring, now: Date().addingTimeInterval(61))
        }
        // A lifetime above 60 s is capped.
        let long = binding(lifetime: 3600)
        #expect(long.expiresAt.timeIntervalSince(long.issuedAt) == 60)
    }

    @Test("Keys rotate: a code sealed under the old current key still opens while the old key is kept")
    func rotation() throws {
        let before = try KeyRing(keys: ["old": Array(repeating: 1, count: 32)], current: "old")
        let code = try SealedCode.seal(binding(), keyRing: before)
        #expect(try SealedCode.open(code, tenant: "acme", keyRing: Self.ring).tenant == "acme")
        let after = try KeyRing(keys: ["new": Array(repeating: 2, count: 32)], current: "new")
        #expect(throws: SealedCode.Failure.invalid) { try SealedCode.open(code, tenant: "acme", keyRing: after) }
    }

    @Test(
        "Key ring specifications are checked",
        arguments: [
            ("", false), ("k1", false), ("k1:short", false), ("k1:\(KeyRing.generateKey())", true),
            ("k1:\(KeyRing.generateKey()),k2:\(KeyRing.generateKey())", true), ("k1:\(KeyRing.generateKey()),k1:\(KeyRing.generateKey())", false),
            ("bad id:\(KeyRing.generateKey())", false),
        ]
    )
    func specifications(_ text: String, _ valid: Bool) {
        let parsed = try? KeyRing(specification: text)
        #expect((parsed != nil) == valid)
    }

    @Test("PKCE S256: the RFC 7636 appendix B example, and malformed values")
    func pkce() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        #expect(PKCE.challenge(for: verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(PKCE.verify(verifier: verifier, challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(!PKCE.verify(verifier: verifier + "x", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(!PKCE.verify(verifier: "short", challenge: PKCE.challenge(for: "short")))
        #expect(PKCE.isWellFormedS256Challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        for bad in [
            "", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM", String(repeating: "a", count: 128),
        ] {
            #expect(!PKCE.isWellFormedS256Challenge(bad), "\(bad)")
        }
        #expect(PKCE.isWellFormed(PKCE.makeVerifier()))
    }
}
