import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseTestSupport
import Logging
import PostgresNIO
import Testing

/// The event backbone against a real PostgreSQL cluster and the broker process
/// (docs/design.md invariant 1). Serialized: one test stops a PostgreSQL cluster, one a broker of its own.
@Suite("Event backbone", .serialized)
struct BackboneIntegrationTests {
    @Test("1,000 state changes give exactly 1,000 events, in order per key")
    func thousandChangesInOrder() async throws {
        try await BackboneFixture.run { fixture in
            let producer = try fixture.producer()
            try await withServices([producer, fixture.relay(producer: producer)]) {
                try await fixture.migrate(projections: [])
                try await fixture.deposit(count: 1000, keys: 50)
                try await eventually("outbox drained") { try await fixture.unpublished() == 0 }
            }
            let messages = try await TopicReader.readAll(topic: fixture.topic, kafka: fixture.broker.clientOptions)
            #expect(messages.count == 1000)
            let headers = try messages.map { try EventCodec.header(of: $0.value) }
            #expect(Set(headers.map(\.eventId)).count == 1000)

            var byKey: [String: [(partition: Int32, version: Int64)]] = [:]
            for (message, header) in zip(messages, headers) {
                #expect(message.key.map { String(decoding: $0, as: UTF8.self) } == header.aggregateKey)
                byKey[header.aggregateKey, default: []].append((message.partition, header.aggregateVersion))
            }
            let source = try await fixture.sourceState()
            #expect(byKey.count == source.count)
            for (key, events) in byKey {
                // One partition per key, versions 1...n in topic order.
                #expect(Set(events.map(\.partition)).count == 1, "key \(key) spread over partitions")
                #expect(events.map(\.version) == Array(1...Int64(events.count)), "key \(key) out of order")
                #expect(Int64(events.count) == source[key]?.version)
            }
        }
    }

    @Test("Broker down longer than the message timeout: every event arrives after it returns")
    func brokerDownLongerThanMessageTimeout() async throws {
        try await BackboneFixture.run(privateBroker: true) { fixture in
            let producer = try fixture.producer(messageTimeout: .seconds(2))
            var options = OutboxRelay.Options()
            options.failureBackoff = .milliseconds(200)
            try await withServices([producer, fixture.relay(producer: producer, options: options)]) {
                try await fixture.migrate(projections: [])
                try await fixture.deposit(count: 100, keys: 20, seed: 2)
                try await eventually("first events published") { try await fixture.unpublished() == 0 }

                try await fixture.broker.setUp(false)
                do {
                    // Changes keep coming for longer than the message timeout: at least 5 s and
                    // 15 rounds of 20, however slow the machine.
                    let downSince = ContinuousClock.now
                    var seed: UInt64 = 3
                    while ContinuousClock.now - downSince < .seconds(5) || seed < 18 {
                        try await fixture.deposit(count: 20, keys: 20, seed: seed)
                        seed += 1
                        try await Task.sleep(for: .milliseconds(250))
                    }
                    #expect(try await fixture.unpublished() > 0, "nothing can be acknowledged while the broker is down")
                } catch {
                    try await fixture.broker.setUp(true)
                    throw error
                }
                try await fixture.broker.setUp(true)
                try await eventually("outbox drained after the broker returned") { try await fixture.unpublished() == 0 }
            }
            let written = try await outboxEventIDs(fixture)
            let delivered = Set(
                try await TopicReader.readAll(topic: fixture.topic, kafka: fixture.broker.clientOptions)
                    .map { try EventCodec.header(of: $0.value).eventId }
            )
            #expect(written.count >= 400)
            #expect(delivered == written, "lost: \(written.subtracting(delivered).count)")
        }
    }

