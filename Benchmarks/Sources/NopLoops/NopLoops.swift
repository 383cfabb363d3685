import CNopPeer
import SpoolRing

/// The NOP loop on Spool's ring, the same shape as the C peer's: fill a batch, one submit
/// that waits for the whole batch, reap it. Returns the sum of the user data.
public func swiftNopLoop(_ ring: Ring, total: Int, batch: Int) throws -> UInt64 {
    var done = 0
    var sum: UInt64 = 0
    let batch = min(batch, ring.submissionQueueCapacity)
    while done < total {
        let n = min(batch, total - done)
        for i in 0..<n {
            guard let sqe = ring.nextSubmission() else { break }
            sqe.prepareNop()
            sqe.userData = UInt64(done + i)
        }
        try ring.submit(waitingFor: UInt32(n))
        ring.reapCompletions { sum &+= $0.userData }
        done += n
    }
    return sum
}

/// The C peer's ring, owned by the creating thread.
public final class CNopRing {
    let ring: OpaquePointer
    public init?(entries: UInt32) {
        guard let r = c_nop_ring_create(entries) else { return nil }
        ring = r
    }
    deinit { c_nop_ring_destroy(ring) }
    public func run(total: Int, batch: Int) -> UInt64 {
        c_nop_loop(ring, UInt64(total), UInt32(batch))
    }
}

/// The expected checksum of a loop of `total` NOPs.
public func expectedNopSum(_ total: Int) -> UInt64 { UInt64(total) * UInt64(total - 1) / 2 }
