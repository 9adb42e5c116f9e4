import AsyncHTTPClient
import Foundation
import GatehouseRuntime
import GatehouseTestSupport
import Hummingbird
import ServiceFixtures
import Synchronization
import Testing

@testable import AuthorizationGateway

/// A failing upstream is not waited on by every caller: its circuit opens after a few failures,
/// calls fail at once, and one probe after a pause decides whether it closes again.
@Suite("Upstream circuit breaker")
struct UpstreamCircuitBreakerTests {
    final class Clock: Sendable {
        let instant = Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
    }

    @Test("Opens after the threshold, refuses while open, lets one probe through after the pause, closes on its success")
    func stateMachine() throws {
        let clock = Clock()
        let breaker = CircuitBreaker(threshold: 3, pause: .seconds(10), now: { clock.now })
        for _ in 0..<2 {
            try breaker.admit("idp")
            breaker.failed("idp")
        }
        try breaker.admit("idp")
        breaker.succeeded("idp")  // a success in between resets the count
        for _ in 0..<3 {
            try breaker.admit("idp")
            breaker.failed("idp")
        }
        #expect(breaker.isOpen("idp"))
        #expect(throws: CircuitBreaker.Open.self) { try breaker.admit("idp") }
        try breaker.admit("other")  // other upstreams are unaffected
        clock.advance(.seconds(4))
        do {
            try breaker.admit("idp")
            Issue.record("admitted while open")
        } catch {
            #expect(error.retryAfter == .seconds(6))
        }
        clock.advance(.seconds(6))
        try breaker.admit("idp")  // the probe
        #expect(throws: CircuitBreaker.Open.self) { try breaker.admit("idp") }  // one probe at a time
        breaker.failed("idp")
        #expect(throws: CircuitBreaker.Open.self) { try breaker.admit("idp") }
        clock.advance(.seconds(10))
        try breaker.admit("idp")
        breaker.succeeded("idp")
        #expect(!breaker.isOpen("idp"))
        try breaker.admit("idp")
        try breaker.admit("idp")
    }

    @Test("A stuck upstream: after two timeouts the next call fails without reaching it; after the pause a probe does, and closes it")
    func stuckUpstream() async throws {
        let calls = Mutex(0)
        let stuck = Mutex(true)
        let router = Router()
        router.get("/user") { _, _ -> String in
            calls.withLock { $0 += 1 }
            if stuck.withLock({ $0 }) { try? await Task.sleep(for: .seconds(3)) }
            return #"{"id": 1}"#
        }
        try await serveOnLoopback(router, label: "stuck-upstream") { base in
            let http = UpstreamClient.makeHTTPClient()
            let breaker = CircuitBreaker(threshold: 2, pause: .milliseconds(500))
            let impatient = UpstreamClient(http: http, timeout: .milliseconds(300), breaker: breaker)
            do {
                for _ in 0..<2 {
                    await #expect(throws: UpstreamFailure.self) { try await impatient.send(HTTPClientRequest(url: base + "/user")) }
                }
                #expect(calls.withLock { $0 } == 2)
                await #expect(throws: UpstreamFailure.self) { try await impatient.send(HTTPClientRequest(url: base + "/user")) }
                #expect(calls.withLock { $0 } == 2, "the open circuit did not call the upstream")

                stuck.withLock { $0 = false }
                try await Task.sleep(for: .milliseconds(600))
                let patient = UpstreamClient(http: http, timeout: .seconds(30), breaker: breaker)
                let (status, _) = try await patient.send(HTTPClientRequest(url: base + "/user"))
                #expect(status == 200 && calls.withLock { $0 } == 3)
                #expect(!breaker.isOpen(UpstreamClient.breakerKey(of: base + "/user")))
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
    }
}
