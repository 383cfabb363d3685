import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A stream socket's owned sends: buffers moved into the runtime by
/// ``StreamSocket/write(taking:)-(ReceivedBuffer)``, sent in order, one in the kernel at a
/// time, each released (a lease back to its pool, memory freed) when its send completes.
///
/// The writer does not wait for each send: it waits only when the queued and in-flight items
/// pin more than `limit` bytes (a lease counts as its pool's whole buffer, heap memory as its
/// capacity: what they keep from others, not the bytes they show), or hold their pool's
/// ``BufferPool/maximumHeldPerStream`` leases. The first failure is kept and thrown by the writer's next call
/// (``write(_:runtime:)``, ``flush()``); the buffers still queued are then released unsent.
///
/// **Thread-safety:** `Sendable`; completions arrive on the ring thread, writers call from
/// any task, under one lock. **Lifetime:** the socket holds the queue; a send in the kernel
/// holds it too (through its slot) until its completion, so its buffer outlives the send.
/// A socket dropped with sends pending hands its descriptor to the queue, which closes it
/// after the last completion (a descriptor number must not be reused while an entry that
/// names it may still be waiting in the SQ).
final class SendQueue: CompletionConsumer, Sendable {
    let descriptor: FileDescriptor
    /// Bytes queued or in flight beyond which a writer waits.
    let limit: Int

    private struct Item {
        var bytes: OwnedBytes
        var sent: Int
    }

    private struct State: ~Copyable, WaiterListHolding {
        /// Queued items, the one in the kernel first (while `inFlight`).
        var items = FIFOQueue<Item>()
        /// The memory queued and in-flight items pin (``OwnedBytes/pinned``): what `limit` bounds.
        var pinnedBytes = 0
        /// Pool leases among them (each bounded by its pool's ``BufferPool/maximumHeldPerStream``).
        var leases = 0
        /// The head item's send is in the kernel (or being started).
        var inFlight = false
        /// The `user_data` of the send in the kernel, once known (to cancel it when orphaned).
        var inFlightUserData: UInt64? = nil
        var ring: RingExecutor? = nil
        var failure: (any Error)? = nil
        /// Bumped by every completion and failure: a writer that saw the queue full waits
        /// only if nothing changed since (no lost wake-up).
        var version: UInt64 = 0
        /// Writers waiting for room or for the queue to drain.
        var waiters = WaiterList()
        /// The socket was dropped: close the descriptor once idle; start nothing new.
        var orphaned = false
        var isIdle: Bool { items.isEmpty && !inFlight }

        /// Takes every waiting writer (to resume outside the lock) and bumps the version.
        mutating func changed() -> Wakes {
            version &+= 1
            return waiters.takeAll()
        }

        mutating func added(_ bytes: OwnedBytes) {
            pinnedBytes += bytes.pinned
            if bytes.leaseShare != nil { leases += 1 }
        }

        mutating func removed(_ bytes: OwnedBytes) {
            pinnedBytes -= bytes.pinned
            if bytes.leaseShare != nil { leases -= 1 }
        }

        /// Whether `bytes` must wait: the queue is not empty and would go over `limit` pinned
        /// bytes or over its pool's share of leases.
        func mustWait(for bytes: OwnedBytes, limit: Int) -> Bool {
            guard pinnedBytes > 0 else { return false }  // one item always fits
            if pinnedBytes + bytes.pinned > limit { return true }
            if let share = bytes.leaseShare, leases >= share { return true }
            return false
        }

        /// Takes the bytes of every queued item after the first `keeping` out of the queue.
        mutating func removeAll(keepingFirst keeping: Int) -> [OwnedBytes] {
            let taken = items.removeAll(keepingFirst: keeping).map(\.bytes)
            for t in taken { removed(t) }
            return taken
        }
    }

    private let state = PosixLocked(State())  // a pthread lock: ThreadSanitizer does not see Mutex's futex

    init(descriptor: FileDescriptor, limit: Int) {
        self.descriptor = descriptor
        self.limit = limit
    }

    /// Queues `bytes` (taking ownership) behind earlier writes; waits while the queue is over
    /// `limit`. Throws (releasing `bytes`) the failure of an earlier send.
    ///
    /// The decisions are made in ``admit(_:)``, synchronously: this frame is part of every
    /// echoing connection's deepest stack, which its task allocator keeps room for, so only
    /// `bytes`, `runtime` and a one-word step live across its awaits.
    nonisolated(nonsending) func write(_ bytes: OwnedBytes, runtime: Runtime) async throws {
        while true {
            switch admit(bytes) {
            case .done:
                return
            case .start(let bound):
                // On its ring (the usual case) the send starts here, with no call frame.
                if startHeadHere(bound) { return }
                try await startHead(on: bound, runtime: runtime)
                return
            case .wait(let version):
                do {
                    try await waitForChange(after: version)
                } catch {
                    bytes.release()  // never queued: the caller's buffer is released unsent
                    throw error
                }
            case .failed:
                throw failure(releasing: bytes)
            }
        }
    }

