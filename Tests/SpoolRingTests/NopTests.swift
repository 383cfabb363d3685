import CSpoolURing
import SpoolRing
import Testing

@Suite("NOP round trips")
struct NopTests {
    @Test("a NOP carries its user data back intact")
    func userDataRoundTrip() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let values: [UInt64] = [0, 1, 0xdead_beef, UInt64.max, 1 << 63, 0x0123_4567_89ab_cdef]
        for v in values {
            let sqe = try #require(ring.nextSubmission())
            sqe.prepareNop()
            sqe.userData = v
            #expect(sqe.opcode == .nop)
        }
        let got = try collect(ring, count: values.count)
        #expect(got.map(\.userData) == values)
        #expect(got.allSatisfy { $0.result == 0 && $0.error == nil && !$0.hasMore })
    }

    @Test("1,000,000 NOPs through a 32-entry ring lose none")
    func millionNops() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 32))
        #expect(ring.submissionQueueCapacity == 32)
        let total = 1_000_000
        var seen = [Bool](repeating: false, count: total)
        var submitted = 0
        var completed = 0
        var duplicates = 0
        var failures = 0
        while completed < total {
            while submitted < total, let sqe = ring.nextSubmission() {
                sqe.prepareNop()
                sqe.userData = UInt64(submitted)
                submitted += 1
            }
            try ring.submit(waitingFor: 1)
            ring.reapCompletions { c in
                let i = Int(c.userData)
                if seen[i] { duplicates += 1 }
                seen[i] = true
                if c.result != 0 { failures += 1 }
                completed += 1
            }
        }
        #expect(completed == total)
        #expect(duplicates == 0)
        #expect(failures == 0)
        #expect(seen.allSatisfy { $0 })
        #expect(ring.readyCompletions == 0)
    }
}
