// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Spool",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Spool", targets: ["Spool"]),
        .library(name: "SpoolRing", targets: ["SpoolRing"]),
        .library(name: "SpoolTimer", targets: ["SpoolTimer"]),
        // A Runtime as a swift-service-lifecycle Service (a separate product: the core stays light).
        .library(name: "SpoolServiceLifecycle", targets: ["SpoolServiceLifecycle"]),
        .executable(name: "spool", targets: ["spool"]),
    ],
    dependencies: [
        // Errno, FileDescriptor, FilePath: the ecosystem's own vocabulary for system errors and descriptors.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The runtime reports events operators must see (a ring that broke) through the
        // ecosystem's logging API; quiet unless the user passes a Logger.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Per-ring counters and gauges (operations, admission, wakes, timers, the blocking pool)
        // through the ecosystem's metrics API: operators plug in Prometheus, StatsD or OTel.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Graceful shutdown on SIGTERM/SIGINT in the ecosystem's way (ServiceGroup), for the
        // SpoolServiceLifecycle product only.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Subcommands and flags of the `spool` tool.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation --target Spool`: the DocC catalog (build-time
        // plugin only; nothing of it links into Spool).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CSpoolURing"),
        .target(
            name: "SpoolRing",
            dependencies: [
                "CSpoolURing",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The timing wheel: a pure data structure, no I/O, driven by whatever clock feeds it.
        .target(name: "SpoolTimer"),
        .target(
            name: "Spool",
            dependencies: [
                "CSpoolURing",
                "SpoolRing",
                "SpoolTimer",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "SpoolServiceLifecycle",
            dependencies: [
                "Spool",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "spool",
            dependencies: [
                "Spool",
                // `spool echo` runs as a ServiceGroup: SIGTERM/SIGINT shut it down gracefully.
                "SpoolServiceLifecycle",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                // `spool bench` compares an async NOP with the raw ring's.
                "SpoolRing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(name: "CSpoolURingTests", dependencies: ["CSpoolURing"]),
        .testTarget(name: "SpoolTimerTests", dependencies: ["SpoolTimer"]),
        .testTarget(
            name: "SpoolRingTests",
            dependencies: [
                "SpoolRing",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(
            name: "SpoolTests",
            dependencies: [
                "Spool",
                // The runtime-level fault-injection suite builds its injected system-call layer.
                "SpoolRing",
                .product(name: "Logging", package: "swift-log"),
                // A metrics backend that records what the rings publish.
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SpoolServiceLifecycleTests",
            dependencies: [
                "SpoolServiceLifecycle",
                "Spool",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
