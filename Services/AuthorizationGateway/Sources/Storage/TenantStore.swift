import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// A tenant as the gateway uses it internally: the public definition and the sealed upstream
/// client secret.
package struct TenantRecord: Sendable, Equatable {
    package var tenant: Tenant
    package var sealedClientSecret: String?
}

/// Tenants and their hosts in the gateway's schema.
package struct TenantStore: Sendable {
    package let client: PostgresClient
    package let schema: SchemaName
    package let keyRing: KeyRing
    package let allowInsecureUpstream: Bool
    package let logger: Logger

    package init(client: PostgresClient, schema: SchemaName, keyRing: KeyRing, allowInsecureUpstream: Bool, logger: Logger) {
        self.client = client
        self.schema = schema
        self.keyRing = keyRing
        self.allowInsecureUpstream = allowInsecureUpstream
        self.logger = logger
    }

    static func secretAssociatedData(tenant: String) -> String { "gatehouse/upstream-client-secret/\(tenant)" }

    @discardableResult
    package func create(_ input: TenantInput) async throws -> Tenant {
        guard let id = input.id else { throw TenantValidationError(field: "id", problem: "is required") }
        var draft = Tenant(
            id: id,
            displayName: input.displayName ?? "",
            hosts: input.hosts ?? [],
            authMode: input.authMode ?? .oauth,
            emailLinking: input.emailLinking ?? "none",
            upstream: nil,
            tokenLifetimes: input.tokenLifetimes ?? TokenLifetimes(),
            freshUpstreamProfile: input.freshUpstreamProfile ?? false,
            clientProfiles: input.clientProfiles ?? ClientProfiles(),
            mcp: input.mcp ?? MCPEndpointSettings(),
            grants: input.grants ?? TenantGrants(),
            hasClientSecret: false,
            disabled: input.disabled ?? false,
            version: 1,
            createdAt: Date(),
            updatedAt: Date()
        )
        draft.upstream = try input.upstream.map { try Self.upstream(from: $0, base: nil) }
        draft.hosts = try TenantRules.validate(
            id: id,
            displayName: draft.displayName,
            hosts: draft.hosts,
            authMode: draft.authMode,
            emailLinking: draft.emailLinking,
            upstream: draft.upstream,
            tokenLifetimes: draft.tokenLifetimes,
            allowInsecureUpstream: allowInsecureUpstream
        )
        try TenantRules.validate(draft.clientProfiles)
        try TenantRules.validate(draft.mcp, authMode: draft.authMode)
        let sealed = try input.clientSecret.map { try seal($0, tenant: id) }
        return try await client.withTransaction(logger: logger) { connection in
            try await write(draft, sealedSecret: sealed, replaceSecret: true, insert: true, on: connection)
            return try await announce(try await load(id, on: connection, lock: false)!.tenant, on: connection)
        }
    }

    /// Applies the fields present in `input`; `nil` if there is no such tenant.
    package func update(_ id: String, with input: TenantInput) async throws -> Tenant? {
        if let newID = input.id, newID != id { throw TenantValidationError(field: "id", problem: "cannot be changed") }
        let sealed = try input.clientSecret.map { try seal($0, tenant: id) }
        return try await client.withTransaction(logger: logger) { connection -> Tenant? in
            guard var tenant = try await load(id, on: connection, lock: true)?.tenant else { return nil }
            if let name = input.displayName { tenant.displayName = name }
            if let hosts = input.hosts { tenant.hosts = hosts }
            if let mode = input.authMode { tenant.authMode = mode }
            if let linking = input.emailLinking { tenant.emailLinking = linking }
            if let disabled = input.disabled { tenant.disabled = disabled }
            if let lifetimes = input.tokenLifetimes { tenant.tokenLifetimes = lifetimes }
            if let fresh = input.freshUpstreamProfile { tenant.freshUpstreamProfile = fresh }
            if let profiles = input.clientProfiles { tenant.clientProfiles = profiles }
            if let mcp = input.mcp { tenant.mcp = mcp }
            if let grants = input.grants { tenant.grants = grants }
            if let upstream = input.upstream { tenant.upstream = try Self.upstream(from: upstream, base: tenant.upstream) }
            tenant.hosts = try TenantRules.validate(
                id: id,
                displayName: tenant.displayName,
                hosts: tenant.hosts,
                authMode: tenant.authMode,
                emailLinking: tenant.emailLinking,
                upstream: tenant.upstream,
                tokenLifetimes: tenant.tokenLifetimes,
                allowInsecureUpstream: allowInsecureUpstream
            )
            try TenantRules.validate(tenant.clientProfiles)
            try TenantRules.validate(tenant.mcp, authMode: tenant.authMode)
            try await write(tenant, sealedSecret: sealed, replaceSecret: sealed != nil, insert: false, on: connection)
            return try await announce(try await load(id, on: connection, lock: false)!.tenant, on: connection)
        }
    }

    package func get(_ id: String) async throws -> Tenant? {
        try await record(id)?.tenant
    }

    /// One tenant with its sealed secret.
    package func record(_ id: String) async throws -> TenantRecord? {
        try await client.withConnection { try await load(id, on: $0, lock: false) }
    }

    package func list() async throws -> [Tenant] {
        try await records().map(\.tenant).sorted { $0.id < $1.id }
    }

    /// Every tenant with its sealed secret.
    package func records() async throws -> [TenantRecord] {
        try await client.withConnection { connection in
            try await query(id: nil, on: connection, lock: false)
        }
    }

    /// The tenants written since `position` (all of them when it is nil), for the host directory.
    package func changes(since position: String?) async throws -> DirectoryChanges<TenantRecord> {
        let watermark = try await WriteWatermark.current(client: client, logger: logger)
        let records = try await client.withConnection { connection in
            try await query(id: nil, since: position.map(WriteWatermark.init(transaction:)), on: connection, lock: false)
        }
        let changes = records.map { DirectoryChanges.Change(id: $0.tenant.id, hosts: $0.tenant.hosts, record: $0.tenant.disabled ? nil : $0) }
        return DirectoryChanges(changes: changes, position: watermark.transaction)
    }

    /// Opens a tenant's upstream client secret.
    package func clientSecret(of record: TenantRecord) throws -> String? {
        try record.sealedClientSecret.map {
            String(decoding: try keyRing.open($0, associatedData: Self.secretAssociatedData(tenant: record.tenant.id)), as: UTF8.self)
        }
    }

    /// `tenant.updated` with the tenant's new version, in the transaction that wrote it.
    private func announce(_ tenant: Tenant, on connection: PostgresConnection) async throws -> Tenant {
        let event = EventEnvelope(
            tenant: tenant.id,
            aggregateKey: tenant.id,
            aggregateVersion: tenant.version,
            payload: TenantUpdated(
                tenantId: tenant.id,
                displayName: tenant.displayName,
                hosts: tenant.hosts,
                authMode: tenant.authMode.rawValue,
                disabled: tenant.disabled,
                accessTokenSeconds: tenant.tokenLifetimes.accessTokenSeconds,
                refreshTokenSeconds: tenant.tokenLifetimes.refreshTokenSeconds,
                freshUpstreamProfile: tenant.freshUpstreamProfile,
                clientProfiles: tenant.clientProfiles,
                mcp: tenant.mcp,
                grants: tenant.grants
            )
        )
        try await OutboxWriter(schema: schema).append([try OutboxRecord(event)], on: connection, logger: logger)
        return tenant
    }

    private func seal(_ secret: String, tenant: String) throws -> String {
        guard !secret.isEmpty, secret.count <= 1024 else {
            throw TenantValidationError(field: "client_secret", problem: "must be 1-1024 characters")
        }
        return try keyRing.seal(Array(secret.utf8), associatedData: Self.secretAssociatedData(tenant: tenant))
    }

    static func upstream(from input: TenantInput.UpstreamInput, base: UpstreamConfiguration?) throws -> UpstreamConfiguration {
        guard let kind = input.kind ?? base?.kind else { throw TenantValidationError(field: "upstream.kind", problem: "must be oidc or oauth2") }
        guard let clientId = input.clientId ?? base?.clientId else {
            throw TenantValidationError(field: "upstream.client_id", problem: "is required")
        }
        let defaultScopes = kind == .oidc ? ["openid", "email", "profile"] : ["read:user", "user:email"]
        return UpstreamConfiguration(
            kind: kind,
            issuer: input.issuer ?? base?.issuer,
            authorizationEndpoint: input.authorizationEndpoint ?? base?.authorizationEndpoint,
            tokenEndpoint: input.tokenEndpoint ?? base?.tokenEndpoint,
            userEndpoint: input.userEndpoint ?? base?.userEndpoint,
            emailsEndpoint: input.emailsEndpoint ?? base?.emailsEndpoint,
            clientId: clientId,
            scopes: input.scopes ?? base?.scopes ?? defaultScopes,
            claims: input.claims ?? base?.claims ?? .init(),
            extraAuthorizeParameters: input.extraAuthorizeParameters ?? base?.extraAuthorizeParameters ?? [:]
        )
    }

    private func write(_ tenant: Tenant, sealedSecret: String?, replaceSecret: Bool, insert: Bool, on connection: PostgresConnection) async throws {
        let s = schema
        let encoder = JSONBody.encoder()
        let upstream = try tenant.upstream.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let profiles = String(decoding: try encoder.encode(tenant.clientProfiles), as: UTF8.self)
        let mcp = String(decoding: try encoder.encode(tenant.mcp), as: UTF8.self)
        let grants = String(decoding: try encoder.encode(tenant.grants), as: UTF8.self)
        let lifetimes = tenant.tokenLifetimes
        let statement: PostgresQuery
        if insert {
            statement = """
                INSERT INTO \(s).tenants (id, display_name, auth_mode, email_linking, upstream, upstream_client_secret, disabled,
                    access_token_seconds, refresh_token_seconds, fresh_upstream_profile, client_profiles, mcp, grants)
                VALUES (\(tenant.id), \(tenant.displayName), \(tenant.authMode.rawValue), \(tenant.emailLinking), \(upstream)::jsonb,
                    \(sealedSecret), \(tenant.disabled), \(lifetimes.accessTokenSeconds), \(lifetimes.refreshTokenSeconds),
                    \(tenant.freshUpstreamProfile), \(profiles)::jsonb, \(mcp)::jsonb, \(grants)::jsonb)
                """
        } else {
            statement = """
                UPDATE \(s).tenants SET display_name = \(tenant.displayName), auth_mode = \(tenant.authMode.rawValue),
                    email_linking = \(tenant.emailLinking), upstream = \(upstream)::jsonb,
                    upstream_client_secret = CASE WHEN \(replaceSecret) THEN \(sealedSecret) ELSE upstream_client_secret END,
                    disabled = \(tenant.disabled), access_token_seconds = \(lifetimes.accessTokenSeconds),
                    refresh_token_seconds = \(lifetimes.refreshTokenSeconds), fresh_upstream_profile = \(tenant.freshUpstreamProfile),
                    client_profiles = \(profiles)::jsonb, mcp = \(mcp)::jsonb, grants = \(grants)::jsonb, version = version + 1, updated_at = now(),
                    written_by = pg_current_xact_id()
                WHERE id = \(tenant.id)
                """
        }
        try await connection.query(statement, logger: logger)
        try await connection.query(
            "DELETE FROM \(s).tenant_hosts WHERE tenant_id = \(tenant.id) AND host <> ALL(\(tenant.hosts)::text[])",
            logger: logger
        )
        try await connection.query(
            """
            INSERT INTO \(s).tenant_hosts (host, tenant_id) SELECT h, \(tenant.id) FROM unnest(\(tenant.hosts)::text[]) AS h
            ON CONFLICT (host) DO UPDATE SET tenant_id = EXCLUDED.tenant_id WHERE tenant_hosts.tenant_id = EXCLUDED.tenant_id
            """,
            logger: logger
        )
        // A host another tenant holds was left untouched by the upsert above: refuse.
        let rows = try await connection.query(
            "SELECT count(*) FROM \(s).tenant_hosts WHERE tenant_id = \(tenant.id) AND host = ANY(\(tenant.hosts)::text[])",
            logger: logger
        )
        for try await count in rows.decode(Int64.self) where count != tenant.hosts.count {
            throw HostTaken()
        }
    }

    struct HostTaken: Error {}

    private func load(_ id: String, on connection: PostgresConnection, lock: Bool) async throws -> TenantRecord? {
        try await query(id: id, on: connection, lock: lock).first
    }

    /// The tenant `id`, or every tenant when it is nil (written since `since`, when given); with
    /// `lock`, locked for update.
    private func query(id: String?, since: WriteWatermark? = nil, on connection: PostgresConnection, lock: Bool) async throws -> [TenantRecord] {
        let s = schema
        let rows = try await connection.query(
            """
            SELECT t.id, t.display_name, t.auth_mode, t.email_linking, t.upstream::text, t.upstream_client_secret, t.disabled, t.version,
                   t.created_at, t.updated_at, t.access_token_seconds, t.refresh_token_seconds, t.fresh_upstream_profile, t.client_profiles::text,
                   t.mcp::text, t.grants::text,
                   coalesce((SELECT array_agg(h.host ORDER BY h.host) FROM \(s).tenant_hosts h WHERE h.tenant_id = t.id), '{}')
            FROM \(s).tenants t WHERE (\(id)::text IS NULL OR t.id = \(id)) AND \(writtenSince: since, alias: "t")
            \(unescaped: lock ? "FOR UPDATE" : "")
            """,
            logger: logger
        )
        var records: [TenantRecord] = []
        let decoder = JSONBody.decoder()
        for try await row in rows.decode(
            (
                String, String, String, String, String?, String?, Bool, Int64, Date, Date, Int, Int, Bool, String?,
                String?, String?, [String]
            ).self
        ) {
            let (
                id, name, mode, linking, upstream, secret, disabled, version, created, updated, accessSeconds, refreshSeconds, fresh, profiles,
                mcp, grants, hosts
            ) = row
            let tenant = Tenant(
                id: id,
                displayName: name,
                hosts: hosts,
                authMode: Tenant.AuthMode(rawValue: mode) ?? .oauth,
                emailLinking: linking,
                upstream: try upstream.map { try decoder.decode(UpstreamConfiguration.self, from: Data($0.utf8)) },
                tokenLifetimes: TokenLifetimes(accessTokenSeconds: accessSeconds, refreshTokenSeconds: refreshSeconds),
                freshUpstreamProfile: fresh,
                clientProfiles: try profiles.map { try decoder.decode(ClientProfiles.self, from: Data($0.utf8)) } ?? ClientProfiles(),
                mcp: try mcp.map { try decoder.decode(MCPEndpointSettings.self, from: Data($0.utf8)) } ?? MCPEndpointSettings(),
                grants: try grants.map { try decoder.decode(TenantGrants.self, from: Data($0.utf8)) } ?? TenantGrants(),
                hasClientSecret: secret != nil,
                disabled: disabled,
                version: version,
                createdAt: created,
                updatedAt: updated
            )
            records.append(TenantRecord(tenant: tenant, sealedClientSecret: secret))
        }
        return records
    }
}
