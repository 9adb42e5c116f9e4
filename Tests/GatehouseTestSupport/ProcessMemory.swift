import Foundation

/// A process's resident and peak resident memory (kB), from `/proc/<pid>/status`.
public struct ProcessMemory: Sendable {
    public var resident: Int
    public var peak: Int

    /// nil when the process is gone (or this is not Linux).
    public static func of(pid: Int32) -> ProcessMemory? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { Int($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") }
        }
        guard let resident = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return ProcessMemory(resident: resident, peak: peak)
    }

    public static func current() -> ProcessMemory? {
        of(pid: ProcessInfo.processInfo.processIdentifier)
    }
}
