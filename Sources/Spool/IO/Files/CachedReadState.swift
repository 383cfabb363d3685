internal import SpoolRing
import Synchronization

#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Spool's memo of whether a file's positional reads are first tried against the page cache
/// on the calling thread (`preadv2` with `RWF_NOWAIT`; README, *The fast path*).
///
/// A handle has none (`nil`) when such a read could wait for the device: a descriptor
/// opened with `O_DIRECT`. A file system that does not take `RWF_NOWAIT` (tmpfs, procfs)
/// answers the first try with `EOPNOTSUPP`; the memo then turns the fast path off for the
/// handle, so the cost of finding out is one system call.
///
/// Every member is internal to Spool. **Thread-safety:** `Sendable` (one atomic flag).
/// **Lifetime:** owned by the handle that uses it (a ``File``, then its ``SharedFile``).
public final class CachedReadState: Sendable {
    private let unsupported = Atomic<Bool>(false)

    private init() {}

    /// The memo for a file Spool opened: nil if `runtime` does not complete calls inline
    /// (``Runtime/Configuration/inlineCompletion``) or the file is `O_DIRECT`.
    static func forOpenedFile(direct: Bool, runtime: Runtime) -> CachedReadState? {
        runtime.inlineCompletion && !direct ? CachedReadState() : nil
    }

    /// The memo for a descriptor of unknown origin: as ``forOpenedFile(direct:runtime:)``,
    /// reading `O_DIRECT` from the descriptor's flags (nil if they cannot be read, as for an
    /// invalid descriptor).
    static func forDescriptor(_ descriptor: FileDescriptor, runtime: Runtime) -> CachedReadState? {
        guard runtime.inlineCompletion, CachedRead.isDirect(descriptor.rawValue) == false else { return nil }
        return CachedReadState()
    }

    /// Whether a read is worth trying against the cache.
    var isWorthTrying: Bool { !unsupported.load(ordering: .relaxed) }

    /// What a try against the page cache gave.
    enum Attempt {
        /// This many bytes (0: end of file).
        case read(Int)
        /// Go to the ring: not cached, not supported, failed (the ring gives the real answer:
        /// a positional read of a pipe, say, is refused by `preadv2` but not by the ring), the
        /// thread's inline budget spent, or the task cancelled (the ring path reports that).
        case notServed
    }

    /// Tries a positional read of `count` bytes (already clamped) at `offset` against the page
    /// cache on the calling thread, without blocking (``CachedRead``). `gate` is the handle's
    /// ``FileAccessGate`` (nil for a ``File``); `enter` throws `EBADF` on a closed
    /// ``SharedFile``.
    func attempt(
        _ descriptor: FileDescriptor, gate: FileAccessGate?, into buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64,
        path: @autoclosure () -> FilePath?
    ) throws(IOError) -> Attempt {
        guard isWorthTrying, !Task.isCancelled else { return .notServed }
        let ring = RingExecutor.current
        guard InlineBudget.take(on: ring) else { return .notServed }
        try gate?.enter(.read, path: path(), descriptor: descriptor)
        defer { gate?.leave() }
        switch CachedRead.attempt(descriptor.rawValue, into: buffer, count: count, offset: offset) {
        case .read(let n):
            if let ring { ring.statistics.inlineCompletions += 1 }
            return .read(n)
        case .wouldBlock:
            return .notServed
        case .unsupported, .failed(ESPIPE), .failed(EINVAL):
            // The file system refuses RWF_NOWAIT, or the descriptor is not seekable (a pipe, a
            // socket, a terminal): every later read of this handle goes to the ring.
            unsupported.store(true, ordering: .relaxed)
            return .notServed
        case .failed:
            return .notServed  // the ring's own read reports the error, with its context
        }
    }
}
