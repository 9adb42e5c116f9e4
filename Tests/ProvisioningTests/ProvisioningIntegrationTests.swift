import Foundation
import GatehouseEvents
import GatehouseKafka
import GatehouseMessaging
import GatehousePostgres
import GatehouseTestSupport
import PostgresNIO
import ServiceFixtures
import Testing
import UserProvisioning

/// The provisioning service's consumer with the real broker process and PostgreSQL: a scenario
/// corpus consumed live, replayed from offset 0, replayed doubled and interleaved; poison
/// events; the database stopped mid-stream.
@Suite("User provisioning with the broker", .serialized)
struct ProvisioningIntegrationTests {
    typealias E = ProvisioningEvents

    /// What the corpus must produce, computed from the events alone (not from our SQL).
    struct Expected {
        var emails: [String: String] = [:]
        var versions: [String: Int64] = [:]
        var logins: [String: Int64] = [:]
        var calls: [String: Int64] = [:]  // "user tool" or "public tenant tool"

        init(_ events: [ProvisioningScenario.Event]) {
            for event in events {
                switch event {
                case .login(let login):
                    let user = login.payload.userId
                    logins[user, default: 0] += 1
                    if login.header.aggregateVersion > versions[user, default: 0] {
                        versions[user] = login.header.aggregateVersion
                        emails[user] = login.payload.email
                    }
                case .toolCall(let call):
                    let key = call.payload.userId.map { "\($0) \(call.payload.tool)" } ?? "public \(call.header.tenant) \(call.payload.tool)"
                    calls[key, default: 0] += 1
                }
            }
        }

        /// Checks a canonical dump against the corpus.
        func check(_ dump: [String]) {
            var seenUsers = Set<String>()
            var seenCalls: [String: Int64] = [:]
            for line in dump {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                switch fields[0] {
                case "user":
                    let user = fields[1]
                    seenUsers.insert(user)
                    #expect(fields[5] == emails[user], "email of \(user)")
                    #expect(Int64(fields[9]) == versions[user], "version of \(user)")
                    #expect(Int64(fields[13]) == logins[user], "logins of \(user)")
                case "usage":
                    seenCalls["\(fields[1]) \(fields[2])"] = Int64(fields[4])
                case "public":
                    seenCalls["public \(fields[1]) \(fields[2])"] = Int64(fields[3])
                default:
                    break
                }
            }
            #expect(seenUsers == Set(versions.keys))
            #expect(seenCalls == calls)
        }
    }

    @Test("A scenario consumed live, then replayed from offset 0: identical state, nothing published by the replay")
    func scenarioReplay() async throws {
        var options = ProvisioningScenario.Options()
        options.events = 1_500
        options.usersPerTenant = 40
        options.seed = 21
        let scenario = ProvisioningScenario(options)
        let expected = Expected(scenario.events)
        // The corpus has what the scenario promises: tool calls before a first login, email changes.
        let firstLogin = Dictionary(
            scenario.events.enumerated().compactMap { index, event -> (String, Int)? in
                if case .login(let login) = event { (login.payload.userId, index) } else { nil }
            },
            uniquingKeysWith: min
        )
        let early = scenario.events.enumerated().filter { index, event in
            if case .toolCall(let call) = event, let user = call.payload.userId { (firstLogin[user] ?? .max) > index } else { false }
        }
        #expect(!early.isEmpty)

        try await ProvisioningFixture.run { fixture in
            let producer = try fixture.producer()
            let live = try await withServices([producer, fixture.relay(producer: producer), fixture.consumer(deadLetters: producer)]) {
                try await fixture.publish(scenario.events, with: producer)
                try await eventually("every event applied") { try await fixture.count("inbox") == Int64(scenario.events.count) }
                try await eventually("every user.upserted published") {
                    let rows = try await fixture.client.query(
                        "SELECT count(*) FROM provisioning.outbox WHERE published_at IS NULL"
                    )
                    for try await pending in rows.decode(Int64.self) { return pending == 0 }
                    return false
                }
                return try await fixture.dump()
            }
            expected.check(live)

            // Every user's final profile was announced, in version order per user.
            let announced = try await TopicReader.readAll(topic: fixture.topics.users, kafka: fixture.broker.clientOptions)
            var versionsByUser: [String: [Int64]] = [:]
            for message in announced {
                let event = try EventCodec.decode(UserUpserted.self, from: message.value)
                versionsByUser[event.payload.userId, default: []].append(event.header.aggregateVersion)
            }
            #expect(Set(versionsByUser.keys) == Set(expected.versions.keys))
            for (user, versions) in versionsByUser {
                #expect(versions == versions.sorted() && versions.last == expected.versions[user], "announcements of \(user)")
            }

            // Replay into an empty schema.
            let rebuilt = try SchemaName("rebuilt")
            let first = try await fixture.replay(into: rebuilt)
            #expect(first == EventReplayer.Result(consumed: Int64(scenario.events.count), applied: scenario.events.count, skipped: 0))
            #expect(try await fixture.dump(rebuilt) == live)
            #expect(try await fixture.count("outbox", schema: rebuilt) == 0)
            await #expect(throws: ProvisioningReplay.NotEmpty.self) { try await fixture.replay(into: rebuilt) }

            // Again, into the same schema: nothing changes.
            let second = try await fixture.replay(into: rebuilt, resume: true)
            #expect(second == EventReplayer.Result(consumed: Int64(scenario.events.count), applied: 0, skipped: 0))
            #expect(try await fixture.dump(rebuilt) == live)
            let announcedAfter = try await TopicReader.readAll(topic: fixture.topics.users, kafka: fixture.broker.clientOptions)
            #expect(announcedAfter.count == announced.count, "a replay publishes nothing")

            // Every event doubled at a seeded later place, the partitions merged in a seeded
            // order, applied in random batch sizes.
            let messages =
                try await TopicReader.readAll(topic: fixture.topics.gateway, kafka: fixture.broker.clientOptions)
                + TopicReader.readAll(topic: fixture.topics.tools, kafka: fixture.broker.clientOptions)
            var random = SeededGenerator(seed: 77)
            var partitions: [[KafkaConsumerMessage]] = Dictionary(grouping: messages, by: \.topicPartition).values
                .map { $0.sorted { $0.offset < $1.offset } }
                .map { partition in
                    var doubled = partition
                    for (index, message) in partition.enumerated().reversed() {
                        doubled.insert(message, at: Int.random(in: (index + 1)...doubled.count, using: &random))
                    }
                    return doubled
                }
            var interleaved: [KafkaConsumerMessage] = []
            while !partitions.isEmpty {
                let pick = Int.random(in: 0..<partitions.count, using: &random)
                interleaved.append(partitions[pick].removeFirst())
                if partitions[pick].isEmpty { partitions.remove(at: pick) }
            }
            #expect(interleaved.count == 2 * scenario.events.count)
            let shuffled = try SchemaName("shuffled")
            try await fixture.migrate(shuffled)
            let processor = InboxProcessor(
                client: fixture.client,
                schema: shuffled,
                handler: fixture.handler(shuffled, mode: .replay),
                logger: fixture.logger
            )
            var position = 0
            var applied = 0
            while position < interleaved.count {
                let size = Int.random(in: 1...300, using: &random)
                let batch = interleaved[position..<min(position + size, interleaved.count)]
                applied += try await processor.apply(try batch.map(InboxProcessor.incoming))
                position += size
            }
            #expect(applied == scenario.events.count)
            #expect(try await fixture.dump(shuffled) == live)
        }
    }