    /// What ``write(_:runtime:)`` does with its bytes.
    enum Admission {
        /// Queued behind a send in flight, or empty and released: nothing to wait for.
        case done
        /// Queued at the head: start its send (on this ring, if bound).
        case start(RingExecutor?)
        /// The queue is full: wait for a change after this version.
        case wait(UInt64)
        /// The queue failed or was closed: nothing queued (``failure(releasing:)`` says why).
        case failed
    }

    /// Queues `bytes` if there is room (synchronously, under the lock).
    @inline(never) private func admit(_ bytes: OwnedBytes) -> Admission {
        if bytes.count == 0 {
            bytes.release()
            return .done
        }
        return state.withLock { s -> Admission in
            if s.failure != nil || s.orphaned { return .failed }
            if s.mustWait(for: bytes, limit: limit) { return .wait(s.version) }
            s.items.append(Item(bytes: bytes, sent: 0))
            s.added(bytes)
            if s.inFlight { return .done }
            s.inFlight = true
            return .start(s.ring)
        }
    }

    /// Releases `bytes`, refused, and returns why.
    @inline(never) private func failure(releasing bytes: OwnedBytes) -> any Error {
        bytes.release()
        return state.withLock { $0.failure } ?? RuntimeError.invalidArgument("the stream was closed")
    }

    /// Waits until every queued send has completed; throws the first failure.
    nonisolated(nonsending) func flush() async throws {
        while true {
            let (idle, failure, version) = state.withLock { ($0.isIdle, $0.failure, $0.version) }
            if let failure { throw failure }
            if idle { return }
            try await waitForChange(after: version)
        }
    }

    /// Whether nothing is queued or in flight (tests).
    var isIdleForTesting: Bool { state.withLock { $0.isIdle } }

    /// The socket is going away (its `deinit`, or a cancelled `close`): drops what is not yet
    /// in the kernel and cancels the send that is (a peer that never reads must not keep the
    /// descriptor forever). Returns true if the queue takes over closing the descriptor,
    /// after that send's completion.
    func orphan() -> Bool {
        let (dropped, busy, userData, ring) = state.withLock { s -> ([OwnedBytes], Bool, UInt64?, RingExecutor?) in
            s.orphaned = true
            let dropped = s.removeAll(keepingFirst: s.inFlight ? 1 : 0)
            return (dropped, s.inFlight, s.inFlightUserData, s.ring)
        }
        for d in dropped { d.release() }
        if busy, let userData, let ring { ring.requestCancel(userData) }
        return busy
    }

    // MARK: The kernel side

