internal import SpoolRing
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How other threads wake a parked ring: an eventfd the ring keeps a read armed on.
///
/// The ring calls ``arm()`` just before it blocks and ``disarm()`` when it wakes; a producer
/// that finds the signal armed takes it (one atomic exchange) and writes the eventfd, so only
/// the 0→1 transition costs a system call and wakes are coalesced. The read's 8 bytes land in
/// ``buffer``, heap memory with a stable address that the kernel may write while the read is
/// armed.
///
/// **Thread-safety:** ``wake()`` from any thread; everything else on the ring thread.
/// **Lifetime:** ``close()`` stops new writers and waits out the ones already writing
/// before closing the descriptor, so a write never lands on a reused descriptor number.
final class WakeSignal: @unchecked Sendable {  // atomics, plus ring-thread-only fields
    /// The eventfd (blocking: io_uring answers `EAGAIN` at once for non-blocking files,
    /// which would make an armed read complete immediately).
    let descriptor: FileDescriptor
    /// Where the armed read lands.
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
    private let armed = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Producers between deciding to write the eventfd and writing it.
    private let writers = Atomic<Int>(0)
    /// Eventfd writes made (diagnostics: wakes are coalesced).
    let writes = Atomic<Int>(0)

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

    /// Wakes the ring if it is parked (any thread). Call after publishing the work.
    func wake() {
        writers.add(1, ordering: .sequentiallyConsistent)
        if !closed.load(ordering: .sequentiallyConsistent) && armed.exchange(false, ordering: .sequentiallyConsistent) {
            var one: UInt64 = 1
            _ = Glibc.write(descriptor.rawValue, &one, 8)
            writes.add(1, ordering: .relaxed)
        }
        writers.subtract(1, ordering: .sequentiallyConsistent)
    }

    /// Closes the eventfd once no producer can still write it (ring thread, at exit).
    /// `freeBuffer`: false if the kernel might still write the read's buffer.
    func close(freeBuffer: Bool) {
        closed.store(true, ordering: .sequentiallyConsistent)
        while writers.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
        _ = Glibc.close(descriptor.rawValue)
        if freeBuffer { buffer.deallocate() }
    }
}