    @Test(
        "Relay killed with SIGKILL mid-pass: every event delivered, duplicates absorbed by the inbox",
        arguments: [OutboxRelay.FaultPoint.afterFetch, .afterPublish]
    )
    func relayKilled(at point: OutboxRelay.FaultPoint) async throws {
        try await BackboneFixture.run { fixture in
            let view = try SchemaName("view")
            do {
                try await fixture.migrate(projections: [view])
                try await fixture.deposit(count: 200, keys: 25, seed: 4)
            }
            let environment = [
                "GATEHOUSE_PG_HOST": fixture.settings.host, "GATEHOUSE_PG_PORT": String(fixture.settings.port),
                "GATEHOUSE_PG_USER": fixture.settings.username, "GATEHOUSE_PG_DATABASE": fixture.settings.database,
                "GATEHOUSE_KAFKA_BOOTSTRAP": fixture.broker.bootstrapServers,
            ]
            let probe = TestPaths.executable("gatehouse-backbone-probe")
            let doomed = try ChildProcess(
                executable: probe,
                arguments: ["--schema", "ledger", "--pause-at", point.rawValue],
                environment: environment,
                name: "relay-doomed"
            )
            _ = try await doomed.waitForLine { $0 == "PAUSED \(point.rawValue)" }
            await doomed.killHard()

            let producer = try fixture.producer()
            let projection = fixture.projection(view)
            try await withServices([producer]) {
                #expect(try await fixture.unpublished() == 200, "a killed relay marks nothing")
                let survivor = try ChildProcess(executable: probe, arguments: ["--schema", "ledger"], environment: environment, name: "relay")
                try await eventually("outbox drained by the restarted relay") { try await fixture.unpublished() == 0 }
                #expect(await survivor.terminate() == 0)
            }
            let messages = try await TopicReader.readAll(topic: fixture.topic, kafka: fixture.broker.clientOptions)
            let ids = try messages.map { try EventCodec.header(of: $0.value).eventId }
            #expect(Set(ids).count == 200)
            // After a kill past publish, the first pass's 200 events were sent twice.
            #expect(messages.count == (point == .afterPublish ? 400 : 200))

            let expected = try await fixture.expectedDump()
            try await withServices([producer, fixture.consumer(projection, schema: view, deadLetters: producer)]) {
                try await eventually("projection caught up") { try await Ledger.dump(schema: view, client: fixture.client) == expected }
            }
        }
    }

    @Test("Every event delivered twice, partitions interleaved in a seeded order: same state as one in-order delivery")
    func duplicatedAndInterleaved() async throws {
        try await BackboneFixture.run { fixture in
            let reference = try SchemaName("view_reference")
            let viaBroker = try SchemaName("view_broker")
            let direct = try SchemaName("view_direct")
            let producer = try fixture.producer()
            let chaosTopic = fixture.topic + "-chaos"
            try await fixture.broker.createTopic(chaosTopic)

            try await withServices([producer, fixture.relay(producer: producer)]) {
                try await fixture.migrate(projections: [reference, viaBroker, direct])
                try await fixture.deposit(count: 600, keys: 40, seed: 5)
                try await eventually("outbox drained") { try await fixture.unpublished() == 0 }
            }
            let original = try await TopicReader.readAll(topic: fixture.topic, kafka: fixture.broker.clientOptions)
            #expect(original.count == 600)

            // Each partition's messages, every one followed again at a random later point; then the
            // partitions merged in a seeded random order.
            var random = SeededGenerator(seed: 42)
            var lanes = Dictionary(grouping: original, by: \.partition).mapValues { messages -> [KafkaConsumerMessage] in
                var doubled = messages
                for message in messages {
                    let first = doubled.firstIndex { $0.offset == message.offset }!
                    doubled.insert(message, at: Int.random(in: (first + 1)...doubled.count, using: &random))
                }
                return doubled
            }
            var chaos: [KafkaConsumerMessage] = []
            while let partition = lanes.filter({ !$0.value.isEmpty }).keys.sorted().randomElement(using: &random) {
                chaos.append(lanes[partition]!.removeFirst())
            }
            #expect(chaos.count == 1200)

            let referenceProjection = fixture.projection(reference)
            let brokerProjection = fixture.projection(viaBroker, topic: chaosTopic)
            let reports = await producer.send(chaos.map { KafkaOutgoingMessage(topic: chaosTopic, key: $0.key, value: $0.value) })
            #expect(reports.allSatisfy { (try? $0.get()) != nil })

            // The same seeded sequence, straight into the inbox in random-sized batches.
            let processor = InboxProcessor(client: fixture.client, schema: direct, handler: fixture.projection(direct), logger: fixture.logger)
            let expected = try await withServices([
                producer,
                fixture.consumer(referenceProjection, schema: reference, deadLetters: producer),
                fixture.consumer(brokerProjection, schema: viaBroker, deadLetters: producer),
            ]) {
                var rest = chaos[...]
                while !rest.isEmpty {
                    let size = Int.random(in: 1...50, using: &random)
                    try await processor.apply(rest.prefix(size).map(InboxProcessor.incoming))
                    rest = rest.dropFirst(size)
                }
                let expected = try await fixture.expectedDump()
                try await eventually("reference projection complete") { try await Ledger.dump(schema: reference, client: fixture.client) == expected }
                try await eventually("chaos projection complete") { try await Ledger.dump(schema: viaBroker, client: fixture.client) == expected }
                return expected
            }
            do {
                let referenceDump = try await Ledger.dump(schema: reference, client: fixture.client)
                #expect(referenceDump == expected)
                #expect(try await Ledger.dump(schema: viaBroker, client: fixture.client) == referenceDump)
                #expect(try await Ledger.dump(schema: direct, client: fixture.client) == referenceDump)
            }
        }
    }

