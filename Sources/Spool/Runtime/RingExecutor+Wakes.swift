internal import SpoolRing
import SystemPackage

/// Cross-ring wakes (DESIGN.md, *Execution model*).
///
/// Work for a ring goes into its inbox; if the ring is parked, the producer that claims its
/// wake (the 0→1 transition, ``WakeSignal/claim()``) delivers one wake:
/// - from a **sibling ring's thread**: the sibling queues an `IORING_OP_MSG_RING` that posts
///   a completion on the target, and sends it with its own next submit (no system call of its
///   own); the request skips its local completion unless it fails;
/// - from **any other thread**, or where the kernel lacks `MSG_RING`, or when the sibling's SQ
///   has no room: a write to the target's eventfd, whose read the target keeps armed.
///
/// A claim keeps the target's descriptors open until the kernel has consumed the `MSG_RING`
/// (``WakeSignal/closeForSenders()``); a failed `MSG_RING` falls back to the eventfd, so a
/// wake is never lost.
extension RingExecutor {
    /// Wakes this ring if it is parked, on behalf of a producer running on `sender`'s thread
    /// (nil: not a ring thread). Call after publishing the work.
    func wake(from sender: RingExecutor?) {
        guard wakeSignal.claim() else { return }
        if let sender, sender !== self, sender.sendsMessageRingWakes, sender.lifecycle == .running || sender.lifecycle == .stopping,
           acceptsMessageRingWakes.load(ordering: .relaxed) {
            sender.outgoingWakes.append(self)  // sender's thread: its own state
            return
        }
        if let sender, sender !== self { sender.statistics.wakesSent += 1 }
        wakeSignal.deliverThroughEventFD()
        wakeSignal.release()
    }

    /// Puts the claimed sibling wakes into the SQ as `MSG_RING` requests (ring thread, with the
    /// internal requests); a wake that finds no SQ room goes through the eventfd at once.
    func flushOutgoingWakes() {
        while let target = outgoingWakes.popLast() {
            statistics.wakesSent += 1
            let descriptor = target.ringDescriptor.load(ordering: .acquiring)
            if descriptor >= 0, let sqe = nextSubmission(for: .siblingWake) {
                sqe.prepareMessageRing(FileDescriptor(rawValue: descriptor), result: 0, userData: Self.messageWakeUserData, skipLocalCompletion: true)
                sqe.userData = Self.messageSendUserData | UInt64(target.index & 0xFFFF)
                wakesInSubmissionQueue.append(target)
                target.wakeSignal.messages.add(1, ordering: .relaxed)
            } else {
                target.wakeSignal.deliverThroughEventFD()
                target.wakeSignal.release()
            }
        }
    }

    /// The kernel consumed every SQ entry: the `MSG_RING`s in it have resolved their target's
    /// descriptor, so the claims that kept it open end.
    func releaseSubmittedWakes() {
        while let target = wakesInSubmissionQueue.popLast() { target.wakeSignal.release() }
    }

    /// Delivers every held claim through the eventfd (the ring broke or is closing: its SQ will
    /// never be submitted).
    func abandonOutgoingWakes() {
        while let target = wakesInSubmissionQueue.popLast() {
            target.wakeSignal.forceWake()
            target.wakeSignal.release()
        }
        while let target = outgoingWakes.popLast() {
            target.wakeSignal.deliverThroughEventFD()
            target.wakeSignal.release()
        }
    }

    /// A `MSG_RING` of this ring failed (the target's CQ was full, say): wake the target through
    /// its eventfd instead.
    func messageWakeFailed(_ completion: Completion) {
        let index = Int(completion.userData & 0xFFFF)
        guard let rings = runtime?.rings, index < rings.count else { return }
        rings[index].wakeSignal.forceWake()
    }
}
