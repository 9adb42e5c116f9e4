import AuthorizationGateway
import Foundation
import GatehouseOAuth
import GatehouseRuntime
import Testing

/// The gateway's protocol rules as plain functions: no server, no database.
@Suite("Gateway rules as plain functions")
struct GatewayRulesTests {
    static let client = AuthorizingClient(
        clientId: "c1",
        name: "Desktop",
        redirectUris: ["http://127.0.0.1/cb", "https://app.example/cb"],
        grantTypes: ["authorization_code", "refresh_token"],
        scope: nil
    )
    static let challenge = PKCE.challenge(for: String(repeating: "v", count: 50))
    static let resource = "https://acme.example/mcp"
    static let valid: [(String, String)] = [
        ("response_type", "code"), ("client_id", "c1"), ("redirect_uri", "https://app.example/cb"),
        ("code_challenge", challenge), ("code_challenge_method", "S256"), ("state", "s1"),
    ]

    static func with(_ changes: [String: String?], adding extra: [(String, String)] = []) -> [(String, String)] {
        var parameters = valid.filter { changes[$0.0] == nil }
        for (name, value) in changes { if let value { parameters.append((name, value)) } }
        return parameters + extra
    }

    /// Parameters, and the error expected (nil: accepted), and whether state comes back.
    static let requests: [(String, [(String, String)], APIError.Code?, Bool)] = [
        ("a valid request", valid, nil, true),
        ("response_type token", with(["response_type": "token"]), .unsupportedResponseType, true),
        ("no code_challenge", with(["code_challenge": nil]), .invalidRequest, true),
        ("plain PKCE", with(["code_challenge_method": "plain"]), .invalidRequest, true),
        ("a foreign resource", with([:], adding: [("resource", "https://evil.example/mcp")]), .invalidTarget, true),
        ("an unknown scope", with(["scope": "mcp:tools admin"]), .invalidScope, true),
        ("a repeated state", with([:], adding: [("state", "s2")]), .invalidRequest, true),
        ("a request object", with([:], adding: [("request", "e30.e30.")]), .requestNotSupported, true),
        ("a state over 2 KiB", with(["state": String(repeating: "s", count: 3000)]), .invalidRequest, false),
    ]

    @Test("Authorization requests: the RFC error for each bad one, redirected with its state", arguments: Array(requests.indices))
    func authorizationRequest(_ index: Int) throws {
        let (name, parameters, expected, echoesState) = Self.requests[index]
        do {
            let checked = try AuthorizationRequestRules.check(
                parameters,
                client: Self.client,
                redirectUri: "https://app.example/cb",
                resource: Self.resource,
                supportedScopes: ["mcp:tools", "email", "profile", "offline_access"],
                defaultScopes: ["mcp:tools"]
            )
            #expect(expected == nil, "\(name) was accepted")
            #expect(checked.scopes == ["mcp:tools"] && checked.resource == Self.resource && checked.state == "s1")
        } catch let failure as AuthorizationFailure {
            guard case .redirect(let uri, let error, _, let state) = failure else {
                Issue.record("\(name): \(failure) is not a redirect")
                return
            }
            #expect(error == expected, "\(name)")
            #expect(uri == "https://app.example/cb")
            #expect(state == (echoesState ? parameters.first { $0.0 == "state" }?.1 : nil), "\(name)")
        }
    }

    @Test(
        "The client and redirect URI: errors stay on our page; one registered URI may be omitted",
        arguments: [
            ("missing client_id", [("redirect_uri", "https://app.example/cb")], APIError.Code.invalidRequest),
            ("an unknown client", [("client_id", "nobody")], .invalidClient),
            ("a repeated client_id", [("client_id", "c1"), ("client_id", "c1")], .invalidRequest),
            ("an unregistered redirect", [("client_id", "c1"), ("redirect_uri", "https://evil.example/cb")], .invalidRequest),
            ("two registered, none named", [("client_id", "c1")], .invalidRequest),
        ]
    )
    func clientAndRedirect(_ name: String, _ parameters: [(String, String)], _ expected: APIError.Code) {
        #expect(throws: AuthorizationFailure.page(error: expected, description: "")) {
            do {
                _ = try AuthorizationRequestRules.checkClient(parameters) { $0 == "c1" ? Self.client : nil }
            } catch AuthorizationFailure.page(let error, _) {
                throw AuthorizationFailure.page(error: error, description: "")
            }
        }
    }

    @Test("A loopback redirect may use any port; nothing else may differ")
    func loopbackPort() throws {
        let (_, redirect) = try AuthorizationRequestRules.checkClient([("client_id", "c1"), ("redirect_uri", "http://127.0.0.1:53117/cb")]) {
            $0 == "c1" ? Self.client : nil
        }
        #expect(redirect == "http://127.0.0.1:53117/cb")
    }

    /// Registration documents, and the RFC 7591 error expected (nil: registered).
    static let registrations: [(String, APIError.Code?)] = [
        (#"{"redirect_uris": ["https://app.example/cb"]}"#, nil),
        (#"{"redirect_uris": ["http://127.0.0.1/cb"], "application_type": "native"}"#, nil),
        (#"{"redirect_uris": ["cursor://anysphere.cursor-retrieval/oauth/callback"], "application_type": "native"}"#, nil),
        (#"{"redirect_uris": []}"#, .invalidRedirectURI),
        (#"{"redirect_uris": ["https://*.app.example/cb"]}"#, .invalidRedirectURI),
        (#"{"redirect_uris": ["javascript:alert(1)"]}"#, .invalidRedirectURI),
        (#"{"redirect_uris": ["http://app.example/cb"]}"#, .invalidRedirectURI),
        (#"{"redirect_uris": ["https://app.example/cb#x"]}"#, .invalidRedirectURI),
        (#"{"redirect_uris": ["https://app.example/cb"], "grant_types": ["implicit"]}"#, .invalidClientMetadata),
        (#"{"redirect_uris": ["https://app.example/cb"], "scope": "admin"}"#, .invalidClientMetadata),
    ]

    @Test("Registration rules: RFC 7591 errors for bad metadata", arguments: Array(registrations.indices))
    func registration(_ index: Int) throws {
        let (document, expected) = Self.registrations[index]
        let request = try JSONBody.decoder().decode(ClientMetadataRequest.self, from: Data(document.utf8))
        do {
            let metadata = try ClientRegistrationRules.validate(request, supportedScopes: ["mcp:tools", "email", "profile", "offline_access"])
            #expect(expected == nil, "\(document) was accepted")
            #expect(!metadata.redirectUris.isEmpty)
        } catch let error as RegistrationError {
            #expect(error.code == expected, "\(document): \(error)")
        }
    }
}
