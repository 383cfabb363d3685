import Glibc
@testable import Spool
import Synchronization
import SystemPackage
import Testing

/// Admission (README, *The runtime*: operations): at most `inFlightLimit` operations in the
/// kernel per ring; the callers beyond it wait in order, and the memory a burst of them took is
/// given back.
@Suite("Admission under pressure")
struct AdmissionTests {
    @Test("10,000 concurrent reads through a 4-entry ring with an in-flight cap of 8: all correct, bounded")
    func tenThousandReads() async throws {
        let dir = TemporaryDirectory()
        let records = 10_000
        let data = (0..<(records * 16)).map(pattern)
        try writeFile(dir.file("records"), data)
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 4, inFlightLimit: 8))
        let file = try await File.open(dir.file("records"), runtime: runtime)
        let fd = file.descriptor
        for round in 0..<2 {
            let wrong = try await withTaskExecutorPreference(runtime.executor) {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<records {
                        group.addTask {
                            let f = File(adopting: FileDescriptor(rawValue: fcntl(fd.rawValue, F_DUPFD_CLOEXEC, 0)), runtime: runtime)
                            var buffer = IOBuffer(capacity: 16)
                            try await f.read(into: &buffer, at: UInt64(i * 16))
                            let ok = buffer.bytes == Array(data[(i * 16)..<((i + 1) * 16)])
                            try await f.close()
                            return ok ? 0 : 1
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            #expect(wrong == 0, "round \(round)")
        }
        let snap = try #require(await runtime.combinedSnapshot())
        #expect(snap.peakInFlight <= 8, "the in-flight cap held")
        #expect(snap.slotsInUse == 0)
        #expect(snap.slotCapacity <= 32768, "slots are bounded by the callers waiting at once")
        try await file.close()
        await runtime.shutdownAndWait()
    }

    // MARK: Order and memory

    @Test("a cancelled waiter's recycled slot is not admitted out of turn", .timeLimit(.minutes(1)))
    func cancelledWaiterDoesNotJumpQueue() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1, submissionEntries: 4, inFlightLimit: 1))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let order = OrderLog()
        let blocker = runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        let first = runtime.spawn { try await runtime.nop(); order.append("first") }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 1 })
        let second = runtime.spawn { try await runtime.nop(); order.append("second") }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 2 })
        first.cancel()  // its slot is freed and handed to the next caller
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 1 })
        let third = runtime.spawn { try await runtime.nop(); order.append("third") }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 2 })
        _ = try pipe.writeEnd.writeAll([UInt8(1)])
        #expect(try await blocker.value == .read(1, [1]))
        try await second.value
        try await third.value
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(order.entries == ["second", "third"])
        await runtime.shutdownAndWait()
    }

    @Test("after a burst of 100,000 waiters the slot slab and the job queue return to their baseline", .timeLimit(.minutes(1)))
    func memoryReturnsAfterBurst() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 64))
        let baseline = try #require(await runtime.combinedSnapshot())
        try await runtime.spawn {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<100_000 { group.addTask { try await runtime.nop() } }
                try await group.waitForAll()
            }
            // A batch of 100,000 parts: 100,000 slots at once, all but 128 waiting.
            let results = UnsafeMutablePointer<Int32>.allocate(capacity: 100_000)
            defer { results.deallocate() }
            let parts = [OperationRequest](repeating: .nop, count: 100_000)
            let outcome = await runtime.performBatch(parts, results: results)
            #expect(outcome == .completed(0))
        }.value
        let after = try #require(await runtime.combinedSnapshot())
        #expect(after.slotsInUse == 0)
        #expect(after.peakSlotCapacity >= 100_000, "the burst did grow the slab")
        #expect(after.slotCapacity <= baseline.slotCapacity * 2, "slab back near its baseline (\(after.slotCapacity) slots, was \(baseline.slotCapacity))")
        #expect(after.slabBytes < 64 * 1024)
        #expect(after.jobQueueCapacity <= 1024, "job queue back near its baseline (\(after.jobQueueCapacity))")
        await runtime.shutdownAndWait()
    }
}

/// An append-only list of names shared between tasks.
final class OrderLog: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ name: String) { list.withLock { $0.append(name) } }
    var entries: [String] { list.withLock { $0 } }
}
