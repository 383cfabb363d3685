import CSpoolURing
import Glibc
@testable import SpoolRing
import Testing

@Suite("Backpressure and overflow")
struct PressureTests {
    @Test("SQ full: 10,000 ops through a 2-entry ring all complete, without spinning")
    func submissionQueueFull() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 2))
        #expect(ring.submissionQueueCapacity == 2)
        let total = 10_000
        var seen = Set<UInt64>()
        var nilAnswers = 0
        var next = 0
        while seen.count < total {
            if next < total {
                if let sqe = ring.nextSubmission() {
                    sqe.prepareNop()
                    sqe.userData = UInt64(next)
                    next += 1
                    continue
                }
                // Full: exactly two entries were handed out since the last submit.
                #expect(ring.freeSubmissionSlots == 0)
                nilAnswers += 1
            }
            try ring.submit(waitingFor: 1)
            ring.reapCompletions { c in
                #expect(c.result == 0)
                #expect(seen.insert(c.userData).inserted, "completion \(c.userData) delivered twice")
            }
        }
        #expect(seen.count == total)
        // The queue fills every second entry; the last fill is followed by no further attempt.
        #expect(nilAnswers == total / 2 - 1)
        // One enter per full queue: no retry loop, no spin.
        #expect(ring.statistics.enterCalls <= total / 2 + 1)
    }

    @Test("CQ overflow: unreaped completions beyond the CQ are each recovered exactly once")
    func completionQueueOverflow() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4, completionEntries: 8))
        #expect(ring.completionQueueCapacity == 8)
        #expect(ring.features.contains(.noDrop))
        let batches = 25
        for b in 0..<batches {
            for i in 0..<4 {
                let sqe = try #require(ring.nextSubmission())
                sqe.prepareNop()
                sqe.userData = UInt64(b * 4 + i)
            }
            try ring.submit()  // never reaped in between
        }
        let total = batches * 4
        // The CQ holds 8; the rest sit in the kernel's backlog or the ring's holding buffer.
        #expect(ring.hasOverflowBacklog || ring.statistics.spilledCompletions > 0)
        var counts = [Int](repeating: 0, count: total)
        var reaped = 0
        while reaped < total {
            let n = ring.reapCompletions { counts[Int($0.userData)] += 1 }
            if n == 0 { try ring.submit(waitingFor: 1, timeout: .seconds(1)) }
            reaped += n
            if n == 0 && ring.readyCompletions == 0 && !ring.hasOverflowBacklog { break }
        }
        #expect(reaped == total)
        #expect(counts.allSatisfy { $0 == 1 }, "every completion exactly once")
        #expect(ring.droppedCompletions == 0)
        #expect(ring.statistics.overflowFlushes + ring.statistics.spilledCompletions > 0)
    }
}

@Suite("The submit path's retry policy, with injected io_uring_enter failures")
struct RetryPolicyTests {
    func ringWithFaults() throws -> (Ring, EnterFaultInjector) {
        let faults = EnterFaultInjector()
        let ring = try Ring(options: RingOptions(submissionEntries: 16), systemCalls: .kernel(injecting: faults))
        return (ring, faults)
    }

    func prepareNops(_ ring: Ring, _ range: Range<Int>) throws {
        for i in range {
            let sqe = try #require(ring.nextSubmission())
            sqe.prepareNop()
            sqe.userData = UInt64(i)
        }
    }

    @Test("EINTR is retried and nothing is lost")
    func interrupted() throws {
        let (ring, faults) = try ringWithFaults()
        try prepareNops(ring, 0..<10)
        faults.failNext([EINTR, EINTR, EINTR])
        try ring.submit()
        #expect(faults.injectedCount == 3)
        #expect(ring.statistics.interruptedRetries == 3)
        let got = try collect(ring, count: 10)
        #expect(Set(got.map(\.userData)) == Set((0..<10).map(UInt64.init)))
        #expect(ring.state == .healthy)
    }

    @Test("EAGAIN and EBUSY reap, retry, and lose nothing", arguments: [EAGAIN, EBUSY])
    func busy(errno: Int32) throws {
        let (ring, faults) = try ringWithFaults()
        // Completions already waiting when the failure hits must survive it.
        try prepareNops(ring, 0..<8)
        try ring.submit()
        try prepareNops(ring, 8..<16)
        faults.failNext([errno, errno, errno])
        try ring.submit()
        #expect(faults.injectedCount == 3)
        #expect(ring.statistics.busyRetries == 3)
        #expect(ring.statistics.spilledCompletions == 8, "the first batch was moved aside to make room")
        var counts = [Int](repeating: 0, count: 16)
        for c in try collect(ring, count: 16) { counts[Int(c.userData)] += 1 }
        #expect(counts.allSatisfy { $0 == 1 })
        #expect(ring.state == .healthy)
    }

    @Test("EAGAIN that never clears ends in submissionStalled; the ring stays healthy")
    func stalled() throws {
        let (ring, faults) = try ringWithFaults()
        try prepareNops(ring, 0..<4)
        faults.failAlways(EAGAIN)
        #expect(throws: RingError.submissionStalled(.resourceTemporarilyUnavailable)) { try ring.submit() }
        #expect(ring.state == .healthy)
        #expect(faults.injectedCount <= 2 * (Ring.maximumStalledAttempts + 1))
        faults.clear()
        let got = try collect(ring, count: 4)
        #expect(got.count == 4)
    }

    @Test("a fatal errno breaks the ring; later submits fail fast with it")
    func fatal() throws {
        let (ring, faults) = try ringWithFaults()
        try prepareNops(ring, 0..<4)
        faults.failNext([EFAULT])
        #expect(throws: RingError.broken(.badAddress)) { try ring.submit() }
        #expect(ring.state == .broken(.badAddress))
        let calls = ring.statistics.enterCalls
        #expect(throws: RingError.broken(.badAddress)) { try ring.submit(waitingFor: 1) }
        #expect(ring.statistics.enterCalls == calls, "a broken ring makes no more system calls")
    }

    @Test("a submit from a thread that is not the single issuer breaks the ring with EEXIST (real kernel)")
    func foreignThread() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4, flags: [.singleIssuer], registerRingDescriptor: false))
        try #require(ring.activeFlags.contains(.singleIssuer))
        try prepareNops(ring, 0..<1)
        nonisolated(unsafe) let shared = ring
        nonisolated(unsafe) var outcome: Result<Int, RingError>? = nil
        var thread = pthread_t()
        let box = Unmanaged.passRetained(ThreadBody { outcome = Result { () throws(RingError) in try shared.submit() } })
        pthread_create(&thread, nil, { arg in
            let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
            body.run()
            return nil
        }, box.toOpaque())
        pthread_join(thread, nil)
        #expect(throws: RingError.broken(.fileExists)) { try outcome!.get() }
        #expect(ring.state == .broken(.fileExists))
    }
}

final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
