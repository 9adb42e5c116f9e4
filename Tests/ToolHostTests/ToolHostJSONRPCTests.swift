import Foundation
import GatehouseTestSupport
import HTTPTypes
import HummingbirdTesting
import ServiceFixtures
import Testing

/// JSON-RPC ids and methods at the edges of what JSON can carry: echoed exactly or refused
/// with -32600 at once, never changed and never left hanging.
@Suite("Tool host: JSON-RPC ids and methods")
struct ToolHostJSONRPCTests {
    static let methods = [
        #"{"jsonrpc":"2.0","id":ID,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":ID,"method":"tools/list"}"#,
        #"{"jsonrpc":"2.0","id":ID,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        #"{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#,
    ]

    @Test("The largest 64-bit id, negative ids and string ids are echoed exactly by every method")
    func idsEchoedExactly() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                for template in Self.methods {
                    for id in ["9223372036854775807", "-42", "0", #""18446744073709551616""#] {
                        let answer = try await http.mcp(template.replacingOccurrences(of: "ID", with: id), token: token)
                        #expect(answer.status == .ok, "\(template) \(id): \(answer.body)")
                        let echoed = try JSONSerialization.data(withJSONObject: try #require(answer.json["id"]), options: .fragmentsAllowed)
                        #expect(String(decoding: echoed, as: UTF8.self) == id, "\(template)")
                    }
                }
            }
        }
    }

    @Test("Ids past 2^63 - 1, fractions and booleans are refused with -32600 at once")
    func idsOutOfRangeRefused() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                for template in Self.methods {
                    for id in ["9223372036854775808", "18446744073709551615", "1.5", "true"] {
                        let answer = try await http.mcp(template.replacingOccurrences(of: "ID", with: id), token: token)
                        #expect(answer.status == .badRequest, "\(template) \(id): \(answer.body)")
                        #expect((answer.json["error"] as? [String: Any])?["code"] as? Int == -32600)
                        #expect(answer.json["id"] is NSNull)
                    }
                }
            }
            #expect(try await fixture.outbox().isEmpty, "no tool ran")
        }
    }

    @Test("A method that is not a string is an invalid request, not a notification")
    func numericMethod() async throws {
        try await ToolHostFixture.run { fixture in
            try await fixture.tenant("acme")
            let token = try await fixture.accessToken()
            try await fixture.application().test(.live) { http in
                for message in [
                    #"{"jsonrpc":"2.0","id":1,"method":42}"#, #"{"jsonrpc":"2.0","method":42}"#, #"{"jsonrpc":"2.0","id":1,"method":null}"#,
                ] {
                    let answer = try await http.mcp(message, token: token)
                    #expect(answer.status == .badRequest, "\(message): \(answer.body)")
                    #expect((answer.json["error"] as? [String: Any])?["code"] as? Int == -32600)
                }
            }
        }
    }
}
