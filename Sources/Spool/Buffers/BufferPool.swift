internal import SpoolRing
import Synchronization
import SystemPackage

/// A pool of equal-sized receive buffers that the kernel fills directly (an io_uring
/// provided-buffer ring): multishot receives (``StreamSocket/receiveBuffers(from:maximumQueued:_:)``) take a
/// buffer per completion and hand it to you as a ``ReceivedBuffer``, which returns it to the
/// pool when dropped.
///
/// **Backpressure.** The pool is the whole memory a receiver can hold: when every buffer is
/// leased out, the kernel stops the receive (`ENOBUFS`) and it is re-armed only when a buffer
/// comes back. A slow consumer makes the sender wait (TCP's window closes); memory stays at
/// `count × bufferSize`. One pool may serve many connections on the same ring.
///
/// ```swift
/// let pool = try await BufferPool(count: 256, bufferSize: 16 * 1024)
/// ```
///
/// **Thread-safety:** `Sendable`; leases may be dropped on any thread. **Lifetime:** the pool
/// lives while anything uses it: its receivers, their armed requests and every outstanding
/// lease hold it. Its memory is freed (and its group unregistered from the ring) only after
/// the last of them is gone, so the kernel never writes freed memory.
public final class BufferPool: Sendable {
    /// Number of buffers.
    public let count: Int
    /// Bytes in each buffer.
    public let bufferSize: Int
    /// The most buffers of this pool that one stream's queued owned sends
    /// (``StreamSocket/write(taking:)-(ReceivedBuffer)``) may hold at once before its writer
    /// waits: a peer that never reads can pin at most this many (plus the receive's
    /// `maximumQueued` and the one its loop holds), so it cannot starve the pool's other
    /// connections. Default: an eighth of ``count`` (at least 1).
    public let maximumHeldPerStream: Int
    /// The provided-buffer group id on ``ring``.
    let group: UInt16
    /// The ring whose receives may use this pool (a group belongs to one ring).
    let ring: RingExecutor
    /// What the ring keeps of this pool (its list holds it strongly: a weak reference to the
    /// pool itself would move every retain and release of it, several per message, to the
    /// slow side-table path).
    let shared: PoolState
    private let state: PosixLocked<PoolState.Fields>  // `shared.locked`

