// swift-tools-version:6.1
import PackageDescription

// Spool's benchmarks: a separate package so that users of the library never build
// benchmark dependencies. Run from this folder:
//   swift package --disable-sandbox benchmark            (package-benchmark suites)
//   swift run -c release ring-nop-compare                (side-by-side ratio, quick)
let package = Package(
    name: "SpoolBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The machine's copy has no swift-runtime-interposer, so only the malloc trait is enabled.
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // The SwiftNIO peer of the echo benchmark (echo-compare).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // The peer: the same NOP loop hand-written in C on raw io_uring_enter.
        .target(name: "CNopPeer", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CReadPeer", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "BenchSupport", path: "Sources/BenchSupport"),
        .executableTarget(
            name: "read-compare",
            dependencies: ["CReadPeer", "BenchSupport", .product(name: "Spool", package: "main"), .product(name: "SpoolRing", package: "main"),
                           .product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/ReadCompare"
        ),
        .target(
            name: "NopLoops",
            dependencies: [
                "CNopPeer",
                .product(name: "SpoolRing", package: "main"),
            ],
            path: "Sources/NopLoops"
        ),
        .executableTarget(
            name: "ring-nop-compare",
            dependencies: ["NopLoops", "BenchSupport", .product(name: "Spool", package: "main")],
            path: "Sources/RingNopCompare"
        ),
        .executableTarget(
            name: "timer-compare",
            dependencies: ["BenchSupport", .product(name: "Spool", package: "main"), .product(name: "SpoolTimer", package: "main")],
            path: "Sources/TimerCompare"
        ),
        .executableTarget(
            name: "send-zc-compare",
            dependencies: ["BenchSupport", .product(name: "Spool", package: "main")],
            path: "Sources/SendZeroCopyCompare"
        ),
        .executableTarget(
            name: "nio-file-compare",
            dependencies: ["BenchSupport", .product(name: "Spool", package: "main"), .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "_NIOFileSystem", package: "swift-nio"), .product(name: "SystemPackage", package: "swift-system")],
            path: "Sources/NIOFileCompare"
        ),
        .executableTarget(
            name: "ring-hop-compare",
            dependencies: ["BenchSupport", .product(name: "Spool", package: "main")],
            path: "Sources/RingHopCompare"
        ),
        // SwiftNIO's echo server, as its own examples write it, for echo-compare.
        .executableTarget(
            name: "nio-echo",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Sources/NIOEcho"
        ),
        .executableTarget(
            name: "RingBenchmarks",
            dependencies: [
                "NopLoops",
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/RingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
