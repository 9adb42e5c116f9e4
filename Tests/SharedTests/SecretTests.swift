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
