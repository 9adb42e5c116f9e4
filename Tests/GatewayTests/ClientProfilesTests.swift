import AuthorizationGateway
import GatehouseEvents
import Testing

/// Client compatibility profiles as plain functions: which profile applies, and which are valid.
@Suite("Client compatibility profiles")
struct ClientProfilesTests {
    static let profiles = ClientProfiles(
        defaults: ClientProfile(accessTokenSeconds: 3600, clientAuthentication: .registered),
        overrides: [
            ClientProfileOverride(
                documentDomain: "claude.ai",
                profile: ClientProfile(clientAuthentication: .anySecretMethod, refreshGraceSeconds: 120)
            ),
            ClientProfileOverride(clientId: "https://claude.ai/oauth/client.json", profile: ClientProfile(accessTokenSeconds: 7200)),
            ClientProfileOverride(clientId: "mcp_client_cli", profile: ClientProfile(accessTokenSeconds: 86_400)),
        ]
    )

    @Test(
        "The defaults, then the document domain's override, then the client id's",
        arguments: [
            ("mcp_client_other", ClientProfile(accessTokenSeconds: 3600, clientAuthentication: .registered)),
            ("mcp_client_cli", ClientProfile(accessTokenSeconds: 86_400, clientAuthentication: .registered)),
            (
                "https://claude.ai/other.json",
                ClientProfile(accessTokenSeconds: 3600, clientAuthentication: .anySecretMethod, refreshGraceSeconds: 120)
            ),
            ("https://CLAUDE.ai:443/x", ClientProfile(accessTokenSeconds: 3600, clientAuthentication: .anySecretMethod, refreshGraceSeconds: 120)),
            (
                "https://claude.ai/oauth/client.json",
                ClientProfile(accessTokenSeconds: 7200, clientAuthentication: .anySecretMethod, refreshGraceSeconds: 120)
            ),
            ("https://claude.ai.evil.example/c.json", ClientProfile(accessTokenSeconds: 3600, clientAuthentication: .registered)),
            ("http://claude.ai/c.json", ClientProfile(accessTokenSeconds: 3600, clientAuthentication: .registered)),
        ]
    )
    func resolution(_ clientId: String, _ expected: ClientProfile) {
        #expect(Self.profiles.profile(for: clientId) == expected)
    }

    @Test(
        "Invalid profiles are refused, naming the field",
        arguments: [
            (ClientProfiles(defaults: ClientProfile(accessTokenSeconds: 10)), "client_profiles.defaults.access_token_seconds"),
            (ClientProfiles(defaults: ClientProfile(refreshGraceSeconds: 301)), "client_profiles.defaults.refresh_grace_seconds"),
            (ClientProfiles(overrides: [ClientProfileOverride(profile: ClientProfile())]), "client_profiles.overrides[0]"),
            (
                ClientProfiles(overrides: [ClientProfileOverride(clientId: "a", documentDomain: "b.example", profile: ClientProfile())]),
                "client_profiles.overrides[0]"
            ),
            (
                ClientProfiles(overrides: [ClientProfileOverride(documentDomain: "https://b.example", profile: ClientProfile())]),
                "client_profiles.overrides[0].document_domain"
            ),
            (
                ClientProfiles(overrides: [ClientProfileOverride(documentDomain: "B.example", profile: ClientProfile())]),
                "client_profiles.overrides[0].document_domain"
            ),
            (ClientProfiles(overrides: [ClientProfileOverride(clientId: "", profile: ClientProfile())]), "client_profiles.overrides[0].client_id"),
            (
                ClientProfiles(overrides: [
                    ClientProfileOverride(clientId: "a", profile: ClientProfile()),
                    ClientProfileOverride(clientId: "a", profile: ClientProfile()),
                ]), "client_profiles.overrides[1]"
            ),
            (
                ClientProfiles(overrides: [ClientProfileOverride(clientId: "a", profile: ClientProfile(accessTokenSeconds: 100_000))]),
                "client_profiles.overrides[0].access_token_seconds"
            ),
        ]
    )
    func invalid(_ profiles: ClientProfiles, _ field: String) {
        #expect(throws: TenantValidationError.self) { try TenantRules.validate(profiles) }
        do {
            try TenantRules.validate(profiles)
        } catch {
            #expect((error as? TenantValidationError)?.field == field)
        }
    }

    @Test("Valid profiles pass")
    func valid() throws {
        try TenantRules.validate(Self.profiles)
        try TenantRules.validate(ClientProfiles())
    }
}
