import Foundation
import GatehouseEvents
import Testing

/// Golden JSON fixtures of every published event version: each decodes with the current code
/// (a tolerant reader: unknown fields are ignored), round-trips, and carries no secret.
@Suite("Event catalog")
struct EventCatalogTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures/events", withExtension: nil)!

    static func fixture(_ type: any EventPayload.Type) throws -> [UInt8] {
        let url = fixtures.appendingPathComponent("\(type.eventType.name).v\(type.schemaVersion.major).json")
        return Array(try Data(contentsOf: url))
    }

    @Test("Every catalog event has a golden fixture that decodes and round-trips", arguments: EventCatalog.payloadTypes.map(TypeBox.init))
    func goldenFixture(_ box: TypeBox) throws {
        try roundTrip(box.type, try Self.fixture(box.type))
    }

    private func roundTrip<P: EventPayload>(_ type: P.Type, _ bytes: [UInt8]) throws {
        let decoded = try EventCodec.decode(type, from: bytes)
        #expect(decoded.header.type == P.eventType.name)
        #expect(decoded.header.schemaVersion == SchemaVersion(1, 0))
        // The older fixtures predate tenant ids being slugs; tenant.updated names its tenant by id.
        #expect(decoded.header.tenant == (P.self == TenantUpdated.self ? "acme" : "mcp.example.com"))
        let again = try EventCodec.decode(type, from: try EventCodec.encode(decoded))
        #expect(again.header == decoded.header)
        #expect(again.payload == decoded.payload)
        #expect(try EventCodec.header(of: bytes) == decoded.header)
    }

    @Test(
        "tool.invoked written by hand is the encoder's JSON: the same bytes, the same event when read",
        arguments: [
            ToolInvoked(invocationId: "inv-1", userId: "usr_a", clientId: "mcp_client_b", tool: "get_support", outcome: .success, durationMs: 12.5),
            ToolInvoked(invocationId: "inv-2", userId: nil, clientId: nil, tool: "whoami", outcome: .denied, durationMs: 3),
            ToolInvoked(
                invocationId: "inv-3",
                userId: "usr_\"quoted\"\\",
                clientId: "c/d",
                tool: "tab\tline\nfeed\u{1}é😀",
                outcome: .error,
                durationMs: 1234.567
            ),
            ToolInvoked(invocationId: "inv-4", userId: "u", clientId: "c", tool: "t", outcome: .success, durationMs: 0.001),
        ]
    )
    func handEncodedToolInvoked(_ payload: ToolInvoked) throws {
        let envelope = EventEnvelope(tenant: "acme", aggregateKey: payload.userId ?? payload.tool, aggregateVersion: 1, payload: payload)
        let byHand = EventCodec.encode(envelope)
        let byEncoder = Array(try EventCodec.encoder().encode(envelope))
        #expect(String(decoding: byHand, as: UTF8.self) == String(decoding: byEncoder, as: UTF8.self))
        let read = try EventCodec.decode(ToolInvoked.self, from: byHand)
        #expect(read.header == envelope.header || read.header.occurredAt.timeIntervalSince(envelope.header.occurredAt).magnitude < 0.001)
        #expect(read.payload == payload)
    }

    @Test("Fixture values are read field by field")
    func fixtureValues() throws {
        let code = try EventCodec.decode(CodeIssued.self, from: try Self.fixture(CodeIssued.self))
        #expect(code.payload.codeHash == "3d9c7a1e5b")
        #expect(code.payload.scopes == ["openid", "email", "offline_access"])
        #expect(code.payload.expiresAt.timeIntervalSince(code.payload.issuedAt) == 60)
        #expect(code.header.aggregateVersion == 1)
        #expect(code.header.occurredAt.timeIntervalSince1970.truncatingRemainder(dividingBy: 1).rounded(toPlaces: 3) == 0.123)

        let tool = try EventCodec.decode(ToolInvoked.self, from: try Self.fixture(ToolInvoked.self))
        #expect(tool.payload.outcome == .success)
        #expect(tool.payload.durationMs == 12.5)

        let user = try EventCodec.decode(UserUpserted.self, from: try Self.fixture(UserUpserted.self))
        #expect(user.payload.email == nil)
        #expect(user.payload.emailVerified == false)

        let updated = try EventCodec.decode(ClientUpdated.self, from: try Self.fixture(ClientUpdated.self))
        #expect(updated.payload.disabled)
        #expect(updated.payload.client.redirectUris == ["https://app.example.net/cb"])
    }

    @Test(
        "A newer minor version is read; an unknown major version is refused",
        arguments: [
            ("1.7", true), ("1.0", true), ("2.0", false), ("0.9", false),
        ]
    )
    func versions(_ version: String, accepted: Bool) throws {
        let text = String(decoding: try Self.fixture(UserUpserted.self), as: UTF8.self)
            .replacingOccurrences(of: "\"schema_version\": \"1.0\"", with: "\"schema_version\": \"\(version)\"")
        let bytes = Array(text.utf8)
        if accepted {
            #expect(try EventCodec.decode(UserUpserted.self, from: bytes).header.schemaVersion.description == version)
        } else {
            #expect(throws: EventDecodingError.self) { try EventCodec.decode(UserUpserted.self, from: bytes) }
        }
    }

    @Test("tenant.updated 1.1 carries client profiles; 1.0 events mean the defaults")
    func clientProfileVersions() throws {
        let old = try EventCodec.decode(TenantUpdated.self, from: try Self.fixture(TenantUpdated.self))
        #expect(old.payload.clientProfiles == nil)
        let bytes = Array(try Data(contentsOf: Self.fixtures.appendingPathComponent("tenant.updated.v1.1.json")))
        let current = try EventCodec.decode(TenantUpdated.self, from: bytes)
        #expect(current.header.schemaVersion == SchemaVersion(1, 1))
        #expect(current.payload.mcp == nil)
        let profiles = try #require(current.payload.clientProfiles)
        #expect(profiles.profile(for: "mcp_client_cli") == ClientProfile(accessTokenSeconds: 86_400, clientAuthentication: .registered))
        #expect(
            profiles.profile(for: "https://claude.ai/client.json")
                == ClientProfile(clientAuthentication: .anySecretMethod, refreshGraceSeconds: 120)
        )
        let again = try EventCodec.decode(TenantUpdated.self, from: try EventCodec.encode(current))
        #expect(again.payload == current.payload)
    }

    @Test("Client credentials: tenant.updated 1.3 turns the grant on; a 1.1 service principal's token.issued and token.revoked have no user")
    func servicePrincipalVersions() throws {
        func read<P: EventPayload>(_ type: P.Type, _ name: String) throws -> EventEnvelope<P> {
            let envelope = try EventCodec.decode(type, from: Array(try Data(contentsOf: Self.fixtures.appendingPathComponent(name))))
            #expect(envelope.header.schemaVersion == P.schemaVersion)
            #expect(try EventCodec.decode(type, from: try EventCodec.encode(envelope)).payload == envelope.payload)
            return envelope
        }
        #expect(try EventCodec.decode(TenantUpdated.self, from: try Self.fixture(TenantUpdated.self)).payload.grants == nil)
        #expect(try read(TenantUpdated.self, "tenant.updated.v1.3.json").payload.grants == TenantGrants(clientCredentials: true))

        let issued = try read(TokenIssued.self, "token.issued.v1.1.json").payload
        #expect(issued.userId == nil && issued.codeHash == nil && issued.grantType == "client_credentials")
        let older = try EventCodec.decode(TokenIssued.self, from: try Self.fixture(TokenIssued.self)).payload
        #expect(older.userId == "usr_7h3k" && older.codeHash == "3d9c7a1e5b" && older.grantType == nil)

        #expect(try read(TokenRevoked.self, "token.revoked.v1.1.json").payload.userId == nil)
        let client = try read(ClientRegistered.self, "client.registered.v1.1.json").payload
        #expect(client.jwks?.keys.first?["kid"] == "agent-1" && client.clientSecretHash == nil)
        #expect(try EventCodec.decode(ClientRegistered.self, from: try Self.fixture(ClientRegistered.self)).payload.jwks == nil)
    }

    @Test("upstream-token.stored 1.1 carries the email linking policy; 1.0 events mean none; an unknown policy still reads")
    func emailLinkingVersions() throws {
        let old = try EventCodec.decode(UpstreamTokenStored.self, from: try Self.fixture(UpstreamTokenStored.self))
        #expect(old.payload.emailLinking == nil)
        let url = Self.fixtures.appendingPathComponent("upstream-token.stored.v1.1.json")
        let bytes = Array(try Data(contentsOf: url))
        let current = try EventCodec.decode(UpstreamTokenStored.self, from: bytes)
        #expect(current.header.schemaVersion == UpstreamTokenStored.schemaVersion)
        #expect(current.payload.emailLinking == .verifiedEmail)
        let future = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "verified_email", with: "same_domain")
        #expect(try EventCodec.decode(UpstreamTokenStored.self, from: Array(future.utf8)).payload.emailLinking?.rawValue == "same_domain")
        // One pass reads header and payload alike.
        let (header, payload) = try EventCodec.headerAndPayload(of: bytes)
        #expect(header == current.header)
        #expect(payload as? UpstreamTokenStored == current.payload)
    }

    @Test(
        "Malformed envelopes are refused with a decoding error",
        arguments: [
            "not json", "{}", #"{"event_id":"x","type":"user.upserted"}"#, "[1,2]",
        ]
    )
    func malformed(_ text: String) {
        #expect(throws: EventDecodingError.self) { try EventCodec.header(of: Array(text.utf8)) }
    }

    @Test("An event of another type is refused")
    func wrongType() throws {
        #expect(throws: EventDecodingError.wrongType(expected: "token.issued", found: "user.upserted")) {
            try EventCodec.decode(TokenIssued.self, from: try Self.fixture(UserUpserted.self))
        }
    }

    @Test("No event field is named like a secret: codes, tokens and client secrets travel only as hashes")
    func noSecretFields() throws {
        let forbidden: Set<String> = [
            "code", "access_token", "refresh_token", "id_token", "client_secret", "upstream_access_token",
            "upstream_refresh_token", "password", "token",
        ]
        for type in EventCatalog.payloadTypes {
            let object = try JSONSerialization.jsonObject(with: Data(try Self.fixture(type)))
            #expect(keys(of: object).isDisjoint(with: forbidden), "\(type.eventType.name)")
        }
    }

    @Test("Every event type names its topic, and catalog names are unique")
    func catalogShape() {
        let names = EventCatalog.payloadTypes.map { $0.eventType.name }
        #expect(Set(names).count == names.count)
        for name in names {
            let type = EventCatalog.payloadType(named: name)
            let topic = type?.eventType.topic ?? ""
            #expect(Topics.all.contains(topic), "\(name)")
        }
        #expect(EventCatalog.payloadType(named: "no.such-event") == nil)
    }

    private func keys(of object: Any) -> Set<String> {
        switch object {
        case let dictionary as [String: Any]:
            dictionary.keys.reduce(into: Set(dictionary.keys)) { $0.formUnion(keys(of: dictionary[$1]!)) }
        case let array as [Any]:
            array.reduce(into: Set<String>()) { $0.formUnion(keys(of: $1)) }
        default:
            []
        }
    }
}

/// Wraps a payload type so it can be a test argument.
struct TypeBox: Sendable, CustomTestStringConvertible {
    let type: any EventPayload.Type
    var testDescription: String { type.eventType.name }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let factor = pow(10, Double(places))
        return (self * factor).rounded() / factor
    }
}