    @Test("Poison events go to the dead-letter topic with their context; later events of the same user are applied")
    func poisonEventsToDeadLetter() async throws {
        try await ProvisioningFixture.run { fixture in
            let producer = try fixture.producer()
            let user = E.userId("t", "s")
            guard case .login(var forged) = E.login(tenant: "t", subject: "s", version: 1, email: "s@example.org", at: 0) else { return }
            forged.payload.userId = E.userId("t", "someone-else")
            let good = E.login(tenant: "t", subject: "s", version: 2, email: "s@example.org", at: 10)
            try await withServices([producer, fixture.relay(producer: producer), fixture.consumer(deadLetters: producer)]) {
                let key = Array(user.utf8)
                let unknownMajor = String(decoding: try good.encoded(), as: UTF8.self)
                    .replacingOccurrences(of: "\"schema_version\":\"1.1\"", with: "\"schema_version\":\"2.0\"")
                    .replacingOccurrences(of: good.header.eventId.uuidString.lowercased(), with: UUID().uuidString.lowercased())
                #expect(unknownMajor.contains("\"2.0\""))
                for value in [Array("{not json".utf8), try EventCodec.encode(forged), Array(unknownMajor.utf8)] {
                    _ = try await producer.send(KafkaOutgoingMessage(topic: fixture.topics.gateway, key: key, value: value))
                }
                try await fixture.publish([good], with: producer)
                try await eventually("the good event applied") { try await fixture.count("users") == 1 }
            }
            let dead = try await TopicReader.readAll(topic: fixture.deadLetterTopic, kafka: fixture.broker.clientOptions)
            #expect(dead.count == 3)
            for message in dead {
                let headers = Dictionary(
                    message.headers.map { ($0.name, String(decoding: $0.value, as: UTF8.self)) },
                    uniquingKeysWith: { a, _ in a }
                )
                #expect(headers["gatehouse-original-topic"] == fixture.topics.gateway)
                #expect(headers["gatehouse-consumer"] == fixture.consumerName)
                #expect(headers["gatehouse-attempts"] == "3")
                #expect(headers["gatehouse-original-offset"].flatMap(Int64.init) != nil)
            }
            #expect(Set(dead.compactMap { $0.headers.first { $0.name == "gatehouse-original-offset" } }.map(\.value)).count == 3)
            let dump = try await fixture.dump()
            #expect(dump.contains { $0.hasPrefix("user\t\(user)\t") })
            #expect(!dump.contains { $0.contains(E.userId("t", "someone-else")) })
        }
    }

    @Test("PostgreSQL stopped mid-stream: nothing applied twice, nothing lost, nothing dead-lettered after it returns")
    func databaseStoppedMidStream() async throws {
        let cluster = try await TestPostgres.make()
        var options = ProvisioningScenario.Options()
        options.events = 600
        options.usersPerTenant = 20
        options.seed = 31
        let scenario = ProvisioningScenario(options)
        let firstHalf = Array(scenario.events.prefix(300))
        let secondHalf = Array(scenario.events.dropFirst(300))
        try await ProvisioningFixture.run(postgres: cluster) { fixture in
            let producer = try fixture.producer()
            try await withServices([producer, fixture.consumer(deadLetters: producer)]) {
                try await fixture.publish(firstHalf, with: producer)
                try await eventually("first half applied") { try await fixture.count("inbox") == 300 }

                try await cluster.stop()
                try await fixture.publish(secondHalf, with: producer)
                try await Task.sleep(for: .seconds(3))  // the consumer keeps failing meanwhile
                try await cluster.start()
                try await eventually("every event applied after the restart") { try await fixture.count("inbox") == 600 }
            }
            Expected(scenario.events).check(try await fixture.dump())
            let dead = try await TopicReader.readAll(topic: fixture.deadLetterTopic, kafka: fixture.broker.clientOptions)
            #expect(dead.isEmpty, "an outage must not dead-letter anything")
        }
        try? await cluster.stop()
    }
}
