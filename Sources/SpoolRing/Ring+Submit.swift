import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The submit path's retry policy (DESIGN.md contract 4), behind ``Ring/submit(waitingFor:timeout:)``:
/// everything its inlined fast path does not cover, and every failure, comes here.
extension Ring {
    /// ``submit(waitingFor:timeout:)`` with its whole retry policy. `firstResult`: the result
    /// of an enter the fast path already made (negative), handled as this path's first.
    @usableFromInline
    func submitWithRetries(waitingFor minimumCompletions: UInt32, timeout: Duration?, firstResult: Int32? = nil) throws(RingError) -> Int {
        if case .broken(let errno) = state { throw .broken(errno) }
        var pendingResult = firstResult
        // Publish every prepared entry with one release store.
        spool_store_release_u32(sqTail, localSQTail)
        var consumedTotal = 0
        var stalls = 0
        var waitingOutStall = false
        var minimumCompletionsLeft = minimumCompletions

        while true {
            let toSubmit = waitingOutStall ? 0 : UInt32(truncatingIfNeeded: pendingSubmissions)
            let minComplete: UInt32 = waitingOutStall ? 1 : minimumCompletionsLeft
            let waitLimit = waitingOutStall ? Self.stallWait : timeout
            var flags = enterFlagsBase
            if minComplete > 0 || alwaysGetEvents
                || spool_load_relaxed_u32(sqFlags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN) != 0
            {
                flags |= IORING_ENTER_GETEVENTS
            }
            if usesSQPoll {
                // The poll thread submits on its own; enter only to wake it or to wait.
                spool_fence_seq_cst()
                if spool_load_relaxed_u32(sqFlags) & IORING_SQ_NEED_WAKEUP != 0 { flags |= IORING_ENTER_SQ_WAKEUP }
                if flags & (IORING_ENTER_GETEVENTS | IORING_ENTER_SQ_WAKEUP) == 0 { return Int(toSubmit) }
            } else if toSubmit == 0 && flags & IORING_ENTER_GETEVENTS == 0 {
                return consumedTotal
            }

            let result: Int32
            if let first = pendingResult {
                result = first
                pendingResult = nil
            } else {
                result = enterOnce(toSubmit: toSubmit, minComplete: minComplete, flags: flags, timeout: waitLimit)
            }
            let errno = result < 0 ? Errno(rawValue: -result) : nil
            if result >= 0 || errno == Errno(rawValue: ETIME) {
                if waitingOutStall {
                    // The wait for room is over: go back to what the caller asked for.
                    waitingOutStall = false
                    continue
                }
                consumedTotal += Int(max(result, 0))
                return usesSQPoll ? Int(toSubmit) : consumedTotal
            }
            switch errno! {
            case .interrupted:
                counters.interruptedRetries += 1
                // A timed wait that a signal cut short ends here (the caller re-parks with a
                // fresh timeout); retrying it whole could keep stretching it. Entries not yet
                // consumed stay in the SQ for the next enter.
                if timeout != nil && minComplete > 0 && !waitingOutStall { return consumedTotal }
            case .resourceTemporarilyUnavailable, .resourceBusy:
                counters.busyRetries += 1
                waitingOutStall = false
                if moveCompletionsToSpill() > 0 {
                    stalls = 0
                    // Completions are now waiting in the holding buffer: the caller's wait for
                    // some is satisfied, so the retry only submits.
                    minimumCompletionsLeft = 0
                    continue
                }
                stalls += 1
                if stalls > Self.maximumStalledAttempts { throw .submissionStalled(errno!) }
                // Nothing to reap yet: block briefly in the kernel for a completion (where
                // the kernel takes a timeout), then retry. Never a busy spin.
                waitingOutStall = features.contains(.extendedArgument)
            default:
                state = .broken(errno!)
                fastEnter = false
                throw .broken(errno!)
            }
        }
    }

    /// The full path's call site of `io_uring_enter` (the other is the inlined fast path of
    /// ``submit(waitingFor:timeout:)``; both feed the one retry policy above).
    func enterOnce(toSubmit: UInt32, minComplete: UInt32, flags: UInt32, timeout: Duration?) -> Int32 {
        counters.enterCalls += 1
        guard let timeout, features.contains(.extendedArgument) else {
            if directEnter { return spool_io_uring_enter(enterDescriptor, toSubmit, minComplete, flags, nil, 0) }
            return systemCalls.enter(enterDescriptor, toSubmit, minComplete, flags, nil, 0)
        }
        let (seconds, attoseconds) = timeout.components
        var ts = spool_kernel_timespec(
            tv_sec: max(0, seconds),
            tv_nsec: seconds < 0 ? 0 : attoseconds / 1_000_000_000)
        return withUnsafeMutablePointer(to: &ts) { tsPointer in
            var arg = spool_uring_getevents_arg()
            arg.ts = UInt64(UInt(bitPattern: tsPointer))
            return withUnsafePointer(to: &arg) { argPointer in
                systemCalls.enter(
                    enterDescriptor, toSubmit, minComplete, flags | IORING_ENTER_EXT_ARG,
                    UnsafeRawPointer(argPointer), MemoryLayout<spool_uring_getevents_arg>.size)
            }
        }
    }

    /// Moves ready CQEs into the spill buffer (as much as it can hold); returns how many.
    func moveCompletionsToSpill() -> Int {
        var moved = 0
        let tail = spool_load_acquire_u32(cqTail)
        while localCQHead != tail && !spill.isFull {
            let cqe = cqes[Int(localCQHead & cqMask)]
            spill.append(Completion(userData: cqe.user_data, result: cqe.res, flags: cqe.flags))
            localCQHead &+= 1
            moved += 1
        }
        if moved > 0 { spool_store_release_u32(cqHead, localCQHead) }
        counters.spilledCompletions += moved
        return moved
    }
}
