internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// The runtime's own requests to the kernel: the wake-up read, `ASYNC_CANCEL` for one
/// operation, shutdown's cancel-everything.
///
/// Internal requests never give up silently (DESIGN.md): when the SQ is full they stay queued
/// and go out, before any user operation is admitted, at the next pass — through the same
/// ``nextSubmission(for:)`` → ``enter(_:wait:timeout:)`` path as everything else. Their
/// completions carry the internal generation in their `user_data` and are handled here, never
/// handed to the executor.
extension IOURingReactor {
    /// Puts the deferred sibling wakes and the wake read into the SQ; false if the wake read (or
    /// its cancel) found no room.
    func flushInternalRequests(running: Bool) -> Bool {
        if !outgoingWakes.isEmpty { flushOutgoingWakes() }
        if wakeRearmWanted {
            if !running {
                wakeRearmWanted = false
            } else {
                guard let sqe = nextSubmission(for: .wakeRearm) else { return false }
                let wake = executor.wakeSignal
                sqe.prepareRead(wake.descriptor, into: UnsafeMutableRawBufferPointer(start: wake.buffer, count: 8),
                                offset: SubmissionQueueEntry.currentPosition)
                sqe.userData = Self.wakeUserData
                wakeRearmWanted = false
                wakeReadInRing = true
            }
        }
        if wakeCancelWanted {
            if !wakeReadInRing {
                wakeCancelWanted = false  // it completed meanwhile
            } else {
                guard let sqe = nextSubmission(for: .cancel) else { return false }
                sqe.prepareAsyncCancel(userData: Self.wakeUserData)
                sqe.userData = Self.cancelUserData
                wakeCancelWanted = false
                internalInFlight += 1
            }
        }
        return true
    }

    /// An `ASYNC_CANCEL` for the operation `userData` names.
    func submitCancel(_ userData: UInt64) -> Bool {
        guard let sqe = nextSubmission(for: .cancel) else { return false }
        sqe.prepareAsyncCancel(userData: userData)
        sqe.userData = Self.cancelUserData
        internalInFlight += 1
        return true
    }

    /// One `ASYNC_CANCEL` for everything in the ring, the wake read included.
    func submitCancelAll() -> Bool {
        guard let sqe = nextSubmission(for: .cancelAll) else { return false }
        sqe.prepareAsyncCancelEverything()
        sqe.userData = Self.cancelAllUserData
        internalInFlight += 1
        return true
    }

    var hasInternalRequestsWaiting: Bool { wakeRearmWanted || wakeCancelWanted }

    var wakeIsArmed: Bool { wakeReadInRing }

    var isDrained: Bool {
        internalInFlight == 0 && !wakeReadInRing && outgoingWakes.isEmpty && wakesInSubmissionQueue.isEmpty
    }

    func abandonInternalRequests() {
        wakeRearmWanted = false
        wakeCancelWanted = false
    }

    /// A completion of one of the runtime's own requests.
    func internalCompletion(_ completion: Completion) {
        switch completion.userData {
        case Self.wakeUserData:
            wakeReadInRing = false
            if executor.lifecycle == .running { wakeRearmWanted = true }
        case Self.cancelUserData:
            internalInFlight -= 1
        case Self.cancelAllUserData:
            internalInFlight -= 1
            if completion.result < 0 && completion.result != -ENOENT {
                // The kernel cannot cancel everything at once (ASYNC_CANCEL_ANY is newer than
                // it): cancel each operation, and the wake read, by its user_data instead.
                let table = executor.table
                for slot in table.slots(in: .submitted) { executor.pendingCancels.append(table.userData(slot)) }
                if wakeReadInRing { wakeCancelWanted = true }
            }
        case Self.messageWakeUserData:
            executor.wakeSignal.messages.add(1, ordering: .relaxed)  // a sibling's wake: the loop is awake
        default:
            if completion.userData & ~0xFFFF == Self.messageSendUserData { messageWakeFailed(completion) }
        }
    }
}
