import CSpoolURing

#if canImport(Glibc)
import Glibc
#endif

/// A positional read served from the page cache without ever waiting for the device:
/// `preadv2(2)` with `RWF_NOWAIT`.
///
/// The runtime tries it before sending a buffered read to the ring: when the data is cached
/// the read is done in one system call and the caller need not suspend; when it is not, the
/// kernel answers `EAGAIN` at once and the read goes to the ring as usual. Never use it on
/// an `O_DIRECT` descriptor: a synchronous direct read waits for the device even with
/// `RWF_NOWAIT` (see ``isDirect(_:)``).
///
/// A namespace of stateless functions: thread-safe. The caller keeps `buffer` valid for the
/// duration of the call (it is synchronous; nothing is retained).
public enum CachedRead {
    /// What an attempt did. A plain value: `Sendable`.
    public enum Outcome: Equatable, Sendable {
        /// Read this many bytes (0: end of file). Fewer than asked when only part of the
        /// range was cached (or the file ends inside it).
        case read(Int)
        /// Nothing of the range is cached: the read would wait for the device.
        case wouldBlock
        /// This file does not take `RWF_NOWAIT` (tmpfs, procfs, some network file systems).
        case unsupported
        /// The read failed with this errno. `preadv2` is stricter than a ring read in places
        /// (`ESPIPE` for any non-seekable descriptor): send the read to the ring for the real
        /// answer.
        case failed(Int32)
    }

    /// Reads up to `count` bytes at `offset` into `buffer` if they are in the page cache.
    /// Synchronous and non-blocking; safe from any thread; retains nothing.
    public static func attempt(_ descriptor: Int32, into buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64) -> Outcome {
        let r = spool_pread_nowait(descriptor, buffer, count, offset)
        if r >= 0 { return .read(Int(r)) }
        switch Int32(-r) {
        case EAGAIN: return .wouldBlock
        case EOPNOTSUPP: return .unsupported
        case let errno: return .failed(errno)
        }
    }

    /// Whether `descriptor` was opened with `O_DIRECT`; nil if its flags cannot be read
    /// (an invalid descriptor). One `fcntl(F_GETFL)`; safe from any thread.
    public static func isDirect(_ descriptor: Int32) -> Bool? {
        let flags = spool_status_flags(descriptor)
        if flags < 0 { return nil }
        return flags & SPOOL_O_DIRECT != 0
    }
}