    /// Submits the head item's (remaining) bytes on the queue's ring, hopping there if needed.
    private nonisolated(nonsending) func startHead(on bound: RingExecutor?, runtime: Runtime) async throws {
        if startHeadHere(bound) { return }
        guard let ring = bound ?? runtime.pickRing() else {
            fail(RuntimeError.shutdown)
            throw RuntimeError.shutdown
        }
        let started: Bool = await withTaskExecutorPreference(ring.taskExecutor) {
            guard RingExecutor.current === ring else { return false }
            self.submitHead(ring)
            return true
        }
        if !started {
            let error = ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? .ioError)
            fail(error)
            throw error
        }
    }

    /// Starts the head item's send if the caller is on its ring (`bound`, or the running ring
    /// it is on when the queue has none yet); false if a hop is needed.
    @inline(never) private func startHeadHere(_ bound: RingExecutor?) -> Bool {
        guard let ring = bound ?? RingExecutor.current.flatMap({ $0.lifecycle == .running ? $0 : nil }), RingExecutor.current === ring else {
            return false
        }
        submitHead(ring)
        return true
    }

    /// Ring thread: sends the head item's remaining bytes (`MSG_WAITALL`: the kernel goes on
    /// until all are sent or the send fails).
    private func submitHead(_ ring: RingExecutor) {
        let item = state.withLock { s -> Item? in
            if s.ring == nil { s.ring = ring }
            return s.items.first
        }
        guard let item else {
            // Nothing to send after all (the queue was emptied meanwhile): not in flight.
            state.withLock { s -> Wakes in
                s.inFlight = false
                return s.changed()
            }.resume()
            return
        }
        let remaining = item.bytes.count - item.sent
        let request = OperationRequest.send(
            fd: descriptor.rawValue, buffer: item.bytes.base + item.sent, count: UInt32(min(remaining, Int(UInt32.max))),
            flags: Int32(MSG_WAITALL))
        // A refusal arrives through `ended` before this returns.
        guard let userData = ring.start(request, consumer: self) else { return }
        let cancelNow = state.withLock { s -> Bool in
            if s.inFlight { s.inFlightUserData = userData }
            return s.orphaned
        }
        if cancelNow { ring.requestCancel(userData) }
    }

    func deliver(result: Int32, flags: UInt32, final: Bool) {
        guard final else { return }
        var released: [OwnedBytes] = []
        var next: RingExecutor? = nil
        var closeNow = false
        let wakes = state.withLock { s -> Wakes in
            s.inFlight = false
            s.inFlightUserData = nil
            if result <= 0 {
                let errno: Errno = result == 0 ? .ioError : Errno(rawValue: -result)
                if let ring = s.ring, ring.lifecycle != .running {
                    s.failure = ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? errno)
                } else if s.failure == nil {
                    s.failure = IOError(.send, errno: errno, descriptor: descriptor)
                }
                released = s.removeAll(keepingFirst: 0)
            } else if !s.items.isEmpty {
                s.items.updateFirst { $0.sent += Int(result) }
                if let head = s.items.first, head.sent >= head.bytes.count {
                    released.append(head.bytes)
                    s.removed(head.bytes)
                    _ = s.items.popFirst()
                }
            }
            if s.orphaned {
                // Nobody will send the rest (a partly sent head, after a cancelled send):
                // release it, and close the descriptor now that nothing is in the kernel.
                released += s.removeAll(keepingFirst: 0)
                closeNow = true
            } else if !s.items.isEmpty {
                s.inFlight = true
                next = s.ring
            }
            return s.changed()
        }
        for r in released { r.release() }
        if let next { submitHead(next) }
        if closeNow { DescriptorClose.close(descriptor.rawValue) }
        wakes.resume()
    }

    func ended(_ outcome: OperationOutcome) {
        switch outcome {
        case .brokenInFlight(let errno):
            // The send was in the kernel when the ring broke. If the kernel confirmed it let go
            // of the ring, its bytes go back; if not, it may still read them, so they are never
            // released. Either way a dropped stream's descriptor is closed now: nothing will
            // complete on it any more (the kernel holds its own reference to the socket).
            var released: [OwnedBytes] = []
            var closeNow = false
            let wakes = state.withLock { s -> Wakes in
                let kernelLetGo = s.ring?.kernelReleasedBrokenRing.load(ordering: .acquiring) ?? false
                s.inFlight = false
                s.inFlightUserData = nil
                if s.failure == nil { s.failure = RuntimeError.broken(errno) }
                released = s.removeAll(keepingFirst: kernelLetGo ? 0 : 1)
                if !kernelLetGo { _ = s.removeAll(keepingFirst: 0) }  // the head's bytes are leaked on purpose
                closeNow = s.orphaned
                return s.changed()
            }
            for r in released { r.release() }
            if closeNow { DescriptorClose.close(descriptor.rawValue) }
            wakes.resume()
        case .broken(let errno):
            fail(RuntimeError.broken(errno))
        default:
            fail(RuntimeError.shutdown)
        }
    }

    /// Records `error` as the queue's failure and releases everything queued (none of it is
    /// in the kernel).
    private func fail(_ error: any Error) {
        var closeNow = false
        var released: [OwnedBytes] = []
        let wakes = state.withLock { s -> Wakes in
            s.inFlight = false
            s.inFlightUserData = nil
            if s.failure == nil { s.failure = error }
            released = s.removeAll(keepingFirst: 0)
            if s.orphaned { closeNow = true }
            return s.changed()
        }
        for r in released { r.release() }
        if closeNow { DescriptorClose.close(descriptor.rawValue) }
        wakes.resume()
    }

    /// Suspends until a send completes or fails after `version` (at once if one already
    /// did); throws `CancellationError` if the task is cancelled (the queued sends go on).
    private nonisolated(nonsending) func waitForChange(after version: UInt64) async throws {
        try await state.waitCancellably { s in s.version != version || s.failure != nil }
    }

}

/// Where a stream's ``SendQueue`` lives once its first owned send makes it: an idle or
/// read-only connection carries this 24-byte box, not the queue and its lock.
///
/// **Thread-safety:** `Sendable`; the reference is set once, atomically (two first writers
/// race to one queue). **Lifetime:** the stream's.
final class SendQueueSlot: Sendable {
    private let storage = AtomicLazyReference<SendQueue>()

    /// The queue, if an owned send has made it.
    var existing: SendQueue? { storage.load() }

    /// The queue, made now if this is the first owned send.
    func queue(for descriptor: FileDescriptor) -> SendQueue {
        storage.load() ?? storage.storeIfNil(SendQueue(descriptor: descriptor, limit: StreamSocket.maximumQueuedSendBytes))
    }
}
