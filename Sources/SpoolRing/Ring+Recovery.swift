import CSpoolURing

extension Ring {
    /// The `user_data` of every entry handed out by ``nextSubmission()`` that the kernel has
    /// not consumed yet, oldest first. After a fatal submit error these requests never reached
    /// the kernel (without SQ polling nothing consumes them once the ring is no longer
    /// entered), so their memory and their effects are the caller's alone.
    public var unconsumedSubmissions: [UInt64] {
        let head = spool_load_acquire_u32(sqHead)
        var out: [UInt64] = []
        var i = head
        while i != localSQTail {
            out.append(sqes[Int(i & sqMask)].user_data)
            i &+= 1
        }
        return out
    }
}
