// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    // A deprecated call is an error: among them the interpolation of a `Secret` (see Secret.swift).
    .unsafeFlags(["-Werror", "DeprecatedDeclaration"]),
]

let package = Package(
    name: "Gatehouse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gatehouse-gateway", targets: ["GatewayMain"]),
        .executable(name: "gatehouse-token-service", targets: ["TokenServiceMain"]),
        .executable(name: "gatehouse-provisioning", targets: ["ProvisioningMain"]),
        .executable(name: "gatehouse-tool-host", targets: ["ToolHostMain"]),
        .executable(name: "gatehouse-dev-broker", targets: ["DevBroker"]),
        .executable(name: "gatehouse-dev-idp", targets: ["DevIdP"]),
        .executable(name: "gatehouse-backbone-probe", targets: ["BackboneProbe"]),
        .executable(name: "gatehouse-backbone-bench", targets: ["BackboneBenchmark"]),
        .executable(name: "gatehouse-provisioning-bench", targets: ["ProvisioningBenchmark"]),
        .executable(name: "gatehouse-gateway-bench", targets: ["GatewayBenchmark"]),
        .executable(name: "gatehouse-token-bench", targets: ["TokenBenchmark"]),
        .executable(name: "gatehouse-toolhost-bench", targets: ["ToolHostBenchmark"]),
        .executable(name: "gatehouse-platform-bench", targets: ["PlatformBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: Shared libraries

        /// librdkafka through pkg-config. Only `GatehouseKafka` imports it.
        .systemLibrary(
            name: "CRdkafka",
            path: "Shared/CRdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "GatehouseKafka",
            dependencies: [
                "CRdkafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/GatehouseKafka",
            swiftSettings: swiftSettings
        ),
        /// Key rings (AES-GCM with key ids), secret generation and hashing, base64url.
        .target(
            name: "GatehouseCrypto",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/GatehouseCrypto",
            swiftSettings: swiftSettings
        ),
        /// OAuth building blocks shared by the services: sealed codes, PKCE, the keys of the
        /// identity assertions sent to tenants' own MCP servers, client assertions.
        .target(
            name: "GatehouseOAuth",
            dependencies: [
                "GatehouseCrypto", "GatehouseEvents", .product(name: "Crypto", package: "swift-crypto"), .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Shared/GatehouseOAuth",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GatehouseEvents",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/GatehouseEvents",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GatehousePostgres",
            dependencies: [
                "GatehouseEvents",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/GatehousePostgres",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GatehouseMessaging",
            dependencies: [
                "GatehouseKafka",
                "GatehouseEvents",
                "GatehousePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/GatehouseMessaging",
            swiftSettings: swiftSettings
        ),
        /// What every program serving HTTP shares, without the broker or the database: errors
        /// (`APIError`), forms, public origins, health and metrics routes, rate limits, circuit
        /// breakers, JSON logs. The development identity provider needs no more than this.
        .target(
            name: "GatehouseHTTP",
            dependencies: [
                "GatehouseCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Shared/GatehouseHTTP",
            swiftSettings: swiftSettings
        ),
        /// A service's process: configuration from the environment, PostgreSQL, Kafka, the
        /// lifecycle; it re-exports `GatehouseHTTP`.
        .target(
            name: "GatehouseRuntime",
            dependencies: [
                "GatehouseHTTP",
                "GatehouseEvents",
                "GatehouseKafka",
                "GatehouseMessaging",
                "GatehousePostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Shared/GatehouseRuntime",
            swiftSettings: swiftSettings
        ),

        // MARK: Services (library + thin executable each)

        .target(
            name: "AuthorizationGateway",
            dependencies: [
                "GatehouseRuntime", "GatehouseMessaging", "GatehouseEvents", "GatehousePostgres", "GatehouseCrypto", "GatehouseOAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/AuthorizationGateway/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayMain",
            dependencies: ["AuthorizationGateway", "GatehouseRuntime"],
            path: "Services/AuthorizationGateway/Main",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TokenService",
            dependencies: [
                "GatehouseRuntime", "GatehouseMessaging", "GatehouseEvents", "GatehousePostgres", "GatehouseCrypto", "GatehouseOAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/TokenService/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "TokenServiceMain",
            dependencies: ["TokenService", "GatehouseRuntime"],
            path: "Services/TokenService/Main",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "UserProvisioning",
            dependencies: [
                "GatehouseRuntime", "GatehouseMessaging", "GatehouseEvents", "GatehousePostgres", "GatehouseKafka",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/UserProvisioning/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ProvisioningMain",
            dependencies: ["UserProvisioning", "GatehouseRuntime"],
            path: "Services/UserProvisioning/Main",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPToolHost",
            dependencies: [
                "GatehouseRuntime", "GatehouseMessaging", "GatehouseEvents", "GatehousePostgres", "GatehouseKafka", "GatehouseCrypto",
                "GatehouseOAuth",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/MCPToolHost/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ToolHostMain",
            dependencies: ["MCPToolHost", "GatehouseRuntime"],
            path: "Services/MCPToolHost/Main",
            swiftSettings: swiftSettings
        ),
        /// The development broker: librdkafka's mock cluster as a standalone process.
        .executableTarget(
            name: "DevBroker",
            dependencies: [
                "GatehouseKafka", "GatehouseEvents", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/DevBroker",
            swiftSettings: swiftSettings
        ),

        /// The local stack's development upstream identity provider (GitHub's OAuth dialect).
        .executableTarget(
            name: "DevIdP",
            dependencies: [
                "GatehouseCrypto", "GatehouseOAuth", "GatehouseHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/DevIdP",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests, test support and benchmarks

        /// A small event-sourced "ledger" used to exercise the backbone end to end
        /// (as a process, so it can be killed with SIGKILL mid-publish).
        .executableTarget(
            name: "BackboneProbe",
            dependencies: [
                "GatehouseMessaging", "GatehouseRuntime", "GatehouseKafka", "GatehousePostgres",
                "GatehouseEvents",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/BackboneProbe",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GatehouseTestSupport",
            dependencies: [
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "GatehousePostgres", "GatehouseKafka", "GatehouseMessaging", "GatehouseEvents", "GatehouseCrypto", "GatehouseOAuth",
                "GatehouseRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/GatehouseTestSupport",
            swiftSettings: swiftSettings
        ),
        /// The services in process, for their tests: each fixture runs one service's routes
        /// over a real PostgreSQL database and the development broker.
        .target(
            name: "ServiceFixtures",
            dependencies: [
                "GatehouseTestSupport", "AuthorizationGateway", "TokenService", "MCPToolHost", "UserProvisioning",
                "GatehouseCrypto", "GatehouseEvents", "GatehouseKafka", "GatehouseMessaging", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/ServiceFixtures",
            swiftSettings: swiftSettings
        ),
        /// The shared libraries: messaging (outbox, inbox, consumers, the backbone as processes),
        /// events, PostgreSQL, the runtime, OAuth building blocks, the deployment files.
        .testTarget(
            name: "SharedTests",
            dependencies: [
                "GatehouseTestSupport", "GatehouseCrypto", "GatehouseEvents", "GatehouseKafka", "GatehouseMessaging", "GatehouseOAuth",
                "GatehousePostgres", "GatehouseRuntime",
                // Started as processes by the tests.
                "DevBroker", "BackboneProbe",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/SharedTests",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "ServiceFixtures", "GatehouseTestSupport", "AuthorizationGateway", "TokenService", "UserProvisioning",
                "GatehouseCrypto", "GatehouseEvents", "GatehouseKafka", "GatehouseMessaging", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseRuntime",
                // Started as processes by the tests.
                "DevBroker", "DevIdP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/GatewayTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TokenServiceTests",
            dependencies: [
                "ServiceFixtures", "GatehouseTestSupport", "TokenService", "AuthorizationGateway",
                "GatehouseCrypto", "GatehouseEvents", "GatehouseKafka", "GatehouseMessaging", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseRuntime",
                "DevBroker",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Tests/TokenServiceTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ToolHostTests",
            dependencies: [
                "ServiceFixtures", "GatehouseTestSupport", "MCPToolHost", "TokenService", "AuthorizationGateway",
                "GatehouseCrypto", "GatehouseEvents", "GatehouseKafka", "GatehouseMessaging", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseRuntime",
                "DevBroker",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/ToolHostTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProvisioningTests",
            dependencies: [
                "ServiceFixtures", "GatehouseTestSupport", "UserProvisioning",
                "GatehouseEvents", "GatehouseKafka", "GatehouseMessaging", "GatehousePostgres", "GatehouseRuntime",
                // Started as processes by the tests.
                "DevBroker", "ProvisioningMain",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/ProvisioningTests",
            swiftSettings: swiftSettings
        ),
        /// The whole platform as processes (every executable), under load and faults; run on
        /// their own by `scripts/test`.
        .testTarget(
            name: "SystemTests",
            dependencies: [
                "GatehouseTestSupport", "GatehouseCrypto", "GatehouseEvents", "GatehouseKafka", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseRuntime",
                "DevBroker", "DevIdP", "GatewayMain", "TokenServiceMain", "ProvisioningMain", "ToolHostMain",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/SystemTests",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "BackboneBenchmark",
            dependencies: [
                "GatehouseMessaging", "GatehouseKafka", "GatehousePostgres", "GatehouseEvents",
                "GatehouseTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/BackboneBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ProvisioningBenchmark",
            dependencies: [
                "UserProvisioning", "GatehouseMessaging", "GatehouseKafka", "GatehousePostgres", "GatehouseEvents",
                "GatehouseTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/ProvisioningBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayBenchmark",
            dependencies: [
                "AuthorizationGateway", "GatehouseRuntime", "GatehouseCrypto", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/GatewayBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "TokenBenchmark",
            dependencies: [
                "TokenService", "GatehouseRuntime", "GatehouseCrypto", "GatehouseOAuth", "GatehousePostgres", "GatehouseEvents",
                "GatehouseMessaging", "GatehouseTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/TokenBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ToolHostBenchmark",
            dependencies: [
                "MCPToolHost", "TokenService", "GatehouseRuntime", "GatehouseCrypto", "GatehouseOAuth", "GatehousePostgres",
                "GatehouseEvents", "GatehouseMessaging", "GatehouseTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/ToolHostBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "PlatformBenchmark",
            dependencies: ["GatehouseTestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/PlatformBenchmark",
            swiftSettings: swiftSettings
        ),
    ]
)
