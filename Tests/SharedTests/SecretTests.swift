import Foundation
import GatehouseCrypto
import Testing

@Suite("Secrets")
struct SecretTests {
    @Test("A secret shows its kind and nothing of its value, however it is printed")
    func redacted() {
        let token = AccessToken("mcp_at_do-not-show-me")
        let refresh: RefreshToken? = RefreshToken("mcp_rt_do-not-show-me")
        var dumped = ""
        dump(token, to: &dumped)
        dump(refresh, to: &dumped)
        let renderings = [
            String(describing: token), String(reflecting: token), token.description, token.debugDescription, dumped,
            String(describing: refresh as Any), String(describing: [token]), "\(Mirror(reflecting: token).children.count)",
        ]
        for rendering in renderings {
            #expect(!rendering.contains("do-not-show-me"), "\(rendering)")
        }
        #expect(token.description == "<access token>")
        #expect(String(describing: refresh as Any) == "Optional(<refresh token>)")
        #expect(Mirror(reflecting: token).children.isEmpty)
    }

    @Test("Its value, hash and kind are what they hold; equal values of one kind are equal")
    func valueAndHash() {
        let code = AuthorizationCode("gh_code_123")
        #expect(code.revealed == "gh_code_123")
        #expect(code.hash == SecretHash.of("gh_code_123"))
        #expect(code == AuthorizationCode("gh_code_123") && code != AuthorizationCode("gh_code_124"))
        let generated = RefreshToken.generate(prefix: "mcp_rt_")
        #expect(generated.revealed.hasPrefix("mcp_rt_") && generated.revealed.count > 40)
        #expect(generated != RefreshToken.generate(prefix: "mcp_rt_"))
    }
}

@Suite("Base64url")
struct Base64URLTests {
    @Test(
        "RFC 4648 §10's vectors in the URL alphabet without padding, both ways",
        arguments: [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
    )
    func vectors(_ plain: String, _ encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test("The URL alphabet's - and _ stand for + and /; the standard alphabet, padding and other bytes are refused")
    func alphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
        for refused in ["+/+/", "Zg==", "Zm 9", "Zm9v\n", "é"] { #expect(Base64URL.decode(refused) == nil, "\(refused)") }
        let random = (0..<257).map { _ in UInt8.random(in: 0...255) }
        #expect(Base64URL.decode(Base64URL.encode(random)) == random)
    }
}
