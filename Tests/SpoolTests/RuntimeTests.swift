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

    // MARK: A plain Task {} finds the runtime

    @Test("inside Runtime.withRuntime, a plain Task {} does I/O without passing the runtime; a detached task with it", .timeLimit(.minutes(1)))
    func plainTaskDoesIO() async throws {
        try await withTestRuntime { runtime in
            let plain = Task { () -> Int in
                #expect(RingExecutor.current == nil)
                let file = try await File.open("/etc/passwd")
                let n = try await file.read(upToCount: 32, at: 0).count
                try await file.close()
                return n
            }
            let read = try await plain.value
            #expect(read == 32)
            // A detached task inherits no task-local: it finds the newest running runtime
            // (with other tests' runtimes alive in this process, that may not be this one,
            // so this test passes its own; the lookup order is tested in FileTests).
            let detached = Task.detached { () -> Int in
                let status = try await File.status(of: "/etc/passwd", runtime: runtime)
                return Int(status.size)
            }
            let size = try await detached.value
            #expect(size > 0)
        }
    }

    @Test("Runtime.run: a plain Task {} started in its body does I/O", .timeLimit(.minutes(1)))
    func plainTaskInRun() throws {
        let n = try Runtime.run { _ in
            try await Task { () -> Int in
                let file = try await File.open("/etc/passwd")
                let bytes = try await file.read(upToCount: 16, at: 0)
                try await file.close()
                return bytes.count
            }.value
        }
        #expect(n == 16)
    }
}
