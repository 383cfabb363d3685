import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An eventfd: a kernel counter that can wake a ring (register it with
/// ``Ring/registerEventFD(_:)``, or arm a read of it on the ring).
///
/// **Thread-safety:** ``signal(_:)`` may be called from any thread while the owner keeps
/// the value alive. **Lifetime:** `~Copyable`; the descriptor is closed when the value is
/// dropped, on whatever thread drops it.
public struct EventFD: ~Copyable {
    /// The eventfd's descriptor.
    public let descriptor: FileDescriptor

    /// Creates an eventfd (`EFD_CLOEXEC`, and `EFD_NONBLOCK` if `nonBlocking`).
    public init(initialValue: UInt32 = 0, nonBlocking: Bool = true) throws(Errno) {
        let flags = SPOOL_EFD_CLOEXEC | (nonBlocking ? SPOOL_EFD_NONBLOCK : 0)
        let fd = spool_eventfd(initialValue, flags)
        if fd < 0 { throw Errno(rawValue: -fd) }
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { close(descriptor.rawValue) }

    /// Gives up ownership: returns the descriptor without closing it. The caller closes it.
    public consuming func releaseDescriptor() -> FileDescriptor {
        let d = descriptor
        discard self
        return d
    }

    /// Adds `value` to the counter, waking whoever waits on it.
    public func signal(_ value: UInt64 = 1) throws(Errno) {
        var v = value
        while true {
            let n = write(descriptor.rawValue, &v, 8)
            if n == 8 { return }
            let e = Errno(rawValue: Glibc.errno)
            if e != .interrupted { throw e }
        }
    }

    /// Reads and resets the counter; `EAGAIN` when it is zero and the eventfd is non-blocking.
    public func consume() throws(Errno) -> UInt64 {
        var v: UInt64 = 0
        while true {
            let n = read(descriptor.rawValue, &v, 8)
            if n == 8 { return v }
            let e = Errno(rawValue: Glibc.errno)
            if e != .interrupted { throw e }
        }
    }
}
