// swift-tools-version: 6.1
// Benchmarks of the exchange core (ordo-one/benchmark), a package of their own so that the
// tests and the CLI never build the benchmark harness. Run from this directory:
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "exchange-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // `name:` pins the identity, whatever the checkout's directory is called.
        .package(name: "exchange", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1",
                 traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "JournalBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Journal", package: "exchange"),
                .product(name: "Workloads", package: "exchange"),
                .product(name: "_Posix", package: "exchange"),
            ],
            path: "Journal",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MatchingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Matching", package: "exchange"),
                .product(name: "Codec", package: "exchange"),
                .product(name: "Journal", package: "exchange"),
                .product(name: "Simulation", package: "exchange"),
                .product(name: "Workloads", package: "exchange"),
                .product(name: "_Posix", package: "exchange"),
            ],
            path: "Matching",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "NodeBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Node", package: "exchange"),
                .product(name: "Simulation", package: "exchange"),
                .product(name: "Matching", package: "exchange"),
                .product(name: "Codec", package: "exchange"),
                .product(name: "Journal", package: "exchange"),
                .product(name: "_Posix", package: "exchange"),
            ],
            path: "Node",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ProjectionBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Projections", package: "exchange"),
                .product(name: "ProjectionsSQLite", package: "exchange"),
                .product(name: "ProjectionsPostgres", package: "exchange"),
                .product(name: "Node", package: "exchange"),
                .product(name: "Simulation", package: "exchange"),
                .product(name: "Matching", package: "exchange"),
                .product(name: "Codec", package: "exchange"),
                .product(name: "Journal", package: "exchange"),
                .product(name: "_Posix", package: "exchange"),
                .product(name: "_ProcessTesting", package: "exchange"),
            ],
            path: "Projections",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
