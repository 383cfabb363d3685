import Glibc
@testable import Spool
import SpoolRing
import SystemPackage
import Testing

/// The ring's loop (README, *The runtime*: the loop and fairness; internal requests never give
/// up): a run budget per pass, so a task that always yields cannot keep the ring from its
/// completions and timers; and a submit path that, when the kernel refuses a full submission
/// queue, keeps the wake read armed and delivers the completions it moved aside. Each test
/// runs its risky part under `withinDeadline`, so a regression fails instead of hanging.
@Suite("The ring loop: a fair budget; wakes and completions kept when the SQ is full", .timeLimit(.minutes(1)))
struct RingLoopTests {
    // MARK: The run budget

    @Test("a Task.yield() loop on a ring does not starve it: a read, a Task.sleep and shutdown all finish")
    func yieldLoopDoesNotStarve() async throws {
        let runtime = try Runtime()
        let stop = Flag()
        let spins = Counter()
        let spinner = runtime.spawn {
            while !stop.isSet {
                await Task.yield()
                spins.increment()
            }
        }
        #expect(await eventually { spins.value > 100 })
        let bytes = try await withinDeadline(.seconds(30), "a read beside a yield loop") {
            try await runtime.spawn { () -> Int in
                let file = try await File.open("/etc/passwd")
                let data = try await file.read(upToCount: 64, at: 0)
                try await file.close()
                return data.count
            }.value
        }
        #expect((bytes ?? 0) > 0)
        let slept = try await withinDeadline(.seconds(30), "a Task.sleep on the spinning ring") {
            try await runtime.spawn { () -> Bool in
                try await Task.sleep(for: .milliseconds(5))
                return true
            }.value
        }
        #expect(slept == true)
        let snapshot = try await withinDeadline(.seconds(30), "a snapshot of the spinning ring") { await runtime.combinedSnapshot() }
        #expect((snapshot??.statistics.budgetExhausted ?? 0) > 0, "the budget, not an empty queue, ended the passes")
        stop.set()
        try await spinner.value
        let done = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait(); return true }
        #expect(done == true)
    }

    // MARK: A full submission queue

    @Test("the wake read is re-armed even when the SQ is full at that moment: posts from other threads still wake the ring", .requiresIOUring)
    func wakeRearmWithFullSubmissionQueue() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 2))
        try await runtime.nop()  // the ring is up and parked with its wake read in the kernel
        try await Task.sleep(for: .milliseconds(20))
        // The job below is posted from this (non-ring) thread, so the ring wakes through its
        // eventfd: the wake read completes and must be re-armed in the very pass in which the
        // job fills the 2-entry SQ and the kernel refuses to take entries (17 × EBUSY stalls
        // the flush).
        faults.fail(.submissionQueueFull, with: EBUSY, count: Ring.maximumStalledAttempts + 1)
        let filled = try await withinDeadline(.seconds(30), "a batch filling the SQ") {
            try await runtime.spawn { () -> OperationOutcome in
                let results = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
                defer { results.deallocate() }
                return await runtime.performBatch([.nop, .nop], results: results)
            }.value
        }
        #expect(filled == .completed(0))
        #expect(faults.injected["sq-full flush"] == Ring.maximumStalledAttempts + 1, "the flush stalled with the SQ full")
        // Now the ring parks. Work from this thread must still wake it.
        for _ in 0..<5 {
            try await Task.sleep(for: .milliseconds(10))
            let woke = try await withinDeadline(.seconds(30), "an off-ring operation after the stalled re-arm") {
                try await runtime.nop()
                return true
            }
            #expect(woke == true)
        }
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }

    @Test("completions moved aside while the submit path recovers from EBUSY are delivered before the ring waits",
          .requiresIOUring, arguments: [(SubmitSite.submissionQueueFull, 3), (SubmitSite.park, 1)])
    func spilledCompletionsAreNotStranded(site: SubmitSite, reads: Int) async throws {
        // Two NOPs complete inside the first SQ-full flush (their CQEs wait in the CQ); then an
        // EBUSY at `site` makes the submit path move those CQEs aside before it retries. The
        // reads never complete, so if the ring then blocks for a completion, the NOPs' callers
        // are stranded.
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 2))
        try await runtime.nop()
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        faults.fail(site, with: EBUSY, count: 1, skipping: site == .submissionQueueFull ? 1 : 0)
        let nops = Counter()
        let work = runtime.spawn { () -> [ReadOutcome] in
            await withTaskGroup(of: ReadOutcome?.self) { group in
                for _ in 0..<2 { group.addTask { try? await runtime.nop(); nops.increment(); return nil } }
                for _ in 0..<reads { group.addTask { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) } }
                return await group.reduce(into: []) { if let r = $1 { $0.append(r) } }
            }
        }
        let delivered = await eventually { nops.value == 2 }
        #expect(delivered, "the NOPs' callers resumed while the reads still wait")
        #expect(faults.injectedCount == 1)
        _ = try pipe.writeEnd.writeAll([UInt8](repeating: 1, count: 16 * reads))  // 16 bytes per reader
        let results = try await withinDeadline(.seconds(30), "the reads") { try await work.value }
        #expect(results?.count == reads)
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }
}
