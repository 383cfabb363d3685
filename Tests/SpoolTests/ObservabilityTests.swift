import Logging
import MetricsTestKit
import Synchronization
import SystemPackage
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

@Suite("Observability: metrics and the stall detector", .serialized)
struct ObservabilityTests {
    /// A runtime whose rings publish into `metrics` every millisecond.
    static func runtime(_ metrics: TestMetrics, _ configure: (inout Runtime.Configuration) -> Void = { _ in }) throws -> Runtime {
        var configuration = Runtime.Configuration(ringCount: 2)
        configuration.metricsFactory = metrics
        configuration.metricsInterval = .milliseconds(1)
        configure(&configuration)
        return try Runtime(configuration: configuration)
    }

    static func counter(_ metrics: TestMetrics, _ label: String, ring: Int) -> Int64 {
        metrics.counterTotal(label: label, dimensions: [("ring", "\(ring)")])
    }

    static func gauge(_ metrics: TestMetrics, _ label: String, ring: Int? = nil) -> Int64? {
        let recorders = ring.map { metrics.recorders(label: label, dimensions: [("ring", "\($0)")]) } ?? metrics.recorders(label: label)
        return recorders.first?.lastValue.map { Int64($0) }
    }

    @Test("submitted and completed counters move with the operations of their ring")
    func operationCounters() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics)
        let before = (Self.counter(metrics, "spool_operations_submitted_total", ring: 0), Self.counter(metrics, "spool_operations_completed_total", ring: 0))
        try await runtime.spawn(on: .ring(0)) { for _ in 0..<100 { try await runtime.nop() } }.value
        // Published when the ring next parks (it is idle now).
        #expect(await eventually {
            Self.counter(metrics, "spool_operations_submitted_total", ring: 0) - before.0 >= 100
                && Self.counter(metrics, "spool_operations_completed_total", ring: 0) - before.1 >= 100
        })
        #expect(Self.counter(metrics, "spool_operations_submitted_total", ring: 1) < 100, "ring 1 did not run them")
        await runtime.shutdownAndWait()
    }

    @Test("gauges: operations in flight and waiting for admission, timers armed")
    func gauges() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics) { $0.inFlightLimit = 1 }
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let reader = runtime.spawn(on: .ring(0)) { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        let queued = runtime.spawn(on: .ring(0)) { try await runtime.nop() }  // waits behind the cap of 1
        let clock = SpoolClock(runtime: runtime)
        let sleepers = (0..<3).map { _ in runtime.spawn(on: .ring(1)) { try await clock.sleep(for: .seconds(60)) } }
        #expect(await eventually {
            Self.gauge(metrics, "spool_operations_in_flight", ring: 0) == 1
                && Self.gauge(metrics, "spool_operations_waiting", ring: 0) == 1
                && Self.gauge(metrics, "spool_timers_armed", ring: 1) == 3
        }, "in flight \(String(describing: Self.gauge(metrics, "spool_operations_in_flight", ring: 0))), waiting \(String(describing: Self.gauge(metrics, "spool_operations_waiting", ring: 0))), timers \(String(describing: Self.gauge(metrics, "spool_timers_armed", ring: 1)))")
        _ = try pipe.writeEnd.writeAll([1])
        _ = try await reader.value
        try await queued.value
        #expect(await eventually {
            Self.gauge(metrics, "spool_operations_in_flight", ring: 0) == 0 && Self.gauge(metrics, "spool_operations_waiting", ring: 0) == 0
        })
        await runtime.shutdownAndWait()
        for s in sleepers { await #expect(throws: RuntimeError.shutdown) { try await s.value } }
        #expect(Self.gauge(metrics, "spool_timers_armed", ring: 1) == 0, "a stopped ring's gauges end at zero")
    }

    @Test("SQ-full events and wakes sent and received are counted", .requiresIOUring)
    func submissionQueueFullAndWakes() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics) {
            $0.submissionEntries = 2
            $0.backend = .ioUring  // SQ-full and MSG_RING wakes are io_uring's
        }
        try await runtime.spawn(on: .ring(0)) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 { group.addTask { try await runtime.nop() } }
                try await group.waitForAll()
            }
        }.value
        #expect(await eventually { Self.counter(metrics, "spool_submission_queue_full_total", ring: 0) > 0 })
        // Round trips between the rings: each wakes the other.
        let ping = Baton(), pong = Baton()
        let a = runtime.spawn(on: .ring(0)) { for _ in 0..<200 { ping.signal(); await pong.wait() } }
        let b = runtime.spawn(on: .ring(1)) { for _ in 0..<200 { await ping.wait(); pong.signal() } }
        try await a.value
        try await b.value
        #expect(await eventually {
            Self.counter(metrics, "spool_wakes_sent_total", ring: 0) > 0 && Self.counter(metrics, "spool_wakes_received_total", ring: 1) > 0
                && Self.counter(metrics, "spool_wakes_sent_total", ring: 1) > 0 && Self.counter(metrics, "spool_wakes_received_total", ring: 0) > 0
        })
        await runtime.shutdownAndWait()
    }

    @Test("the blocking pool's queue depth and running jobs are gauges")
    func blockingPoolGauges() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics) { $0.blockingThreads = 1 }
        let release = Flag()
        let jobs = (0..<3).map { _ in runtime.spawn { try await runtime.spawnBlocking { while !release.isSet { usleep(1000) } } } }
        #expect(await eventually {
            Self.gauge(metrics, "spool_blocking_pool_running") == 1 && Self.gauge(metrics, "spool_blocking_pool_queued") == 2
        })
        release.set()
        for j in jobs { try await j.value }
        #expect(await eventually {
            Self.gauge(metrics, "spool_blocking_pool_running") == 0 && Self.gauge(metrics, "spool_blocking_pool_queued") == 0
        })
        await runtime.shutdownAndWait()
    }

    @Test("extra dimensions tell two runtimes of one process apart")
    func extraDimensions() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics) { $0.metricsDimensions = [("runtime", "ingest")] }
        try await runtime.spawn(on: .ring(0)) { for _ in 0..<10 { try await runtime.nop() } }.value
        #expect(await eventually {
            metrics.counterTotal(label: "spool_operations_submitted_total", dimensions: [("ring", "0"), ("runtime", "ingest")]) >= 10
        })
        await runtime.shutdownAndWait()
    }

    @Test("metrics can be turned off, and a bad interval or threshold is a clear error")
    func configuration() async throws {
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics) { $0.metricsInterval = nil }
        try await runtime.nop()
        await runtime.shutdownAndWait()
        #expect(metrics.counters.isEmpty && metrics.recorders.isEmpty)
        #expect(throws: RuntimeError.self) { try Self.runtime(metrics) { $0.metricsInterval = .zero } }
        #expect(throws: RuntimeError.self) { try Self.runtime(metrics) { $0.stallThreshold = .microseconds(10) } }
        #expect(throws: RuntimeError.self) { try Self.runtime(metrics) { $0.metricsDimensions = [("ring", "x")] } }
    }

    @Test("the stall detector logs a task that blocks its ring, once, and its recovery; idle rings are not stalls")
    func stallDetector() async throws {
        let logged = LogCapture()
        let metrics = TestMetrics()
        let runtime = try Self.runtime(metrics) {
            $0.stallThreshold = .milliseconds(50)
            $0.logger = Logger(label: "test") { _ in logged }
        }
        try await Task.sleep(for: .milliseconds(200))  // idle: parked rings are not stalled
        #expect(runtime.rings.allSatisfy { $0.stallsReported.load(ordering: .relaxed) == 0 })
        try await runtime.spawn(on: .ring(1)) { usleep(400_000) }.value  // blocks ring 1's thread
        #expect(await eventually { logged.messages.contains { $0.contains("back in its loop") } })
        let stalls = logged.messages.filter { $0.hasPrefix("warning") && $0.contains("Spool ring 1 has not come back to the kernel") }
        #expect(stalls.count == 1, "one report per stall: \(logged.messages)")
        #expect(runtime.rings[1].stallsReported.load(ordering: .relaxed) == 1)
        #expect(runtime.rings[0].stallsReported.load(ordering: .relaxed) == 0)
        #expect(Self.counter(metrics, "spool_stalls_total", ring: 1) == 1)
        await runtime.shutdownAndWait()
    }
}
