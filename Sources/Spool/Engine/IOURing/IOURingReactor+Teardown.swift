internal import SpoolRing

/// Closing the ring: at the end of the thread, and when it broke (the executor's state
/// machine, `RingExecutor+Lifecycle.swift`, decides when; this file does the ring's part).
extension IOURingReactor {
    /// The ring broke: wakes it owed its siblings go through their eventfds, completions the
    /// kernel already posted are delivered (they are real results), and the `user_data` of the
    /// entries still in the SQ are returned: those never reached the kernel.
    func prepareTeardown() -> Set<UInt64>? {
        guard self.ring != nil else { return nil }
        abandonOutgoingWakes()
        reapCompletions(into: executor)
        return Set(self.ring!.unconsumedSubmissions)
    }

    /// Frees the broken ring, which makes the kernel cancel everything, and waits (bounded by
    /// ``RingExecutor/brokenRingReleaseLimit``) for the kernel to confirm it let go of it.
    func releaseAfterBreak() -> Bool {
        // No local reference to the ring: it must be freed (closed) where it is set to nil.
        guard self.ring != nil else { return true }
        var released = false
        do {
            let witness = try TeardownWitness(attachingTo: self.ring!)
            // The witness's registration was a system call, which may have run pending kernel
            // work that posted completions (an open or accept that installed a descriptor): deliver
            // them, they are real results.
            reapCompletions(into: executor)
            releaseRing()  // unregisters, unmaps and closes: the kernel cancels everything
            released = witness.waitForRelease(timeout: RingExecutor.brokenRingReleaseLimit)
        } catch {
            releaseRing()
        }
        internalInFlight = 0
        wakeReadInRing = !released && wakeReadInRing
        return released
    }

    var mayHoldWakeBuffer: Bool { wakeReadInRing }

    /// The thread's end: wakes still owed go through eventfds (none normally: the loop ends only
    /// with them submitted) and the ring is freed; returns its number if a placeholder keeps it.
    func close() -> Int32? {
        abandonOutgoingWakes()
        releaseRing()
        defer { reservedDescriptor = nil }
        return reservedDescriptor
    }

    /// Frees the ring (no other reference to it may be held: the ring closes in its `deinit`,
    /// where a placeholder takes its number): the kernel releases it; its descriptor
    /// number is handed to the group's placeholder where that worked, and the executor's
    /// `ringDescriptor` stops naming it for new wakes.
    func releaseRing() {
        guard let fd = ring?.descriptor.rawValue else { return }
        executor.ringDescriptor.store(-1, ordering: .releasing)
        ring = nil
        if descriptorReservation?.isReserved == true { reservedDescriptor = fd }
        if sentMessageWakes {
            // A MSG_RING this ring sent may still sit with the kernel's workers (a target whose
            // lock was busy), and closing the ring cancels it: wake the running siblings once
            // through their eventfds instead (a spare wake costs one loop pass).
            let executor = self.executor!
            for sibling in executor.group.members.withLock({ $0 }) where sibling !== executor && sibling.lifecycle == .running {
                sibling.wakeSignal.forceWake()
            }
        }
    }
}
