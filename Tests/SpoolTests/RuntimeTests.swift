import Glibc
@testable import Spool
import Testing

@Suite("Runtime: ring executor and lifecycle")
struct RuntimeTests {
    @Test("run executes its body on a ring thread and returns its value")
    func runOnRing() throws {
        let value = try Runtime.run { runtime in
            #expect(RingExecutor.current != nil)
            #expect(Runtime.current === runtime)
            try await runtime.nop()
            return 42
        }
        #expect(value == 42)
    }

    @Test("10,000 NOPs from one task on the ring")
    func manyNops() throws {
        try Runtime.run { runtime in
            for _ in 0..<10_000 { try await runtime.nop() }
        }
    }

    @Test("wakes are coalesced: 1,000 jobs posted from another thread at a parked ring cost far fewer eventfd writes")
    func wakeCoalescing() async throws {
        let runtime = try Runtime()
        try await runtime.nop()
        let ring = runtime.rings[0]
        let before = ring.wakeSignal.writes.load(ordering: .relaxed)
        let counter = Counter()
        onForeignThread {
            for _ in 0..<1000 {
                Task(executorPreference: runtime.executor) { counter.increment() }
            }
        }
        #expect(await eventually { counter.value == 1000 })
        let writes = ring.wakeSignal.writes.load(ordering: .relaxed) - before
        #expect(writes >= 1, "the parked ring was woken")
        #expect(writes < 500, "\(writes) eventfd writes for 1,000 posted jobs")
        await runtime.shutdownAndWait()
    }

    @Test("several rings: spawned tasks run on their own ring thread and do I/O there")
    func severalRings() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 3, submissionEntries: 16))
        let tasks = (0..<6).map { _ in
            runtime.spawn { () -> Int in
                guard let ring = RingExecutor.current else { return -1 }
                for _ in 0..<100 { try await runtime.nop() }
                #expect(RingExecutor.current === ring, "resumed on the same ring thread")
                return ring.index
            }
        }
        var used = Set<Int>()
        for t in tasks { used.insert(try await t.value) }
        #expect(used == [0, 1, 2], "round robin over the rings")
        #expect(await runtime.snapshots().count == 3)
        await runtime.shutdownAndWait()
    }
}

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

/// `Runtime.spawn(taking:)`: a `~Copyable` handle moves into a task that may consume it.
@Suite("Handing a handle to a task")
struct SpawnTakingTests {
    @Test("the task owns the file: it reads and closes it; one it does not close is closed when dropped")
    func spawnTakingAFile() async throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("data"), Array("spool".utf8))
        try await withTestRuntime { runtime in
            let file = try await File.open(dir.file("data"), runtime: runtime)
            let read = runtime.spawn(taking: file) { file -> [UInt8] in
                let bytes = try await file.read(upToCount: 5, at: 0)
                try await file.close()
                return bytes
            }
            #expect(try await read.value == Array("spool".utf8))
            let dropped = try await File.open(dir.file("data"), runtime: runtime)
            let fd = dropped.descriptor.rawValue
            let done = runtime.spawn(taking: dropped) { file -> Int32 in file.descriptor.rawValue }
            #expect(try await done.value == fd)
            #expect(descriptorTarget(fd) != dir.file("data").string, "the dropped file's descriptor was closed")
            #expect(openDescriptors().values.filter { $0.hasPrefix(dir.path) }.isEmpty)
        }
    }
}
