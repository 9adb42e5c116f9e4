import Foundation
import GatehouseRuntime
import Testing

@Suite("JSON object writer")
struct JSONObjectWriterTests {
    @Test("Strings are escaped per RFC 8259 and read back unchanged; nil fields are left out")
    func escapes() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} separator \u{2028} ünïcødé 🙂 </script>"
        var writer = JSONObjectWriter()
        writer.add("text", tricky)
        writer.add("missing", nil as String?)
        writer.add("count", -42)
        writer.add("flag", false)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(writer.json.utf8)) as? [String: Any])
        #expect(parsed["text"] as? String == tricky)
        #expect(parsed["count"] as? Int == -42 && parsed["flag"] as? Bool == false)
        #expect(parsed.keys.sorted() == ["count", "flag", "text"])
        #expect(!writer.json.contains("\n") && writer.json.contains(#"\u0007"#))
    }
}
