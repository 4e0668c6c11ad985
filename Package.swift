// swift-tools-version: 6.1
// The exchange core: one package, one module per part of DESIGN.md.
// Benchmarks live in their own package (Benchmarks/Package.swift) so that the tests and the CLI
// never build the benchmark harness and its dependencies.

import PackageDescription

let package = Package(
    name: "exchange",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Journal", targets: ["Journal"]),
        .library(name: "Matching", targets: ["Matching"]),
        .library(name: "Codec", targets: ["Codec"]),
        .library(name: "Node", targets: ["Node"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "Projections", targets: ["Projections"]),
        .library(name: "ProjectionsSQLite", targets: ["ProjectionsSQLite"]),
        .library(name: "ProjectionsPostgres", targets: ["ProjectionsPostgres"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .library(name: "Replication", targets: ["Replication"]),
        .library(name: "Workloads", targets: ["Workloads"]),
        .library(name: "_Posix", targets: ["_Posix"]),
        .library(name: "_ProcessTesting", targets: ["_ProcessTesting"]),
        .executable(name: "exchange", targets: ["exchange"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // liblz4 (Debian: liblz4-dev) for block compression.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // OpenSSL's libcrypto (Debian: libssl-dev) for SHA-256 (SHA-NI where the CPU has it).
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // CRC32C with the SSE4.2 instruction, chosen at run time, and a portable fallback.
        .target(name: "CCRC32C"),
        // POSIX plumbing: threads, locks and conditions, clocks, byte order, varints.
        .target(name: "_Posix"),
        .target(
            name: "Journal",
            dependencies: ["CLZ4", "CLibCrypto", "CCRC32C", "_Posix"]
        ),
        // The matching state machine: pure Swift, no I/O, depends on nothing of ours.
        .target(name: "Matching"),
        .testTarget(name: "MatchingTests", dependencies: ["Matching", "Workloads"]),
        // Commands and events as JSON Lines (INTERCHANGE.md) and as journal records.
        .target(name: "Codec", dependencies: ["Matching", "Journal", "_Posix"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "Matching"]),
        // The node: sequencer pipeline, snapshots, recovery, the deterministic simulator.
        .target(name: "Node", dependencies: ["Journal", "Matching", "Codec", "_Posix"]),
        // Read models: the projector (commands to rows), live market data, the schema and queries.
        // No database here: each backend is its own module, with its own dependency.
        .target(name: "Projections", dependencies: ["Journal", "Matching", "Codec", "_Posix"]),
        // The read model in SQLite (GRDB; Debian: libsqlite3-dev).
        .target(
            name: "ProjectionsSQLite",
            dependencies: ["Projections", "Journal", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The same read model in PostgreSQL (postgres-nio), when one machine is outgrown.
        .target(
            name: "ProjectionsPostgres",
            dependencies: ["Projections", "Journal", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        // Binance Spot API v3 in front of a node (Hummingbird), API keys and signatures
        // (swift-crypto): the only module that pulls in an HTTP server.
        .target(
            name: "Gateway",
            dependencies: ["Node", "Projections", "Codec", "Matching", "Journal", "_Posix",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdCore", package: "hummingbird"),
                           .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Replicas: a primary streams its journal as stored to followers over TCP (SwiftNIO),
        // which write and apply it; the quorum's progress goes back to the primary's node.
        .target(
            name: "Replication",
            dependencies: ["Node", "Journal", "_Posix",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // Seeded agents that trade through a real node (`exchange sim`).
        .target(name: "Simulation", dependencies: ["Node", "Journal", "Matching", "Codec", "Workloads", "_Posix"]),
        // Running programs from the test suites and the benchmarks (the CLI, /bin/sh, a throwaway
        // PostgreSQL cluster): nothing the CLI or the node links uses it.
        .target(name: "_ProcessTesting"),
        // Seeded workloads: the generator every seeded part draws from (the simulator, the
        // tests), and the journal benchmark's order-like records (`exchange journal generate`).
        .target(name: "Workloads"),
        .executableTarget(
            name: "exchange",
            dependencies: [
                "Journal",
                "Matching",
                "Codec",
                "Node",
                "Simulation",
                "Workloads",
                "Projections",
                "ProjectionsSQLite",
                "ProjectionsPostgres",
                "Gateway",
                "Replication",
                "_Posix",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/exchange"
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: ["Node", "Simulation", "Journal", "Matching", "Codec", "Workloads", "_Posix", "_ProcessTesting", "exchange"]
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: ["Projections", "ProjectionsSQLite", "ProjectionsPostgres", "Node", "Simulation", "Journal", "Matching", "Codec",
                           "_ProcessTesting", "exchange"]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: ["Gateway", "Node", "Codec", "Matching", "Workloads", "_Posix", "_ProcessTesting", "exchange"],
            exclude: ["Clients"]
        ),
        .testTarget(
            name: "JournalTests",
            dependencies: ["Journal", "Workloads", "_Posix", "_ProcessTesting", "exchange"]
        ),
    ]
)
