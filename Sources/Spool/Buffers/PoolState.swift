/// The state of a ``BufferPool`` behind its lock, in an object of its own so that the pool's
/// ring can keep it in its list of pools with a strong reference: the ring wakes the pool's
/// waiting receivers when it stops, and the portable backend finds a receive's buffers by
/// group id. A weak reference to the pool itself would give the pool a side table, and every
/// retain and release of it (several per received message) would take the slow path.
///
/// **Thread-safety:** `Sendable`; everything mutable is under `locked`. **Lifetime:** held by
/// its pool, by its ring's list, and by a portable receive waiting to fill one of its
/// buffers; the pool's `deinit` removes it from the list. What it owns (a portable pool's
/// memory, or the kernel's provided-buffer ring, whose unregistering the pool's `deinit`
/// schedules on the ring) goes with the last holder.
final class PoolState: Sendable {
    /// The pool's buffer group id on its ring.
    let group: UInt16
    let locked: PosixLocked<Fields>  // a pthread lock: ThreadSanitizer does not see Mutex's futex

    struct Fields: ~Copyable, WaiterListHolding {
        var buffers: PoolStorage
        /// Buffers the kernel has filled and that are not back yet (waiting in a receiver's
        /// queue, or leased).
        var taken = 0
        var leased = 0
        var peakLeased = 0
        /// Receivers waiting for a buffer to come back before they re-arm.
        var waiters = WaiterList()
    }

    init(group: UInt16, buffers: PoolStorage) {
        self.group = group
        locked = PosixLocked(Fields(buffers: buffers))
    }

    /// Wakes receivers waiting for a buffer (the ring is stopping: they stop waiting).
    func wakeWaiters() {
        locked.withLock { $0.waiters.takeAll() }.resume()
    }

    /// The portable backend takes a free buffer for its next receive (ring thread), with its
    /// memory: nil when every buffer is out (the receive then ends with `ENOBUFS`, as the
    /// kernel's does).
    func takeForReceive() -> (UInt16, UnsafeMutableRawBufferPointer)? {
        locked.withLock { s -> (UInt16, UnsafeMutableRawBufferPointer)? in
            guard case .user(let u) = s.buffers, let id = u.take() else { return nil }
            return (id, u.buffer(id))
        }
    }

    /// A buffer ``takeForReceive()`` took but no receive filled goes back (ring thread).
    func returnUnfilled(_ id: UInt16) {
        locked.withLock { s in s.buffers.recycle(id) }
    }
}
