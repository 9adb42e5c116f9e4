import GatehouseEvents
import GatehouseKafka
import GatehousePostgres
import Testing

@testable import GatehouseMessaging

@Suite("Failure classification and partition gating")
struct FailureClassificationTests {
    @Test("Errors about the event are deterministic; infrastructure errors are transient")
    func classification() {
        #expect(FailureKind.classify(EventDecodingError.malformed("x")) == .deterministic)
        #expect(FailureKind.classify(EventDecodingError.unsupportedVersion(type: "a", version: SchemaVersion(2, 0))) == .deterministic)
        #expect(FailureKind.classify(DeterministicEventError("refused")) == .deterministic)
        #expect(FailureKind.classify(CancellationError()) == .transient)
        // An error nobody knows is retried, never dead-lettered.
        struct Unknown: Error {}
        #expect(FailureKind.classify(Unknown()) == .transient)
    }

    @Test(
        "Only names of the form [a-z_][a-z0-9_]* become schema identifiers",
        arguments: [
            ("gateway", true), ("view_2", true), ("_x", true),
            ("Gateway", false), ("2view", false), ("a-b", false), ("x\"; DROP SCHEMA public; --", false), ("", false),
            (String(repeating: "a", count: 49), false),
        ]
    )
    func schemaNames(_ name: String, valid: Bool) {
        #expect(((try? SchemaName(name)) != nil) == valid)
        if valid { #expect(try! SchemaName(name).quoted == "\"\(name)\"") }
    }

    @Test("Backoff doubles per consecutive failure and is capped; success resets it")
    func backoff() {
        var gate = PartitionGate()
        var options = EventConsumer.Options()
        options.initialBackoff = .milliseconds(100)
        options.maximumBackoff = .seconds(1)
        let partition = KafkaTopicPartition(topic: "t", partition: 0)
        let delays = (0..<6).map { _ in gate.nextBackoff(partition, options: options) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        gate.succeeded(partition)
        #expect(gate.nextBackoff(partition, options: options) == .milliseconds(100))
    }

    @Test("Attempts are counted per message and restart for the next offset")
    func attempts() {
        var gate = PartitionGate()
        let partition = KafkaTopicPartition(topic: "t", partition: 3)
        #expect(gate.recordAttempt(partition, offset: 10) == 1)
        #expect(gate.recordAttempt(partition, offset: 10) == 2)
        #expect(gate.recordAttempt(partition, offset: 11) == 1)
        #expect(gate.recordAttempt(KafkaTopicPartition(topic: "t", partition: 4), offset: 11) == 1)
    }
}
