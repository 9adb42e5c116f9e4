import Foundation
import GatehouseRuntime

/// The client metadata of an RFC 7591 registration request (the fields Gatehouse reads; others
/// are ignored and not echoed).
package struct ClientMetadataRequest: Decodable, Sendable {
    package var redirectUris: [String]?
    package var tokenEndpointAuthMethod: String?
    package var grantTypes: [String]?
    package var responseTypes: [String]?
    package var applicationType: String?
    package var clientName: String?
    package var clientUri: String?
    package var logoUri: String?
    package var tosUri: String?
    package var policyUri: String?
    package var scope: String?
    package var contacts: [String]?
    package var softwareId: String?
    package var softwareVersion: String?
}

/// Registered metadata, as stored, announced and returned.
package struct ClientMetadata: Codable, Sendable, Equatable {
    package var redirectUris: [String]
    package var tokenEndpointAuthMethod: String
    package var grantTypes: [String]
    package var responseTypes: [String]
    package var applicationType: String
    package var clientName: String?
    package var clientUri: String?
    package var logoUri: String?
    package var tosUri: String?
    package var policyUri: String?
    package var scope: String?
    package var contacts: [String]?
    package var softwareId: String?
    package var softwareVersion: String?

    package init(
        redirectUris: [String],
        tokenEndpointAuthMethod: String,
        grantTypes: [String],
        responseTypes: [String],
        applicationType: String,
        clientName: String? = nil,
        clientUri: String? = nil,
        logoUri: String? = nil,
        tosUri: String? = nil,
        policyUri: String? = nil,
        scope: String? = nil,
        contacts: [String]? = nil,
        softwareId: String? = nil,
        softwareVersion: String? = nil
    ) {
        self.redirectUris = redirectUris
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.grantTypes = grantTypes
        self.responseTypes = responseTypes
        self.applicationType = applicationType
        self.clientName = clientName
        self.clientUri = clientUri
        self.logoUri = logoUri
        self.tosUri = tosUri
        self.policyUri = policyUri
        self.scope = scope
        self.contacts = contacts
        self.softwareId = softwareId
        self.softwareVersion = softwareVersion
    }

    package var isConfidential: Bool { tokenEndpointAuthMethod != "none" }
}

/// An RFC 7591 §3.2.2 error: `invalid_redirect_uri` or `invalid_client_metadata`, with why.
package struct RegistrationError: Error, Equatable, CustomStringConvertible {
    /// `.invalidRedirectURI` or `.invalidClientMetadata`.
    package var code: APIError.Code
    package var detail: String
    package var description: String { "\(code.rawValue): \(detail)" }

    static func metadata(_ detail: String) -> RegistrationError { .init(code: .invalidClientMetadata, detail: detail) }
    static func redirect(_ detail: String) -> RegistrationError { .init(code: .invalidRedirectURI, detail: detail) }
}

