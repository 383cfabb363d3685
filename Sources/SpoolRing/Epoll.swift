import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An epoll instance: the portable backend's way of waiting for descriptors to become ready
/// (where io_uring is refused).
///
/// Registrations carry the descriptor number as their data. ``wait(timeout:)`` fills an
/// internal buffer of up to 256 events, read back with ``event(_:)``.
///
/// **Thread-safety:** none; owned by one ring thread. **Lifetime:** closes its descriptor when
/// dropped, or earlier with ``close()``.
public final class Epoll {
    /// Readiness and registration bits (`EPOLL*`). A plain value: `Sendable`.
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: SPOOL_EPOLLIN)
        public static let writable = Events(rawValue: SPOOL_EPOLLOUT)
        public static let error = Events(rawValue: SPOOL_EPOLLERR)
        public static let hangUp = Events(rawValue: SPOOL_EPOLLHUP)
        public static let readHangUp = Events(rawValue: SPOOL_EPOLLRDHUP)
        /// Exceptional data: a TCP socket's urgent byte (`MSG_OOB`).
        public static let priority = Events(rawValue: SPOOL_EPOLLPRI)
        public static let edgeTriggered = Events(rawValue: SPOOL_EPOLLET)
        /// Reported once, then disabled until re-armed with ``Epoll/modify(_:_:)``.
        public static let oneShot = Events(rawValue: SPOOL_EPOLLONESHOT)
    }

    /// The epoll descriptor.
    public let descriptor: FileDescriptor
    /// The most events one wait returns.
    public static let capacity = 256
    private let fds = UnsafeMutablePointer<Int32>.allocate(capacity: Epoll.capacity)
    private let bits = UnsafeMutablePointer<UInt32>.allocate(capacity: Epoll.capacity)

    /// Creates the instance (close-on-exec).
    /// - Throws: the `Errno` of `epoll_create1`.
    public init() throws(Errno) {
        let fd = spool_epoll_create()
        guard fd >= 0 else {
            fds.deallocate()
            bits.deallocate()
            throw Errno(rawValue: -fd)
        }
        descriptor = FileDescriptor(rawValue: fd)
    }

    /// Whether ``close()`` has closed the descriptor.
    public private(set) var isClosed = false

    deinit {
        close()
    }

    /// Closes the epoll descriptor now and frees the event buffer, for an owner that outlives
    /// its use of the instance. Afterwards registrations and waits fail with `EBADF`, and the
    /// number (which the process may reuse) is never touched again.
    public func close() {
        if isClosed { return }
        isClosed = true
        _ = Glibc.close(descriptor.rawValue)
        fds.deallocate()
        bits.deallocate()
    }

    /// Registers `fd` for `events` (owner thread). Throws `EPERM` for a descriptor epoll cannot watch (a
    /// regular file or a directory), `EEXIST` if it is registered already.
    public func add(_ fd: Int32, _ events: Events) throws(Errno) {
        if isClosed { throw .badFileDescriptor }
        let r = spool_epoll_ctl(descriptor.rawValue, 0, fd, events.rawValue)
        if r < 0 { throw Errno(rawValue: -r) }
    }

    /// Changes `fd`'s interest (owner thread; re-arms a one-shot registration). Throws `ENOENT` if `fd` is not
    /// registered (a descriptor closed and its number reused drops the registration).
    public func modify(_ fd: Int32, _ events: Events) throws(Errno) {
        if isClosed { throw .badFileDescriptor }
        let r = spool_epoll_ctl(descriptor.rawValue, 1, fd, events.rawValue)
        if r < 0 { throw Errno(rawValue: -r) }
    }

    /// Removes `fd` (owner thread; errors ignored: a closed descriptor is already gone).
    public func remove(_ fd: Int32) {
        if isClosed { return }
        _ = spool_epoll_ctl(descriptor.rawValue, 2, fd, 0)
    }

    /// Waits (owner thread) until some registered descriptor is ready or `timeout` passes (`nil`: no bound;
    /// `.zero`: do not wait). Returns the number of events (0 on timeout or `EINTR`).
    /// - Throws: any other `Errno` of the wait.
    public func wait(timeout: Duration?) throws(Errno) -> Int {
        if isClosed { throw .badFileDescriptor }
        var nanoseconds: Int64 = -1
        if let timeout {
            let (s, atto) = timeout.components
            if s < 0 || (s == 0 && atto <= 0) {
                nanoseconds = 0
            } else {
                let total = s.multipliedReportingOverflow(by: 1_000_000_000)
                nanoseconds = total.overflow ? Int64.max / 2 : total.partialValue &+ (atto + 999_999_999) / 1_000_000_000
            }
        }
        let n = spool_epoll_wait(descriptor.rawValue, fds, bits, Int32(Epoll.capacity), nanoseconds)
        if n >= 0 { return Int(n) }
        if n == -EINTR { return 0 }
        throw Errno(rawValue: -n)
    }

    /// Event `i` of the last wait: the descriptor and its ready bits (owner thread; valid until
    /// the next wait).
    public func event(_ i: Int) -> (fd: Int32, events: Events) {
        precondition(i >= 0 && i < Epoll.capacity, "event index \(i) out of range")
        if isClosed { return (-1, []) }
        return (fds[i], Events(rawValue: bits[i]))
    }
}