    /// Creates `count` buffers of `bufferSize` bytes on a ring of `runtime` (the current one
    /// by default) and hands them all to the kernel.
    /// - Parameters:
    ///   - count: a power of two in 1...32768.
    ///   - bufferSize: 1 byte to 2 GiB; the most one receive completion carries.
    ///   - maximumHeldPerStream: see ``maximumHeldPerStream`` (1...count; nil: `count / 8`).
    ///   - runtime: the runtime whose ring registers the pool; by default the current one.
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` for a bad count, size or share,
    ///   ``IOError`` (`register provided buffers`) when the kernel refuses (`EINVAL` before Linux
    ///   5.19), ``RuntimeError/shutdown`` on a stopped runtime.
    public init(count: Int = 256, bufferSize: Int = 16 * 1024, maximumHeldPerStream: Int? = nil, runtime: Runtime? = nil) async throws {
        let runtime = try runtime ?? Runtime.requireCurrent()
        guard count >= 1, count <= 32768, count & (count - 1) == 0 else {
            throw RuntimeError.invalidArgument("a buffer pool's count must be a power of two in 1...32768 (got \(count))")
        }
        guard bufferSize >= 1, bufferSize <= 1 << 31 else {
            throw RuntimeError.invalidArgument("a buffer pool's buffer size must be in 1...\(1 << 31) bytes (got \(bufferSize))")
        }
        if let held = maximumHeldPerStream, held < 1 || held > count {
            throw RuntimeError.invalidArgument("a buffer pool's maximumHeldPerStream must be in 1...\(count) (got \(held))")
        }
        guard let ring = runtime.pickRingForPool() else { throw RuntimeError.shutdown }
        let made: Result<(PoolStorage, UInt16), any Error> = await withTaskExecutorPreference(ring.taskExecutor) {
            guard RingExecutor.current === ring, ring.lifecycle == .running else {
                return .failure(ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenWith ?? .ioError))
            }
            return ring.makePoolStorage(count: count, bufferSize: bufferSize)
        }
        let (buffers, group) = try made.get()
        self.count = count
        self.bufferSize = bufferSize
        self.maximumHeldPerStream = maximumHeldPerStream ?? max(1, count / 8)
        self.group = group
        self.ring = ring
        self.shared = PoolState(group: group, buffers: buffers)
        self.state = shared.locked
        ring.watchPool(shared)
    }

    deinit {
        ring.unwatchPool(shared)  // first, on every path: rings live for ever
        // Nothing uses the group any more (receives and leases hold the pool). The ring
        // refuses registration calls from other threads (`SINGLE_ISSUER`), so the unregister
        // runs on the ring; if the ring has stopped, its close took the registration along.
        guard case .kernel(let buffers) = state.withLock({ $0.buffers }) else { return }
        let ring = self.ring
        if RingExecutor.current === ring {
            try? buffers.unregister()
        } else if ring.lifecycle == .running {
            nonisolated(unsafe) let buffers = buffers
            Task(executorPreference: ring.taskExecutor) {
                if RingExecutor.current === ring { try? buffers.unregister() }
            }
        }
    }

    /// Buffers leased out now (received and not yet dropped).
    public var leased: Int { state.withLock { $0.leased } }
    /// Buffers the kernel has filled that are not back yet: leased, or waiting for a receiver.
    public var taken: Int { state.withLock { $0.taken } }
    /// The most buffers ever leased out at once.
    public var peakLeased: Int { state.withLock { $0.peakLeased } }
    /// Receives waiting for a buffer to come back (see ``waitForFreeBuffer()``).
    var waitingReceivers: Int { state.withLock { $0.waiters.count } }
    /// Whether some buffer is with the kernel (a receive may be armed).
    var hasFreeBuffer: Bool { state.withLock { $0.taken < count } }

    /// The kernel filled buffer `id` (ring thread, as its completion is delivered).
    func markTaken(_ id: UInt16) {
        state.withLock { $0.taken += 1 }
    }

    /// Takes buffer `id` as a lease showing `length` bytes from `offset` (clamped to the buffer).
    func lease(_ id: UInt16, offset: Int = 0, length: Int) -> ReceivedBuffer {
        let base = state.withLock { s -> UnsafeMutableRawPointer in
            s.leased += 1
            if s.leased > s.peakLeased { s.peakLeased = s.leased }
            return s.buffers.buffer(id).baseAddress!
        }
        let start = min(max(offset, 0), bufferSize)
        return ReceivedBuffer(pool: self, id: id, base: base + start, count: min(max(length, 0), bufferSize - start))
    }

    /// The whole of buffer `id` (for parsing what the kernel wrote before leasing it).
    func bytes(of id: UInt16) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(state.withLock { $0.buffers.buffer(id) })
    }

    /// Gives buffer `id` back to the kernel (any thread); `leased` says whether it was out
    /// as a ``ReceivedBuffer``. Wakes the receiver that has waited longest for a buffer: one
    /// per buffer, so N starved receivers cost one re-arm per buffer, not N (N−1 of which
    /// would fail with `ENOBUFS`).
    ///
    /// One wake per buffer needs receives that wait only with bytes waiting: the portable
    /// backend's (it peeks before it reports `ENOBUFS`). On io_uring a receive armed on a dry
    /// pool fails with `ENOBUFS` whether or not bytes wait (its poll-first mode leaked reset
    /// connections), so one wake could go to an idle receive and strand the others: there every
    /// waiter is woken.
    func giveBack(_ id: UInt16, leased: Bool) {
        let wakesOne = wakesOnePerBuffer
        state.withLock { s -> Wakes in
            s.buffers.recycle(id)
            s.taken -= 1
            if leased { s.leased -= 1 }
            return wakesOne ? s.waiters.takeFirst() : s.waiters.takeAll()
        }.resume()
    }

    /// Whether a returned buffer wakes one waiting receive (the portable backend) or all of
    /// them (io_uring): see ``giveBack(_:leased:)``.
    var wakesOnePerBuffer: Bool { ring.reactor.portableBackend != nil }

    /// Waits until a buffer is free (returns at once if one is), the ring stops, or the task
    /// is cancelled. Only receives the kernel stopped for want of buffers wait here (they have
    /// bytes waiting, so the buffer their wake stands for is used at once); a waiter that
    /// leaves without arming passes its wake on (``passWakeOn()``).
    @inline(never) nonisolated(nonsending) func waitForFreeBuffer() async throws {
        let count = self.count, ring = self.ring
        try await state.waitCancellably { s in s.taken < count || ring.lifecycle != .running }
    }

    /// Wakes the next waiting receiver if a buffer is free: called by a receive that may
    /// have been woken for a buffer it will not use (it was cancelled, it ended, its peer
    /// reset). A wake too many is harmless: the waiter asks again.
    func passWakeOn() {
        let count = self.count
        state.withLock { s -> Wakes in s.taken < count ? s.waiters.takeFirst() : .none }.resume()
    }
}

extension Runtime {
    /// The ring a new buffer pool (or a multishot accept) lives on: the calling ring if it is
    /// one of this runtime's and running, else the next running one of this runtime (a ring of
    /// another runtime would tie it to that runtime's life and shutdown).
    func pickRingForPool() -> RingExecutor? {
        if let ring = RingExecutor.current, ring.lifecycle == .running, ring.group === rings.first?.group { return ring }
        return pickRing()
    }
}