    @Test("A poison message goes to the dead-letter topic with its headers; the next message is processed")
    func poisonMessage() async throws {
        try await BackboneFixture.run { fixture in
            let view = try SchemaName("view")
            let deadLetterTopic = fixture.topic + "-dlq"
            try await fixture.broker.createTopic(deadLetterTopic, partitions: 1)
            let producer = try fixture.producer()

            func event(_ version: Int64, balance: Int64, schemaVersion: String = "1.0") throws -> [UInt8] {
                let envelope = EventEnvelope(
                    tenant: "t",
                    aggregateKey: "acct-poison",
                    aggregateVersion: version,
                    payload: Ledger.Deposited(amount: balance, balance: balance)
                )
                var text = String(decoding: try EventCodec.encode(envelope), as: UTF8.self)
                text = text.replacingOccurrences(of: "\"schema_version\":\"1.0\"", with: "\"schema_version\":\"\(schemaVersion)\"")
                return Array(text.utf8)
            }
            let key = Array("acct-poison".utf8)
            let garbage = Array("{not json".utf8)
            let sequence: [[UInt8]] = [
                try event(1, balance: 10), garbage, try event(2, balance: 30, schemaVersion: "2.0"), try event(3, balance: 60),
            ]
            let reports = await producer.send(sequence.map { KafkaOutgoingMessage(topic: fixture.topic, key: key, value: $0) })
            let offsets = try reports.map { try $0.get().offset }

            var options = EventConsumer.Options()
            options.deadLetterTopic = deadLetterTopic
            options.initialBackoff = .milliseconds(20)
            let projection = fixture.projection(view)
            try await withServices([producer]) {
                try await fixture.migrate(projections: [view])
            }
            try await withServices([producer, fixture.consumer(projection, schema: view, deadLetters: producer, options: options)]) {
                // Versions 1 and 3 applied: the message after each poison one was processed.
                try await eventually("valid events applied") { try await Ledger.dump(schema: view, client: fixture.client) == "acct-poison 60 3 2" }
            }
            let dead = try await TopicReader.readAll(topic: deadLetterTopic, kafka: fixture.broker.clientOptions)
            #expect(dead.count == 2)
            #expect(dead.map(\.value) == [garbage, sequence[2]])
            for (message, offset) in zip(dead, [offsets[1], offsets[2]]) {
                let headers = Dictionary(message.headers.map { ($0.name, $0.stringValue) }, uniquingKeysWith: { first, _ in first })
                #expect(headers["gatehouse-original-topic"] == fixture.topic)
                #expect(headers["gatehouse-original-offset"] == String(offset))
                let partition = try reports[0].get().partition
                #expect(headers["gatehouse-original-partition"] == String(partition))
                #expect(headers["gatehouse-consumer"] == projection.consumerName)
                #expect(headers["gatehouse-attempts"] == "3")
                #expect(headers["gatehouse-error"]?.isEmpty == false)
                #expect(message.key == key)
            }
            #expect(
                dead.last.flatMap { message in message.headers.first { $0.name == "gatehouse-error" }?.stringValue }?
                    .contains("unsupported schema version 2.0") == true
            )
        }
    }

    @Test("PostgreSQL stopped while a consumer runs: no dead letter, no offset commit; afterwards each event applied once")
    func postgresStoppedWhileConsuming() async throws {
        try await BackboneFixture.run { fixture in
            // The projection lives on a cluster of its own, which this test stops and starts.
            let projectionCluster = try await TestPostgres.make()
            let projectionSettings = try await projectionCluster.makeDatabase(named: "projection", maximumConnections: 20)
            let projectionClient = PostgresClient(configuration: projectionSettings.clientConfiguration, backgroundLogger: fixture.logger)
            let view = try SchemaName("view")
            let deadLetterTopic = fixture.topic + "-dlq"
            try await fixture.broker.createTopic(deadLetterTopic, partitions: 1)
            let producer = try fixture.producer()
            let projection = fixture.projection(view)
            var options = EventConsumer.Options()
            options.deadLetterTopic = deadLetterTopic
            options.maximumBackoff = .milliseconds(500)
            let offsetsReader = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(client: fixture.broker.clientOptions, groupID: projection.consumerName),
                logger: fixture.logger
            )
            let partitions = (0..<Int32(6)).map { KafkaTopicPartition(topic: fixture.topic, partition: $0) }
            func committedTotal() async throws -> Int64 {
                try await offsetsReader.committed(partitions).values.reduce(0) { $0 + max($1, 0) }
            }

            try await withServices([
                projectionClient, producer, fixture.relay(producer: producer),
                fixture.consumer(projection, schema: view, client: projectionClient, deadLetters: producer, options: options),
            ]) {
                try await fixture.migrate(projections: [])
                try await Migrator(schema: view, migrations: Ledger.projectionMigrations).migrate(client: projectionClient, logger: fixture.logger)
                try await fixture.deposit(count: 150, keys: 20, seed: 6)
                let half = try await fixture.expectedDump()
                try await eventually("first half applied and committed") {
                    let dump = try await Ledger.dump(schema: view, client: projectionClient)
                    let committed = try await committedTotal()
                    return dump == half && committed == 150
                }

                try await projectionCluster.stop()
                try await fixture.deposit(count: 150, keys: 20, seed: 7)
                try await eventually("second half published") { try await fixture.unpublished() == 0 }
                try await Task.sleep(for: .seconds(3))  // the consumer keeps failing meanwhile
                #expect(try await committedTotal() == 150, "no offset may be committed while the database is down")
                let deadLetters = try await offsetsReader.watermarks(topic: deadLetterTopic, partition: 0)
                #expect(deadLetters.high == 0, "an outage must not dead-letter anything")

                try await projectionCluster.start()
                let expected = try await fixture.expectedDump()
                try await eventually("every event applied exactly once after the restart") {
                    try await Ledger.dump(schema: view, client: projectionClient) == expected
                }
                try await eventually("offsets committed after the restart") { try await committedTotal() == 300 }
            }
            try? await offsetsReader.close()
        }
    }

    @Test("Replay from offset 0 into an empty schema reproduces the state; replaying again changes nothing")
    func replay() async throws {
        try await BackboneFixture.run { fixture in
            let live = try SchemaName("view_live")
            let rebuilt = try SchemaName("view_rebuilt")
            let producer = try fixture.producer()
            let projection = fixture.projection(live)
            try await withServices([
                producer, fixture.relay(producer: producer),
                fixture.consumer(projection, schema: live, deadLetters: producer),
            ]) {
                try await fixture.migrate(projections: [live, rebuilt])
                try await fixture.deposit(count: 400, keys: 30, seed: 8)
                let expected = try await fixture.expectedDump()
                try await eventually("live projection complete") { try await Ledger.dump(schema: live, client: fixture.client) == expected }
            }
            let marksBefore = try await TopicReader.readAll(topic: fixture.topic, kafka: fixture.broker.clientOptions).count

            do {
                let replayer = EventReplayer(
                    processor: InboxProcessor(client: fixture.client, schema: rebuilt, handler: fixture.projection(rebuilt), logger: fixture.logger),
                    kafka: fixture.broker.clientOptions,
                    logger: fixture.logger
                )
                let first = try await replayer.replay()
                #expect(first == EventReplayer.Result(consumed: 400, applied: 400, skipped: 0))
                let liveDump = try await Ledger.dump(schema: live, client: fixture.client)
                #expect(try await Ledger.dump(schema: rebuilt, client: fixture.client) == liveDump)

                let second = try await replayer.replay()
                #expect(second == EventReplayer.Result(consumed: 400, applied: 0, skipped: 0))
                #expect(try await Ledger.dump(schema: rebuilt, client: fixture.client) == liveDump)
            }
            let marksAfter = try await TopicReader.readAll(topic: fixture.topic, kafka: fixture.broker.clientOptions).count
            #expect(marksAfter == marksBefore, "a replay publishes nothing")
        }
    }
}

private func outboxEventIDs(_ fixture: BackboneFixture) async throws -> Set<UUID> {
    var ids = Set<UUID>()
    let rows = try await fixture.client.query("SELECT event_id FROM \(fixture.source).outbox")
    for try await id in rows.decode(UUID.self) { ids.insert(id) }
    return ids
}
