internal import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The descriptor calls of the executor and its backends — closing, the eventfd counters,
/// readiness, status flags — in one place, each with a typed result.
///
/// A namespace of stateless functions: thread-safe. Closes of descriptors that other Spool code
/// may watch go through ``DescriptorClose`` (which bumps the number's close epoch around this).
enum DescriptorCalls {
    /// `close(2)`.
    static func close(_ fd: Int32) -> CallResult {
        CallResult(libc: Int(Glibc.close(fd)))
    }

    /// `shutdown(2)` of a socket, in direction `how` (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
    static func shutdown(_ fd: Int32, how: Int32) -> CallResult {
        CallResult(libc: Int(Glibc.shutdown(fd, how)))
    }

    /// Adds one to an eventfd's counter (a wake); never blocks short of 2⁶⁴ − 2 pending wakes.
    static func signalCounter(_ fd: Int32) -> CallResult {
        var one: UInt64 = 1
        return CallResult(libc: Glibc.write(fd, &one, 8))
    }

    /// Reads (and so resets) a readable eventfd's counter.
    static func resetCounter(_ fd: Int32) -> CallResult {
        var value: UInt64 = 0
        return CallResult(libc: Glibc.read(fd, &value, 8))
    }

    /// Whether a call on `fd` in that direction would not block now (`poll` with no wait).
    static func isReady(_ fd: Int32, write: Bool) -> Bool {
        var p = pollfd(fd: fd, events: Int16(write ? POLLOUT : POLLIN), revents: 0)
        return Glibc.poll(&p, 1, 0) == 1
    }

    /// Whether `fd` names an open descriptor (`fcntl(F_GETFL)` succeeds).
    static func isOpen(_ fd: Int32) -> Bool { spool_status_flags(fd) >= 0 }

    /// Whether `fd` was opened with `O_DIRECT` (false if its flags cannot be read).
    static func isDirect(_ fd: Int32) -> Bool {
        let flags = spool_status_flags(fd)
        return flags >= 0 && flags & SPOOL_O_DIRECT != 0
    }

    /// Sets or clears `O_NONBLOCK`: whether it was set before (1 or 0), or `-errno`.
    static func setNonBlocking(_ fd: Int32, _ on: Bool) -> CallResult {
        CallResult(rawValue: spool_set_nonblocking(fd, on ? 1 : 0))
    }
}
