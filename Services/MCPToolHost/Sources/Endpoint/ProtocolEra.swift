import Foundation
import HTTPTypes
import MCP

/// The two eras of MCP that `/mcp` speaks, chosen per request.
///
/// - `handshake`: 2025-11-25 and before: `initialize`, then requests in a session named by
///   `Mcp-Session-Id`.
/// - `stateless`: 2026-07-28: no handshake and no session; every request carries its protocol
///   version and the client's capabilities in `params._meta`, and the transport repeats the
///   version, the method and the name of what is called in headers.
enum ProtocolEra: Equatable, Sendable {
    case handshake
    case stateless

    /// The MCP Swift SDK answers these.
    static let handshakeVersions = Version.supported.sorted(by: >)
    static let statelessVersions = ["2026-07-28"]
    /// Every version this endpoint answers, newest first (`server/discover`).
    static let allVersions = statelessVersions + handshakeVersions

    /// A request's era: a `MCP-Protocol-Version` header naming a 2025 revision is the
    /// handshake era; any other value belongs to the stateless era (whose checks then refuse
    /// a version it does not know). Without the header, a body whose `_meta` names a
    /// protocol version is a stateless request missing its header; anything else is the
    /// handshake era, whose default revision a missing header means.
    static func of(versionHeader: String?, meta: [String: Any]?) -> ProtocolEra {
        if let versionHeader { return handshakeVersions.contains(versionHeader) ? .handshake : .stateless }
        return meta?[StatelessEnvelope.protocolVersionKey] != nil ? .stateless : .handshake
    }

    /// `params._meta` of a JSON-RPC message, when it is an object.
    static func meta(of message: [String: Any]) -> [String: Any]? {
        (message["params"] as? [String: Any])?["_meta"] as? [String: Any]
    }
}

/// What a stateless-era request says about its client, once its checks have passed.
struct StatelessEnvelope: Equatable {
    static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    static let serverInfoKey = "io.modelcontextprotocol/serverInfo"

    /// Methods whose target is repeated in `Mcp-Name`, and the parameter that names it.
    static let namedParameter = ["tools/call": "name", "prompts/get": "name", "resources/read": "uri"]

    var protocolVersion: String
    var clientName: String?

    /// The stateless era's checks of one request, in the order the specification's reference
    /// server applies them (first failure wins): the `_meta` envelope is complete (-32602),
    /// each routing header appears once and agrees with the body (-32020), and the version is
    /// one this server speaks (-32022, naming the supported versions).
    static func check(_ message: [String: Any], headers: HTTPFields) -> Result<StatelessEnvelope, StatelessRejection> {
        guard let meta = ProtocolEra.meta(of: message) else {
            return .failure(
                .init(
                    code: StatelessRejection.invalidParams,
                    "params._meta must be an object carrying \(protocolVersionKey) and \(clientCapabilitiesKey)"
                )
            )
        }
        let missing = [protocolVersionKey, clientCapabilitiesKey].filter { meta[$0] == nil }
        if !missing.isEmpty {
            return .failure(
                .init(code: StatelessRejection.invalidParams, "params._meta is missing \(missing.joined(separator: " and "))")
            )
        }
        for name in [HTTPField.Name.mcpProtocolVersion, .mcpMethod, .mcpName] where headers[values: name].count > 1 {
            return .failure(.init(code: StatelessRejection.headerMismatch, "The \(name) header appears more than once"))
        }
        let version = meta[protocolVersionKey]
        guard let header = headers[.mcpProtocolVersion], header == version as? String else {
            return .failure(
                .init(
                    code: StatelessRejection.headerMismatch,
                    "The MCP-Protocol-Version header does not match the protocol version in params._meta"
                )
            )
        }
        let method = message["method"] as? String
        guard let method, headers[.mcpMethod] == method else {
            return .failure(.init(code: StatelessRejection.headerMismatch, "The Mcp-Method header does not match the request's method"))
        }
        if let parameter = namedParameter[method], let target = (message["params"] as? [String: Any])?[parameter] as? String {
            guard let named = headers[.mcpName].flatMap(decodeHeaderValue), named == target else {
                return .failure(
                    .init(code: StatelessRejection.headerMismatch, "The Mcp-Name header does not match the request's \(parameter)")
                )
            }
        }
        guard ProtocolEra.statelessVersions.contains(header) else {
            return .failure(
                .init(
                    code: StatelessRejection.unsupportedVersion,
                    "Unsupported protocol version",
                    supported: ProtocolEra.allVersions,
                    requested: header
                )
            )
        }
        let info = meta[clientInfoKey] as? [String: Any]
        return .success(StatelessEnvelope(protocolVersion: header, clientName: info?["name"] as? String))
    }

    /// A header value as sent: as it is, or Base64 inside `=?base64?…?=` for values that are not
    /// plain visible ASCII. A malformed or non-canonical encoding is nil, so it never matches.
    static func decodeHeaderValue(_ value: String) -> String? {
        guard value.hasPrefix("=?base64?"), value.hasSuffix("?="), value.count >= 11 else { return value }
        let payload = String(value.dropFirst(9).dropLast(2))
        guard let data = Data(base64Encoded: payload), data.base64EncodedString() == payload else { return nil }
        return String(data: data, encoding: .utf8)
    }
}

/// Why a stateless-era request was refused before any method ran: a JSON-RPC error, answered
/// with 400.
struct StatelessRejection: Error, Equatable {
    static let invalidParams = -32602
    static let headerMismatch = -32020
    static let unsupportedVersion = -32022

    var code: Int
    var message: String
    /// For -32022, its `data`: the versions this server speaks and the one requested.
    var supported: [String]?
    var requested: String?

    init(code: Int, _ message: String, supported: [String]? = nil, requested: String? = nil) {
        self.code = code
        self.message = message
        self.supported = supported
        self.requested = requested
    }
}
