internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The runtime's own requests to the kernel, waiting for SQ space.
///
/// Internal requests never give up silently (DESIGN.md): when the SQ is full they stay here
/// and go out, before any user operation is admitted, at the next pass — through the same
/// `nextSubmission` → `enter` path as everything else.
///
/// **Thread-safety:** none; the ring thread's.
struct InternalRequests {
    /// The wake-up read's SQE is in the ring (prepared or in the kernel).
    var wakeReadInRing = false
    /// The wake-up read must be (re-)armed.
    var wakeRearmWanted = false
    /// Shutdown's cancel-everything request must be submitted.
    var cancelAllWanted = false
    /// `user_data` of operations to cancel, oldest first.
    var cancels = JobQueue<UInt64>(capacity: 16)
    /// Cancel and cancel-all requests in the kernel (the wake read is not counted).
    var inFlight = 0

    /// Whether some request still waits to go into the SQ (it goes before user operations).
    var waitForRoom: Bool { !cancels.isEmpty || wakeRearmWanted || cancelAllWanted }
}

/// Cancellation: a task cancelled while its operation waits or runs.
///
/// `onCancel` runs on the cancelling thread, so it posts the operation's `user_data` to the
/// ring's inbox (or calls ``RingExecutor/processCancel(_:)`` directly on the ring thread).
/// An operation still waiting for admission leaves the queue and resumes with
/// `CancellationError`; one in the kernel gets an `ASYNC_CANCEL`, and its caller still waits
/// for the final completion (contract 1).
extension RingExecutor {
    /// Cancels the operation named by `userData` (ring thread).
    func processCancel(_ userData: UInt64) {
        guard let slot = table.slot(for: userData) else { return }  // finished already: no effect
        guard table.requestCancel(slot) else { return }
        switch table.state(slot) {
        case .reserved:
            break  // `start` sees the flag and resumes at once
        case .waiting:
            table.removeWaiting(slot)
            finish(slot, .cancelled)
        case .submitted:
            internalRequests.cancels.append(userData)
        case .timed:
            disarmTimer(slot, .cancelled)  // at once: nothing is in the kernel
        case .batchParent:
            for part in table.parts(of: slot) {
                _ = table.requestCancel(part)
                switch table.state(part) {
                case .waiting:
                    table.removeWaiting(part)
                    finish(part, .cancelled)
                case .submitted:
                    internalRequests.cancels.append(table.userData(part))
                default:
                    break
                }
            }
        case .free:
            break
        }
    }

    /// Puts the waiting internal requests into the SQ: the wake read, cancellations,
    /// cancel-all. What finds no room stays queued for the next pass.
    func flushInternalRequests() {
        guard lifecycle == .running || lifecycle == .stopping else { return }
        if !outgoingWakes.isEmpty { flushOutgoingWakes() }
        if let portable {
            // Nothing waits for queue space: cancellations act at once.
            while let target = internalRequests.cancels.popFirst() { portable.cancel(target) }
            if internalRequests.cancelAllWanted {
                internalRequests.cancelAllWanted = false
                portable.cancelAll()
            }
            internalRequests.wakeRearmWanted = false
            return
        }
        if internalRequests.wakeRearmWanted {
            if lifecycle != .running {
                internalRequests.wakeRearmWanted = false
            } else {
                guard let sqe = nextSubmission(for: .wakeRearm) else { return }
                sqe.prepareRead(wakeSignal.descriptor, into: UnsafeMutableRawBufferPointer(start: wakeSignal.buffer, count: 8),
                                offset: SubmissionQueueEntry.currentPosition)
                sqe.userData = Self.wakeUserData
                internalRequests.wakeRearmWanted = false
                internalRequests.wakeReadInRing = true
            }
        }
        while let target = internalRequests.cancels.first {
            if target != Self.wakeUserData && table.slot(for: target) == nil {
                _ = internalRequests.cancels.popFirst()  // finished meanwhile
                continue
            }
            guard let sqe = nextSubmission(for: .cancel) else { return }
            sqe.prepareAsyncCancel(userData: target)
            sqe.userData = Self.cancelUserData
            _ = internalRequests.cancels.popFirst()
            internalRequests.inFlight += 1
        }
        if internalRequests.cancelAllWanted {
            guard let sqe = nextSubmission(for: .cancelAll) else { return }
            sqe.prepareAsyncCancelEverything()
            sqe.userData = Self.cancelAllUserData
            internalRequests.cancelAllWanted = false
            internalRequests.inFlight += 1
        }
    }

    /// A completion of one of the runtime's own requests.
    func internalCompletion(_ completion: Completion) {
        switch completion.userData {
        case Self.wakeUserData:
            internalRequests.wakeReadInRing = false
            if lifecycle == .running { internalRequests.wakeRearmWanted = true }
        case Self.cancelUserData:
            internalRequests.inFlight -= 1
        case Self.cancelAllUserData:
            internalRequests.inFlight -= 1
            if completion.result < 0 && completion.result != -ENOENT {
                // The kernel cannot cancel everything at once (ASYNC_CANCEL_ANY is newer than
                // it): cancel each operation, and the wake read, by its user_data instead.
                for slot in table.slots(in: .submitted) { internalRequests.cancels.append(table.userData(slot)) }
                if internalRequests.wakeReadInRing { internalRequests.cancels.append(Self.wakeUserData) }
            }
        case Self.messageWakeUserData:
            wakeSignal.messages.add(1, ordering: .relaxed)  // a sibling's wake: the loop is awake
        default:
            if completion.userData & ~0xFFFF == Self.messageSendUserData { messageWakeFailed(completion) }
        }
    }
}
