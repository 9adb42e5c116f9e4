import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehouseOAuth
import GatehousePostgres
import GatehouseRuntime
import Logging
import PostgresNIO

/// Refresh rotations: the compare-and-set `RefreshRotation` names, batched (see
/// `TokenStatements.Rotate`).
extension TokenStore {
    /// One compare-and-set of a batch, as `RefreshRotation` decided it: the grant still holds
    /// the presented token as its live one (a rotation to `tokens.refreshToken`), or as the one
    /// the live token replaced, within the grace window, with `tokens.refreshToken` live (a
    /// repeat). Either way the new access token and `token.refreshed` are written with it.
    struct Rotation: Sendable {
        var grantId: GrantID
        var presentedHash: String
        var repeatsSuccessor: Bool
        var generation: Int
        var keyID: String
        var tokens: MintedTokens
        var grace: Duration
        var event: OutboxRecord

        init(
            state: GrantState,
            presentedHash: String,
            repeatsSuccessor: Bool,
            generation: Int,
            keyID: String,
            tokens: MintedTokens,
            grace: Duration
        ) throws {
            self.grantId = state.grantId
            self.presentedHash = presentedHash
            self.repeatsSuccessor = repeatsSuccessor
            self.generation = generation
            self.keyID = keyID
            self.tokens = tokens
            self.grace = grace
            // Only a user's grant has a refresh token (a service principal's never does).
            guard let userId = state.userId else { throw ServicePrincipalHasNoRefresh() }
            event = try OutboxRecord(
                EventEnvelope(
                    tenant: state.tenant.rawValue,
                    aggregateKey: state.grantId.rawValue,
                    aggregateVersion: Int64(generation) * 2 + (repeatsSuccessor ? 1 : 0),
                    payload: TokenRefreshed(
                        grantId: state.grantId.rawValue,
                        userId: userId.rawValue,
                        clientId: state.clientId.rawValue,
                        scopes: tokens.scopes,
                        accessTokenHash: tokens.accessHash,
                        accessTokenExpiresAt: tokens.accessExpiresAt,
                        refreshFamilyId: state.grantId.rawValue,
                        generation: generation
                    )
                )
            )
        }
    }

    /// Carries out a rotation if the grant is still as the decision saw it (compare-and-set on
    /// the grant row, which PostgreSQL locks for the update): false when another request changed
    /// it first. Concurrent rotations of different grants share one statement.
    func rotate(_ rotation: Rotation) async throws -> Bool {
        guard rotation.tokens.refreshHash != nil else { return false }
        return try await rotations.submit(rotation, key: rotation.tokens.accessHash) ?? false
    }

    /// The rotations of a batch in one statement (see `TokenStatements.Rotate`).
    static func rotate(_ rotations: [Rotation], client: PostgresClient, logger: Logger) async throws -> [String: Bool] {
        var result: [String: Bool] = [:]
        for try await accessHash in try await client.execute(TokenStatements.Rotate(rotations: rotations), logger: logger) {
            result[accessHash] = true
        }
        return result
    }
}

/// A refresh of a grant without a user, which no refresh token can reach.
struct ServicePrincipalHasNoRefresh: Error {}
