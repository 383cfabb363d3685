internal import SpoolRing
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How other threads wake a parked ring: an eventfd the ring keeps a read armed on, or a
/// sibling ring's `IORING_OP_MSG_RING`.
///
/// The ring calls ``arm()`` just before it blocks and ``disarm()`` when it wakes; a producer
/// that finds the signal armed claims it (``claim()``, one atomic exchange) and delivers one
/// wake: it writes the eventfd (``deliverThroughEventFD()``), or — from a sibling ring — has
/// its own ring post a completion on this one. So only the 0→1 transition costs anything and
/// wakes are coalesced. The read's 8 bytes land in ``buffer``, heap memory with a stable
/// address that the kernel may write while the read is armed.
///
/// **Thread-safety:** ``wake()``, ``claim()``, ``deliverThroughEventFD()`` and ``release()``
/// from any thread; everything else on the ring thread.
/// **Lifetime:** a claim keeps the eventfd open until it is released (a claim for a `MSG_RING`
/// wake is released at once: the ring's descriptor number is kept taken by ``RingGroup``
/// instead): ``closeForSenders()`` stops new claims and waits out the held ones — each a
/// single `write` — before the eventfd closes, so no write lands on a reused number.
final class WakeSignal: @unchecked Sendable {  // atomics, plus ring-thread-only fields
    /// The eventfd (blocking: io_uring answers `EAGAIN` at once for non-blocking files,
    /// which would make an armed read complete immediately).
    let descriptor: FileDescriptor
    /// Where the armed read lands.
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
    private let armed = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Claims held: producers between deciding to wake and having written the eventfd.
    private let senders = Atomic<Int>(0)
    /// Eventfd writes made (diagnostics: wakes are coalesced).
    let writes = Atomic<Int>(0)
    /// Wakes delivered by a sibling ring's `MSG_RING` (diagnostics and metrics).
    let messages = Atomic<Int>(0)

    /// Creates the eventfd.
    /// - Throws: ``RuntimeError/unavailable(_:reason:)`` if the kernel refuses.
    init() throws(RuntimeError) {
        do {
            descriptor = try EventFD(nonBlocking: false).releaseDescriptor()
        } catch {
            throw .unavailable(error, reason: "could not create the ring's wake-up eventfd")
        }
    }

    /// The ring is about to block: the next producer must write.
    func arm() { armed.store(true, ordering: .sequentiallyConsistent) }

    /// The ring is awake: producers need not write.
    func disarm() { armed.store(false, ordering: .relaxed) }

    /// Wakes the ring through its eventfd if it is parked (any thread). Call after publishing
    /// the work.
    func wake() {
        if claim() {
            deliverThroughEventFD()
            release()
        }
    }

    /// Claims the wake if the ring is parked: true means the caller must deliver one wake —
    /// an eventfd write before ``release()``, or a `MSG_RING` (released at once: the number is
    /// kept taken by ``RingGroup``). False: the ring is awake, another
    /// producer is waking it, or it is closing.
    func claim() -> Bool {
        senders.add(1, ordering: .sequentiallyConsistent)
        if !closed.load(ordering: .sequentiallyConsistent) && armed.exchange(false, ordering: .sequentiallyConsistent) {
            return true
        }
        senders.subtract(1, ordering: .sequentiallyConsistent)
        return false
    }

    /// Writes the eventfd (only under a claim).
    func deliverThroughEventFD() {
        _ = DescriptorCalls.signalCounter(descriptor.rawValue)
        writes.add(1, ordering: .relaxed)
    }

    /// Writes the eventfd even though the signal was not armed: a claimed `MSG_RING` wake
    /// failed, so the wake the claim promised is delivered this way (any thread).
    func forceWake() {
        senders.add(1, ordering: .sequentiallyConsistent)
        if !closed.load(ordering: .sequentiallyConsistent) { deliverThroughEventFD() }
        senders.subtract(1, ordering: .sequentiallyConsistent)
    }

    /// Ends a claim.
    func release() { senders.subtract(1, ordering: .sequentiallyConsistent) }

    /// Refuses new claims and waits until the held ones are released (ring thread, before the
    /// eventfd closes). A held claim is one producer's eventfd write, which never waits.
    func closeForSenders() {
        closed.store(true, ordering: .sequentiallyConsistent)
        while senders.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
    }

    /// Closes the eventfd once no producer can still write it (ring thread, at exit).
    /// `freeBuffer`: false if the kernel might still write the read's buffer.
    func close(freeBuffer: Bool) {
        closeForSenders()
        DescriptorClose.close(descriptor.rawValue)
        if freeBuffer { buffer.deallocate() }
    }
}
