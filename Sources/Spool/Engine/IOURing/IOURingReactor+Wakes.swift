internal import SpoolRing
import SystemPackage

/// `MSG_RING` wakes of sibling rings (DESIGN.md, *Cross-ring wakes*; the executor's side is
/// `RingExecutor+Wakes.swift`).
///
/// A sibling with few ready jobs hands the wake to its own backend (``deferWake(to:)``), which
/// puts an `IORING_OP_MSG_RING` in its SQ with its next pass or eager submit: no system call of
/// its own. The request names the target's descriptor number, which stays taken while any ring
/// of the group lives (``RingGroup``), so a late one fails with `EBADFD` rather than reach a
/// reused number; a failed `MSG_RING`, a full SQ or a ring that breaks falls back to the
/// target's eventfd. A wake is never lost.
extension IOURingReactor {
    /// Takes `target`'s wake for this ring's next submit (ring thread: its own state).
    func deferWake(to target: RingExecutor) -> Bool {
        guard sendsMessageRingWakes else { return false }
        outgoingWakes.append(target)
        return true
    }

    /// Puts the deferred sibling wakes into the SQ as `MSG_RING` requests; a wake that finds no
    /// SQ room, or a target that already finished, goes through the eventfd at once.
    func flushOutgoingWakes() {
        while let target = outgoingWakes.popLast() {
            executor.statistics.wakesSent += 1
            let descriptor = target.ringDescriptor.load(ordering: .acquiring)
            if descriptor >= 0, let sqe = nextSubmission(for: .siblingWake) {
                sqe.prepareMessageRing(FileDescriptor(rawValue: descriptor), result: 0, userData: Self.messageWakeUserData, skipLocalCompletion: true)
                sqe.userData = Self.messageSendUserData | UInt64(target.index & 0xFFFF)
                wakesInSubmissionQueue.append(target)
                sentMessageWakes = true
            } else {
                target.wakeSignal.forceWake()
            }
        }
    }

    /// The kernel consumed every SQ entry, the `MSG_RING`s among them.
    func releaseSubmittedWakes() {
        wakesInSubmissionQueue.removeAll(keepingCapacity: true)
    }

    /// Delivers every wake still owed through the eventfd (the ring broke or is closing: its SQ
    /// will never be submitted).
    func abandonOutgoingWakes() {
        while let target = wakesInSubmissionQueue.popLast() { target.wakeSignal.forceWake() }
        while let target = outgoingWakes.popLast() { target.wakeSignal.forceWake() }
    }

    /// A `MSG_RING` of this ring failed (the target stopped and its number is a placeholder,
    /// or its CQ was full): wake the target through its eventfd instead.
    func messageWakeFailed(_ completion: Completion) {
        executor.group.member(Int(completion.userData & 0xFFFF))?.wakeSignal.forceWake()
    }
}
