internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// A buffer pool's memory on the portable backend, where no kernel picks buffers: the same
/// equal-sized buffers as a provided-buffer ring, and a stack of the free ones that the
/// backend takes from just before each receive (``take()``) and that returned buffers go back
/// to (``recycle(_:)``).
///
/// **Thread-safety:** none; always used under its pool's lock (``PoolState``). **Lifetime:**
/// owns the memory; freed with the ``PoolState`` that holds it, after the pool and every
/// receive that may fill a buffer have let go of that state.
final class UserBuffers {
    let count: Int
    let bufferSize: Int
    private let storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var free: [UInt16]  // under the pool's lock: no overlapping access

    /// Allocates `count` buffers of `bufferSize` bytes, all free (the caller checked both).
    init(count: Int, bufferSize: Int) {
        self.count = count
        self.bufferSize = bufferSize
        storage = UnsafeMutableRawPointer.allocate(byteCount: max(count * bufferSize, 1), alignment: 64)
        free = (0..<count).reversed().map { UInt16($0) }
    }

    deinit { storage.deallocate() }

    /// The memory of buffer `id`.
    func buffer(_ id: UInt16) -> UnsafeMutableRawBufferPointer {
        precondition(Int(id) < count, "buffer id \(id) out of range 0..<\(count)")
        return UnsafeMutableRawBufferPointer(start: storage + Int(id) * bufferSize, count: bufferSize)
    }

    /// A free buffer for the next receive, or nil when every buffer is out.
    func take() -> UInt16? { free.popLast() }

    /// Buffer `id` is free again.
    func recycle(_ id: UInt16) {
        precondition(Int(id) < count, "buffer id \(id) out of range 0..<\(count)")
        free.append(id)
    }
}

/// Where a ``BufferPool``'s buffers live: registered with the kernel (io_uring) or picked in
/// user space (the portable backend).
enum PoolStorage {
    case kernel(ProvidedBufferRing)
    case user(UserBuffers)

    func buffer(_ id: UInt16) -> UnsafeMutableRawBufferPointer {
        switch self {
        case .kernel(let k): return k.buffer(id)
        case .user(let u): return u.buffer(id)
        }
    }

    func recycle(_ id: UInt16) {
        switch self {
        case .kernel(let k): k.recycle(id)
        case .user(let u): u.recycle(id)
        }
    }
}
