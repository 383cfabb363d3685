/// Bytes whose owner moved them into the runtime (an owned send): a pool lease or an
/// ``IOBuffer``'s memory, without the `~Copyable` wrapper, so a queue can hold them.
///
/// **Thread-safety:** a plain value, `Sendable`. **Lifetime:** exactly one holder calls
/// ``release()`` exactly once (a lease goes back to its pool, heap memory is freed); the
/// bytes are valid until then.
enum OwnedBytes: @unchecked Sendable {  // the memory is owned by whoever holds this value
    /// A ``ReceivedBuffer``'s buffer, with the pool retained.
    case lease(Unmanaged<BufferPool>, id: UInt16, base: UnsafeMutableRawPointer, count: Int)
    /// An ``IOBuffer``'s memory (`capacity` bytes allocated, `count` valid).
    case heap(UnsafeMutableRawPointer, count: Int, capacity: Int)

    var base: UnsafeRawPointer {
        switch self {
        case .lease(_, _, let base, _): return UnsafeRawPointer(base)
        case .heap(let base, _, _): return UnsafeRawPointer(base)
        }
    }

    var count: Int {
        switch self {
        case .lease(_, _, _, let count), .heap(_, let count, _): return count
        }
    }

    /// The memory these bytes keep from everyone else while queued: a whole pool buffer for a
    /// lease (however few bytes it shows), the whole allocation for heap memory.
    var pinned: Int {
        switch self {
        case .lease(let pool, _, _, _): return pool.takeUnretainedValue().bufferSize
        case .heap(_, _, let capacity): return capacity
        }
    }

    /// For a lease, the most buffers of its pool one stream's queued sends may hold
    /// (``BufferPool/maximumHeldPerStream``); nil for heap memory.
    var leaseShare: Int? {
        switch self {
        case .lease(let pool, _, _, _): return pool.takeUnretainedValue().maximumHeldPerStream
        case .heap: return nil
        }
    }

    /// Gives the memory back: the lease to its pool (on any thread), heap memory to the allocator.
    func release() {
        switch self {
        case .lease(let pool, let id, _, _):
            pool.takeUnretainedValue().giveBack(id, leased: true)
            pool.release()
        case .heap(let base, _, _):
            base.deallocate()
        }
    }
}
