@testable import Spool
import Testing

/// An actor isolated to a ring's serial-executor face.
actor RingCounter {
    let executor: RingSerialExecutor
    let runtime: Runtime
    var value = 0
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    init(executor: RingSerialExecutor, runtime: Runtime) { self.executor = executor; self.runtime = runtime }

    func bump() async throws {
        #expect(RingExecutor.current != nil)
        try await runtime.nop()
        #expect(RingExecutor.current != nil, "resumed on the ring thread")
        value += 1
    }
}

@Suite("Actors on a ring")
struct ActorOnRingTests {
    /// Regression: the cancellation handler's operation closure did not capture the caller's
    /// isolation, so for an actor on the ring (a task with no executor preference) it ran on
    /// the global executor and touched ring state from another thread, then stalled.
    @Test("an actor isolated to a ring's serial face does I/O on the ring, 200 times", .timeLimit(.minutes(1)))
    func actorOnRing() async throws {
        let runtime = try Runtime()
        let counter = RingCounter(executor: runtime.rings[0].serialExecutor, runtime: runtime)
        for _ in 0..<200 { try await counter.bump() }
        #expect(await counter.value == 200)
        await runtime.shutdownAndWait()
    }
}
