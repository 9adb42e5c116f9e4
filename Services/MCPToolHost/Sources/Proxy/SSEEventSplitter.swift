import NIOCore

/// Cuts a `text/event-stream` into whole events (each ends with an empty line; lines end with
/// LF, CR or CRLF), so that the proxy can read the JSON-RPC message an event carries while the
/// bytes pass on unchanged. Bytes of an unfinished event wait for the rest, up to `limit`.
struct SSEEventSplitter {
    struct EventTooLarge: Error {}

    let limit: Int
    private var pending: [UInt8] = []
    private var lineLength = 0
    private var afterCR = false

    init(limit: Int) { self.limit = limit }

    /// The events `chunk` completes, each as its raw bytes (with its terminating empty line).
    mutating func feed(_ chunk: ByteBuffer) throws -> [[UInt8]] {
        var events: [[UInt8]] = []
        chunk.withUnsafeReadableBytes { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n"), afterCR {
                    afterCR = false
                    continue
                }
                afterCR = byte == UInt8(ascii: "\r")
                guard byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") else {
                    lineLength += 1
                    continue
                }
                if lineLength == 0 {
                    var event = pending
                    event.append(contentsOf: bytes[start...index])
                    events.append(event)
                    pending.removeAll(keepingCapacity: true)
                    start = index + 1
                }
                lineLength = 0
            }
            pending.append(contentsOf: bytes[start..<bytes.count])
        }
        guard pending.count <= limit else { throw EventTooLarge() }
        return events
    }

    /// What is left when the stream ends (an event without its empty line).
    var remainder: [UInt8] { pending }

    /// The data of an event: its `data:` lines (one leading space removed) joined by LF; nil
    /// when it has none.
    static func data(of event: [UInt8]) -> [UInt8]? {
        var data: [UInt8]?
        for line in lines(of: event) where line.starts(with: Array("data".utf8)) {
            var value = line.dropFirst(4)
            if value.first == UInt8(ascii: ":") {
                value = value.dropFirst()
                if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            } else if !value.isEmpty {
                continue  // a field such as "database", not "data"
            }
            if data != nil { data!.append(UInt8(ascii: "\n")) }
            data = (data ?? []) + value
        }
        return data
    }

    /// The event with its data replaced by `data` (one line: JSON has no raw line breaks), its
    /// other fields (`id`, `event`, `retry`) kept.
    static func replacingData(of event: [UInt8], with data: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        for line in lines(of: event) where !line.isEmpty && !line.starts(with: Array("data:".utf8)) && line != Array("data".utf8)[...] {
            result += line
            result.append(UInt8(ascii: "\n"))
        }
        result += Array("data: ".utf8) + data + Array("\n\n".utf8)
        return result
    }

    private static func lines(of event: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < event.count {
            let byte = event[index]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                lines.append(event[start..<index])
                if byte == UInt8(ascii: "\r"), index + 1 < event.count, event[index + 1] == UInt8(ascii: "\n") { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < event.count { lines.append(event[start..<event.count]) }
        return lines
    }
}
