import Foundation
import Synchronization

/// A steady load on one tenant through the front door, as people and MCP clients make it:
/// login workers each sign in new people one after another (registration → consent → upstream
/// sign-in → token → first tool call, then `get_support` once), and call workers make
/// authenticated `whoami` calls with the tokens of people already signed in.
///
/// Each login registers its own client (`registerEachLogin`, a person's own MCP client), or each
/// login worker registers one client that all its people use (one client app, many users):
/// the gateway limits registrations per address, and the load comes from one address.
///
/// A login that fails for good (say, its code exchange was cut when an instance died, and the
/// code is spent) is started again from registration, up to `attempts` times, as the person
/// would; those restarts are counted. Transient failures inside a step are the client's to
/// retry (`PlatformClient`'s patience).
public final class PlatformLoad: Sendable {
    public struct Person: Sendable {
        public var email: String
        public var signedIn: SignedIn
    }

    /// What happened; gathered while the load runs.
    public struct Report: Sendable {
        /// People whose login completed, with their tokens.
        public var people: [Person] = []
        /// Logins that did not complete within their attempts, with the last error.
        public var lostLogins: [String] = []
        /// Why logins were started again after a step failed for good (one entry per restart).
        public var restartedLogins: [String] = []
        /// Tool calls answered 200 with the caller's own identity (first calls and steady calls).
        public var toolCalls = 0
        /// `get_support` calls answered with a filed request.
        public var supportRequests = 0
        /// Tool calls that failed for good, or answered someone else's identity.
        public var failedCalls: [String] = []
        /// Complete logins (start to first tool call) and steady tool calls, end to end.
        public var loginLatencies = Latencies()
        public var callLatencies = Latencies()
        /// The whole run, set when it ends.
        public var elapsed: Duration = .zero
    }

    public let client: PlatformClient
    private let endpoints: OAuthEndpoints
    private let loginWorkers: Int
    private let callWorkers: Int
    private let attempts: Int
    private let registerEachLogin: Bool
    private let tag: String
    private let state = Mutex(Report())
    private let stopping = Atomic<Bool>(false)

    public init(
        client: PlatformClient,
        endpoints: OAuthEndpoints,
        loginWorkers: Int,
        callWorkers: Int,
        registerEachLogin: Bool,
        attempts: Int = 3
    ) {
        self.client = client
        self.registerEachLogin = registerEachLogin
        self.endpoints = endpoints
        self.loginWorkers = loginWorkers
        self.callWorkers = callWorkers
        self.attempts = attempts
        tag = String(UUID().uuidString.prefix(6).lowercased())
    }

    public var completedLogins: Int { state.withLock { $0.people.count } }
    public var toolCalls: Int { state.withLock { $0.toolCalls } }

    /// Asks the workers to stop after what each is doing now.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// Runs until `stop()`; returns what happened.
    public func run() async -> Report {
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<loginWorkers { group.addTask { await self.signInPeople(worker: worker) } }
            for _ in 0..<callWorkers { group.addTask { await self.callTools() } }
        }
        let elapsed = ContinuousClock.now - started
        return state.withLock {
            $0.elapsed = elapsed
            return $0
        }
    }

    private func signInPeople(worker: Int) async {
        var number = 0
        var registered: String?
        while !stopping.load(ordering: .relaxed) {
            number += 1
            let email = "person-\(tag)-\(worker)-\(number)@example.org"
            let started = ContinuousClock.now
            var lastError = ""
            var signedIn: SignedIn?
            for attempt in 1...attempts {
                do {
                    let clientId: String
                    if let registered {
                        clientId = registered
                    } else {
                        clientId = try await client.register(endpoints)
                        if !registerEachLogin { registered = clientId }
                    }
                    let tokens = try await client.signIn(
                        endpoints,
                        clientId: clientId,
                        scopes: ["mcp:tools", "email"],
                        person: (email, "Person \(worker)-\(number)")
                    )
                    try await expectIdentity(tokens.access, email: email)
                    signedIn = tokens
                    break
                } catch {
                    lastError = "\(error)"
                    if attempt < attempts { state.withLock { $0.restartedLogins.append(lastError) } }
                }
            }
            guard let signedIn else {
                state.withLock { $0.lostLogins.append("\(email): \(lastError)") }
                continue
            }
            let latency = ContinuousClock.now - started
            state.withLock {
                $0.people.append(Person(email: email, signedIn: signedIn))
                $0.loginLatencies.record(latency)
            }
            do {
                let filed = try await client.callTool(
                    endpoints,
                    token: signedIn.access,
                    tool: "get_support",
                    arguments: #"{"subject":"Load \#(number)","message":"Filed by worker \#(worker)."}"#
                )
                guard filed.status == 200, filed.body.contains("Filed support request"), filed.body.contains(email) else {
                    throw TestSupportError("get_support answered \(filed.status): \(filed.body.prefix(200))")
                }
                state.withLock { $0.supportRequests += 1 }
            } catch {
                state.withLock { $0.failedCalls.append("\(email) get_support: \(error)") }
            }
        }
    }

    private func callTools() async {
        var generator = SystemRandomNumberGenerator()
        while !stopping.load(ordering: .relaxed) {
            guard let person = state.withLock({ $0.people.randomElement(using: &generator) }) else {
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            let started = ContinuousClock.now
            do {
                try await expectIdentity(person.signedIn.access, email: person.email)
                let latency = ContinuousClock.now - started
                state.withLock { $0.callLatencies.record(latency) }
            } catch {
                state.withLock { $0.failedCalls.append("\(person.email) whoami: \(error)") }
            }
        }
    }

    /// `whoami` with the token answers 200 with this person's email.
    private func expectIdentity(_ token: String, email: String) async throws {
        let answer = try await client.callTool(endpoints, token: token, tool: "whoami")
        guard answer.status == 200, answer.body.contains(email), !answer.body.contains(#""isError":true"#) else {
            throw TestSupportError("whoami answered \(answer.status): \(answer.body.prefix(200))")
        }
        state.withLock { $0.toolCalls += 1 }
    }
}
