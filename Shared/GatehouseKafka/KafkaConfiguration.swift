/// Options shared by producers and consumers.
public struct KafkaClientOptions: Sendable {
    /// `host:port[,host:port...]`
    public var bootstrapServers: String
    public var clientID: String
    /// Raw librdkafka properties applied last: the escape hatch for anything not typed here.
    public var extra: [String: String]

    public init(bootstrapServers: String, clientID: String = "gatehouse", extra: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.extra = extra
    }
}

/// Producer settings. Idempotence is always on: retries never duplicate or reorder a partition.
public struct KafkaProducerConfiguration: Sendable {
    public var client: KafkaClientOptions
    /// How long librdkafka keeps trying to deliver one message before reporting a timeout.
    public var messageTimeout: Duration = .seconds(30)
    /// Time librdkafka waits to fill a batch. Zero: send at once; records that queue up while a
    /// request is in flight are still batched, so waiting would only add lag.
    public var linger: Duration = .zero
    /// How long `shutdown` waits for outstanding deliveries.
    public var flushTimeout: Duration = .seconds(10)

    public init(client: KafkaClientOptions) { self.client = client }

    /// The librdkafka property map, built in this one place.
    public var properties: [String: String] {
        var p: [String: String] = [
            "bootstrap.servers": client.bootstrapServers,
            "client.id": client.clientID,
            "enable.idempotence": "true",
            "acks": "all",
            "message.timeout.ms": String(messageTimeout.milliseconds),
            "linger.ms": String(linger.milliseconds),
            "socket.keepalive.enable": "true",
            // Small requests must not wait for Nagle's algorithm and delayed ACKs (tens of ms).
            "socket.nagle.disable": "true",
        ]
        p.merge(client.extra) { _, new in new }
        return p
    }
}

/// Consumer settings: a consumer group whose offsets are stored only after processing.
public struct KafkaConsumerConfiguration: Sendable {
    public enum OffsetReset: String, Sendable { case earliest, latest }

    public var client: KafkaClientOptions
    public var groupID: String
    public var autoOffsetReset: OffsetReset = .earliest
    /// How long the group waits for a silent member (one killed without leaving) before its
    /// partitions go to the others. Kafka's lower bound (`group.min.session.timeout.ms`) is 6 s.
    public var sessionTimeout: Duration = .seconds(6)
    /// How often a member tells the group it is alive, and learns that a rebalance has begun.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How long a fetch may wait at the broker for data; low values cut end-to-end lag.
    public var fetchWaitMax: Duration = .milliseconds(10)
    public var autoCommitInterval: Duration = .milliseconds(500)

    public init(client: KafkaClientOptions, groupID: String) {
        self.client = client
        self.groupID = groupID
    }

    public var properties: [String: String] {
        var p: [String: String] = [
            "bootstrap.servers": client.bootstrapServers,
            "client.id": client.clientID,
            "group.id": groupID,
            "auto.offset.reset": autoOffsetReset.rawValue,
            // Offsets are stored by us after the consumer's transaction commits, and the
            // background committer only commits what was stored (at-least-once).
            "enable.auto.offset.store": "false",
            "enable.auto.commit": "true",
            "auto.commit.interval.ms": String(autoCommitInterval.milliseconds),
            "session.timeout.ms": String(sessionTimeout.milliseconds),
            "heartbeat.interval.ms": String(heartbeatInterval.milliseconds),
            "fetch.wait.max.ms": String(fetchWaitMax.milliseconds),
            "enable.partition.eof": "false",
            "isolation.level": "read_committed",
            "socket.nagle.disable": "true",
        ]
        p.merge(client.extra) { _, new in new }
        return p
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
