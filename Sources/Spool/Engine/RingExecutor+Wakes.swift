internal import SpoolRing
import SystemPackage

/// Cross-ring wakes (DESIGN.md, *Execution model*).
///
/// Work for a ring goes into its inbox; if the ring is parked, the producer that claims its
/// wake (the 0→1 transition, ``WakeSignal/claim()``) delivers one wake:
/// - from a **sibling ring's thread** (a ring of the same runtime) with fewer than
///   ``deferredWakeJobLimit`` jobs ready, whose backend can (``ReactorBackend/deferWake(to:)``):
///   the sibling queues an `IORING_OP_MSG_RING` that posts a completion on the target, and
///   sends it with its own next submit (no system call of its own; `IOURingReactor+Wakes.swift`);
/// - from **any other thread**, a busy sibling, another runtime's ring, or where the kernel
///   lacks `MSG_RING`, or when the sibling's SQ has no room: a write to the target's eventfd,
///   whose read the target keeps armed.
///
/// A `MSG_RING` names the target's descriptor number and may go out after the target stopped:
/// a stopped ring hands its number to a placeholder that stays until every ring of the group
/// has finished (``RingGroup``), so the request fails with `EBADFD` rather than reach a file
/// that reused the number; a failed `MSG_RING` falls back to the eventfd. A wake is never lost.
extension RingExecutor {
    /// A sibling defers a wake to its next submit only while it has fewer ready jobs than
    /// this: with more, its pass would delay the woken ring's start by that many jobs (and make
    /// busy rings run in lockstep), so the eventfd is written at once instead.
    static let deferredWakeJobLimit = 4

    /// Wakes this ring if it is parked, on behalf of a producer running on `sender`'s thread.
    /// `sender` must be `RingExecutor.current` (nil: not a ring thread): the deferred path
    /// appends to the sender's own ring-thread state.
    func wake(from sender: RingExecutor?) {
        guard wakeSignal.claim() else { return }
        if let sender, sender !== self, sender.group === group,
           sender.lifecycle == .running || sender.lifecycle == .stopping,
           sender.jobs.count < Self.deferredWakeJobLimit, acceptsMessageRingWakes.load(ordering: .relaxed),
           sender.reactor.deferWake(to: self) {  // sender's thread: its own backend's state
            // The descriptor number stays taken while the sender lives (RingGroup): no claim
            // needs to be held until the request goes out.
            wakeSignal.release()
            return
        }
        if let sender, sender !== self { sender.statistics.wakesSent += 1 }
        wakeSignal.deliverThroughEventFD()
        wakeSignal.release()
    }
}
