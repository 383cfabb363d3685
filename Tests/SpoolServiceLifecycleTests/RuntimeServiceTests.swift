import Logging
import ServiceLifecycle
import Spool
import SpoolServiceLifecycle
import Testing

/// `RuntimeService`: a Spool runtime in a swift-service-lifecycle `ServiceGroup`. The group's
/// graceful shutdown drains the runtime with the service's grace period; cancellation, before
/// or during that grace period, ends it at once.
@Suite("RuntimeService: the runtime as a swift-service-lifecycle service")
struct RuntimeServiceTests {
    @Test("RuntimeService: a ServiceGroup's graceful shutdown shuts the runtime down with its grace period; cancellation at once")
    func runtimeService() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let clock = SpoolClock(runtime: runtime)
        let worker = runtime.spawn { () -> String in
            try await clock.sleep(for: .milliseconds(100))
            return "finished"
        }
        let group = ServiceGroup(services: [RuntimeService(runtime, gracePeriod: .seconds(10))], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(10))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try await worker.value == "finished", "the work finished within the grace period")
        #expect(runtime.shutdownPhase == .finished)

        let second = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let sleeper = second.spawn { try await SpoolClock(runtime: second).sleep(for: .seconds(60)) }
        let group2 = ServiceGroup(services: [RuntimeService(second, gracePeriod: .seconds(60))], logger: Logger(label: "test"))
        let running2 = Task { try await group2.run() }
        try await Task.sleep(for: .milliseconds(10))
        let start = ContinuousClock.now
        running2.cancel()
        _ = await running2.result
        #expect(ContinuousClock.now - start < .seconds(30), "cancellation does not wait for the grace period")
        #expect(second.shutdownPhase == .finished)
        await #expect(throws: RuntimeError.shutdown) { try await sleeper.value }

        // Cancelled during the grace period: it is cut short.
        let third = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let long = third.spawn { try await SpoolClock(runtime: third).sleep(for: .seconds(60)) }
        let group3 = ServiceGroup(services: [RuntimeService(third, gracePeriod: .seconds(60))], logger: Logger(label: "test"))
        let running3 = Task { try await group3.run() }
        try await Task.sleep(for: .milliseconds(10))
        await group3.triggerGracefulShutdown()
        #expect(await eventually { third.shutdownPhase == .draining })
        let cut = ContinuousClock.now
        running3.cancel()
        _ = await running3.result
        #expect(ContinuousClock.now - cut < .seconds(30), "the grace period was cut short")
        #expect(third.shutdownPhase == .finished)
        await #expect(throws: RuntimeError.shutdown) { try await long.value }
    }
}

/// Waits (politely) until `condition` holds or ten seconds pass (as the Spool suite's own helper).
private func eventually(_ condition: () async -> Bool) async -> Bool {
    for _ in 0..<2000 {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return false
}