/// The registration rules (pure): RFC 7591, OAuth 2.1 and RFC 8252 redirect URI rules, the MCP
/// security best practices (exact, absolute redirect URIs; no script-capable schemes), limits.
package enum ClientRegistrationRules {
    package static let maximumRedirectURIs = 10
    package static let maximumURILength = 2000
    package static let maximumNameLength = 200
    package static let maximumContacts = 10
    package static let authMethods = ["none", "client_secret_basic", "client_secret_post"]
    package static let grantTypes = ["authorization_code", "refresh_token"]
    /// Schemes that can run code or read local data in a browser, in any spelling.
    static let forbiddenSchemes: Set<String> = [
        "javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "view-source",
        "ws", "wss", "ftp", "mailto", "tel", "chrome", "chrome-extension", "resource", "jar",
    ]

    package static func validate(_ request: ClientMetadataRequest, supportedScopes: [String]) throws -> ClientMetadata {
        guard let redirects = request.redirectUris, !redirects.isEmpty else {
            throw RegistrationError.redirect("redirect_uris is required and must not be empty")
        }
        guard redirects.count <= maximumRedirectURIs else { throw RegistrationError.redirect("at most \(maximumRedirectURIs) redirect_uris") }
        guard Set(redirects).count == redirects.count else { throw RegistrationError.redirect("redirect_uris lists a URI twice") }
        let kinds = try redirects.map(classify)

        let applicationType: String
        switch request.applicationType {
        case nil: applicationType = kinds.allSatisfy { $0 == .https } ? "web" : "native"
        case "web"?, "native"?: applicationType = request.applicationType!
        default: throw RegistrationError.metadata("application_type must be web or native")
        }
        if applicationType == "web", let index = kinds.firstIndex(where: { $0 != .https }) {
            throw RegistrationError.redirect("a web client's redirect URIs must be https: \(redirects[index])")
        }

        let method = request.tokenEndpointAuthMethod ?? "client_secret_basic"
        guard authMethods.contains(method) else {
            throw RegistrationError.metadata("token_endpoint_auth_method must be one of \(authMethods.joined(separator: ", "))")
        }
        let grants = request.grantTypes ?? ["authorization_code"]
        guard !grants.isEmpty, grants.allSatisfy(grantTypes.contains), grants.contains("authorization_code"), Set(grants).count == grants.count else {
            throw RegistrationError.metadata("grant_types must include authorization_code and may add refresh_token")
        }
        let responses = request.responseTypes ?? ["code"]
        guard responses == ["code"] else { throw RegistrationError.metadata("response_types must be [\"code\"]") }

        if let scope = request.scope {
            let scopes = scope.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard !scope.isEmpty, scopes.allSatisfy({ supportedScopes.contains($0) }) else {
                throw RegistrationError.metadata("scope may only name supported scopes: \(supportedScopes.joined(separator: " "))")
            }
        }
        if let name = request.clientName {
            guard !name.isEmpty, name.count <= maximumNameLength, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw RegistrationError.metadata("client_name must be 1-\(maximumNameLength) characters without control characters")
            }
        }
        for (field, value) in [
            ("client_uri", request.clientUri), ("logo_uri", request.logoUri), ("tos_uri", request.tosUri),
            ("policy_uri", request.policyUri),
        ] {
            if let value, classifyWebURI(value) == nil { throw RegistrationError.metadata("\(field) must be an https URL") }
        }
        if let contacts = request.contacts {
            guard contacts.count <= maximumContacts, contacts.allSatisfy({ !$0.isEmpty && $0.count <= 200 }) else {
                throw RegistrationError.metadata("contacts: at most \(maximumContacts) entries of up to 200 characters")
            }
        }
        for (field, value) in [("software_id", request.softwareId), ("software_version", request.softwareVersion)] {
            if let value, value.isEmpty || value.count > 200 { throw RegistrationError.metadata("\(field) must be 1-200 characters") }
        }
        return ClientMetadata(
            redirectUris: redirects,
            tokenEndpointAuthMethod: method,
            grantTypes: grants,
            responseTypes: responses,
            applicationType: applicationType,
            clientName: request.clientName,
            clientUri: request.clientUri,
            logoUri: request.logoUri,
            tosUri: request.tosUri,
            policyUri: request.policyUri,
            scope: request.scope,
            contacts: request.contacts,
            softwareId: request.softwareId,
            softwareVersion: request.softwareVersion
        )
    }

    package enum RedirectKind: Equatable, Sendable {
        case https
        /// `http` on a loopback address (RFC 8252 §7.3: its port may vary at authorization).
        case loopback
        /// A private-use scheme (RFC 8252 §7.1).
        case customScheme
    }

    /// What kind of redirect URI `text` is, or why it is refused.
    package static func classify(_ text: String) throws -> RedirectKind {
        guard text.utf8.count <= maximumURILength else { throw RegistrationError.redirect("a redirect URI is longer than \(maximumURILength)") }
        // No whitespace, controls or non-ASCII: an exact URI compares byte for byte.
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw RegistrationError.redirect("a redirect URI contains spaces, control or non-ASCII characters")
        }
        guard let colon = text.firstIndex(of: ":") else { throw RegistrationError.redirect("a redirect URI must be absolute: \(text)") }
        let scheme = text[..<colon].lowercased()
        guard let first = scheme.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            scheme.utf8.allSatisfy({ $0.isSchemeCharacter })
        else {
            throw RegistrationError.redirect("a redirect URI must be absolute: \(text)")
        }
        guard !forbiddenSchemes.contains(scheme) else { throw RegistrationError.redirect("the \(scheme): scheme is not allowed") }
        guard !text.contains("#") else { throw RegistrationError.redirect("a redirect URI must not have a fragment") }
        // Redirect URIs match exactly (OAuth 2.1 §2.3.1): a pattern would let an attacker pick a target.
        guard !text.contains("*") else { throw RegistrationError.redirect("a redirect URI must not contain wildcards: \(text)") }
        guard let components = URLComponents(string: text) else { throw RegistrationError.redirect("not a valid URI: \(text)") }
        guard components.user == nil, components.password == nil else { throw RegistrationError.redirect("a redirect URI must not carry user info") }
        switch scheme {
        case "https":
            guard let host = components.host, !host.isEmpty else { throw RegistrationError.redirect("an https redirect URI needs a host") }
            return .https
        case "http":
            guard let host = components.host?.lowercased(), ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) else {
                throw RegistrationError.redirect("http redirect URIs are allowed only on loopback (127.0.0.1, [::1], localhost)")
            }
            return .loopback
        default:
            // Private-use schemes must not be a web scheme in disguise and need something after the colon.
            guard text.count > scheme.count + 1 else { throw RegistrationError.redirect("a redirect URI needs a path: \(text)") }
            return .customScheme
        }
    }

    static func classifyWebURI(_ text: String) -> RedirectKind? {
        guard text.utf8.count <= maximumURILength, (try? classify(text)) == .https else { return nil }
        return .https
    }

    /// Whether a redirect URI presented at authorization matches a registered one: exactly, except
    /// that a loopback `http` redirect may use any port (RFC 8252 §7.3).
    package static func matches(presented: String, registered: String) -> Bool {
        if presented == registered { return true }
        guard (try? classify(registered)) == .loopback, (try? classify(presented)) == .loopback,
            var a = URLComponents(string: presented), var b = URLComponents(string: registered)
        else { return false }
        a.port = nil
        b.port = nil
        return a.string == b.string
    }
}

extension UInt8 {
    /// RFC 3986 scheme characters (after lower-casing).
    fileprivate var isSchemeCharacter: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
            || self == UInt8(ascii: "+") || self == UInt8(ascii: "-") || self == UInt8(ascii: ".")
    }
}
