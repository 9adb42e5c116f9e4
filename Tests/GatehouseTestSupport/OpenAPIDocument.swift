import Foundation

/// An OpenAPI 3.1 document of the repository, read as JSON, and a validator for the part of JSON
/// Schema it uses (`type` with null, `required`, `properties`, `additionalProperties: false`,
/// `items`, `enum`, `pattern`, `minimum`/`maximum`, `minLength`/`maxLength`, `format: date-time`,
/// local `$ref`s). Tests check real responses against it, so the document cannot drift from
/// the service.
public struct OpenAPIDocument: @unchecked Sendable {
    public let root: [String: Any]

    public init(contentsOf url: URL) throws {
        guard let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw TestSupportError("\(url.path) is not a JSON object")
        }
        self.root = root
    }

    /// The repository's document at `path` (relative to the package root).
    public static func repository(_ path: String) throws -> OpenAPIDocument {
        try OpenAPIDocument(contentsOf: TestPaths.packageRoot.appendingPathComponent(path))
    }

    /// Every documented operation as `METHOD /path/template`.
    public var operations: Set<String> {
        var result = Set<String>()
        for (path, item) in root["paths"] as? [String: Any] ?? [:] {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "patch", "delete"].contains(method) {
                result.insert("\(method.uppercased()) \(path)")
            }
        }
        return result
    }

    /// Validates a response body against the schema documented for the operation and status;
    /// returns the problems found (empty when it conforms). An undocumented status is a problem.
    public func validate(method: String, path: String, status: Int, body: Data) -> [String] {
        guard let item = (root["paths"] as? [String: Any])?[path] as? [String: Any],
            let operation = item[method.lowercased()] as? [String: Any]
        else {
            return ["\(method) \(path) is not documented"]
        }
        guard var response = (operation["responses"] as? [String: Any])?[String(status)] as? [String: Any] else {
            return ["\(method) \(path) does not document status \(status)"]
        }
        if let reference = response["$ref"] as? String, let resolved = resolve(reference) { response = resolved }
        guard let schema = ((response["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] else {
            return body.isEmpty ? [] : ["\(method) \(path) \(status) documents no JSON body"]
        }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return ["body is not JSON"]
        }
        var problems: [String] = []
        check(value, against: schema, at: "$", problems: &problems)
        return problems
    }

    private func resolve(_ reference: String) -> [String: Any]? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: Any? = root
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
        return node as? [String: Any]
    }

    private func check(_ value: Any, against schemaValue: Any, at path: String, problems: inout [String]) {
        guard var schema = schemaValue as? [String: Any] else { return }
        if let reference = schema["$ref"] as? String {
            guard let resolved = resolve(reference) else { return problems.append("\(path): unresolvable \(reference)") }
            schema = resolved
        }
        if let type = schema["type"] {
            let allowed = (type as? [String]) ?? [type as? String ?? ""]
            guard allowed.contains(where: { Self.matches(value, type: $0) }) else {
                return problems.append("\(path): expected \(allowed.joined(separator: "|")), got \(Swift.type(of: value))")
            }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { "\($0)" == "\(value)" }) {
            problems.append("\(path): \(value) is not one of \(options)")
        }
        if let text = value as? String {
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): '\(text)' does not match \(pattern)")
            }
            if let minimum = schema["minLength"] as? Int, text.count < minimum { problems.append("\(path): shorter than \(minimum)") }
            if let maximum = schema["maxLength"] as? Int, text.count > maximum { problems.append("\(path): longer than \(maximum)") }
            if schema["format"] as? String == "date-time",
                (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) == nil,
                (try? Date.ISO8601FormatStyle().parse(text)) == nil
            {
                problems.append("\(path): '\(text)' is not an RFC 3339 date-time")
            }
        }
        if let number = value as? NSNumber, !Self.matches(value, type: "boolean") {
            if let minimum = schema["minimum"] as? Double, number.doubleValue < minimum { problems.append("\(path): below \(minimum)") }
            if let maximum = schema["maximum"] as? Double, number.doubleValue > maximum { problems.append("\(path): above \(maximum)") }
        }
        if let object = value as? [String: Any] {
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                problems.append("\(path): missing required '\(name)'")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (name, member) in object {
                if let propertySchema = properties[name] {
                    check(member, against: propertySchema, at: "\(path).\(name)", problems: &problems)
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path): undocumented property '\(name)'")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] {
            for (index, element) in array.enumerated() { check(element, against: items, at: "\(path)[\(index)]", problems: &problems) }
        }
    }

    private static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        // JSONSerialization gives booleans as NSNumbers of ObjC type "c" (char); JSON numbers never are.
        case "boolean": return (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
        case "string": return value is String
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "integer":
            guard let number = value as? NSNumber, !matches(value, type: "boolean") else { return false }
            return number.doubleValue.rounded() == number.doubleValue
        case "number": return value is NSNumber && !matches(value, type: "boolean")
        default: return false
        }
    }
}
