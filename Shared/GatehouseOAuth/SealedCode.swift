import Foundation
import GatehouseCrypto

/// Everything an authorization code stands for. The code is this binding sealed under the key
/// ring the gateway and the token service share (docs/design.md invariant 3): the token service
/// opens and checks it without reading the gateway's tables or waiting for Kafka.
public struct CodeBinding: Codable, Sendable, Equatable {
    public struct Identity: Codable, Sendable, Equatable {
        public var issuer: String
        public var subject: String
        public var email: String?
        public var emailVerified: Bool
        public var name: String?

        public init(issuer: String, subject: String, email: String?, emailVerified: Bool, name: String?) {
            self.issuer = issuer
            self.subject = subject
            self.email = email
            self.emailVerified = emailVerified
            self.name = name
        }
    }

    /// How the client authenticates at the token endpoint, as registered when the code was
    /// issued: the token service can authenticate a client registered a moment ago whose
    /// `client.registered` has not reached it yet.
    public struct Client: Codable, Sendable, Equatable {
        public var tokenEndpointAuthMethod: String
        public var secretHash: String?
        public var grantTypes: [String]

        public init(tokenEndpointAuthMethod: String, secretHash: String?, grantTypes: [String]) {
            self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
            self.secretHash = secretHash
            self.grantTypes = grantTypes
        }
    }

    public var tenant: String
    public var clientId: String
    public var client: Client
    public var redirectUri: String
    public var codeChallenge: String
    public var codeChallengeMethod: String
    /// The tenant's MCP resource (RFC 8707): tokens from this code are bound to it.
    public var resource: String
    public var scopes: [String]
    public var userId: String
    public var identity: Identity
    public var issuedAt: Date
    public var expiresAt: Date
    /// Random: no two codes are alike, even for identical requests in the same millisecond.
    public var nonce: String

    public init(
        tenant: String,
        clientId: String,
        client: Client,
        redirectUri: String,
        codeChallenge: String,
        codeChallengeMethod: String = "S256",
        resource: String,
        scopes: [String],
        userId: String,
        identity: Identity,
        issuedAt: Date,
        lifetime: TimeInterval
    ) {
        self.tenant = tenant
        self.clientId = clientId
        self.client = client
        self.redirectUri = redirectUri
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.resource = resource
        self.scopes = scopes
        self.userId = userId
        self.identity = identity
        self.issuedAt = issuedAt
        self.expiresAt = issuedAt.addingTimeInterval(min(lifetime, SealedCode.maximumLifetime))
        self.nonce = SecretGenerator.generate(prefix: "", bytes: 16)
    }
}

/// `mcp_code_<key id>.<AES-GCM sealed binding>`, authenticated for one tenant.
public enum SealedCode {
    public static let prefix = "mcp_code_"
    public static let maximumLifetime: TimeInterval = 60

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Not a code of ours, tampered with, sealed for another tenant, or by a key we no longer have.
        case invalid
        case expired

        public var description: String {
            switch self {
            case .invalid: "the code is not valid"
            case .expired: "the code has expired"
            }
        }
    }

    static func associatedData(tenant: String) -> String { "gatehouse/code/v1/\(tenant)" }

    public static func seal(_ binding: CodeBinding, keyRing: KeyRing) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        let json = Array(try encoder.encode(binding))
        return prefix + (try keyRing.seal(json, associatedData: associatedData(tenant: binding.tenant)))
    }

    /// Opens a code presented at `tenant`'s token endpoint, checking its expiry against `now`.
    public static func open(_ code: String, tenant: String, keyRing: KeyRing, now: Date = Date()) throws -> CodeBinding {
        guard code.hasPrefix(prefix), code.utf8.count < 4096 else { throw Failure.invalid }
        let plaintext: [UInt8]
        do {
            plaintext = try keyRing.open(String(code.dropFirst(prefix.count)), associatedData: associatedData(tenant: tenant))
        } catch {
            throw Failure.invalid
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        guard let binding = try? decoder.decode(CodeBinding.self, from: Data(plaintext)), binding.tenant == tenant else { throw Failure.invalid }
        guard now < binding.expiresAt, binding.expiresAt.timeIntervalSince(binding.issuedAt) <= maximumLifetime else { throw Failure.expired }
        return binding
    }

    /// What is stored and announced instead of the code.
    public static func hash(_ code: String) -> String { SecretHash.of(code) }
}
