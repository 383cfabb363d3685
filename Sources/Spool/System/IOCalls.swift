internal import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The data calls the portable backend makes in place of io_uring's requests — reads and
/// writes (`preadv2`/`pwritev2`), sends and receives, accept and connect without blocking, and
/// the file and path calls its worker threads block in — in one place, each returning a
/// ``CallResult`` (io_uring's completion convention).
///
/// A namespace of stateless functions: thread-safe (each call touches only what it is given).
enum IOCalls {
    // MARK: Reads and writes

    /// `preadv2` at `offset` (-1: the current position); `noWait` adds `RWF_NOWAIT` (the page
    /// cache only: `EAGAIN` when the data is not there).
    static func read(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, count: Int32, at offset: Int64, noWait: Bool) -> CallResult {
        CallResult(shim: spool_preadv(fd, iovecs, count, offset, noWait ? 1 : 0))
    }

    /// `pwritev2` at `offset` (-1: the current position); `noWait` adds `RWF_NOWAIT`.
    static func write(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, count: Int32, at offset: Int64, noWait: Bool) -> CallResult {
        CallResult(shim: spool_pwritev(fd, iovecs, count, offset, noWait ? 1 : 0))
    }

    // MARK: Sockets, without blocking

    /// `recv` with `MSG_DONTWAIT` added.
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, flags: Int32 = 0) -> CallResult {
        CallResult(libc: recv(fd, buffer, count, flags | Int32(MSG_DONTWAIT)))
    }

    /// `send` with `MSG_DONTWAIT` and `MSG_NOSIGNAL` added (a closed peer is `EPIPE`, never `SIGPIPE`).
    static func send(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int, flags: Int32) -> CallResult {
        CallResult(libc: Glibc.send(fd, buffer, count, flags | Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)))
    }

    /// `recvmsg` with `MSG_DONTWAIT` added.
    static func receiveMessage(_ fd: Int32, _ message: UnsafeMutablePointer<msghdr>, flags: Int32) -> CallResult {
        CallResult(libc: recvmsg(fd, message, flags | Int32(MSG_DONTWAIT)))
    }

    /// `sendmsg` with `MSG_DONTWAIT` and `MSG_NOSIGNAL` added.
    static func sendMessage(_ fd: Int32, _ message: UnsafePointer<msghdr>, flags: Int32) -> CallResult {
        CallResult(libc: sendmsg(fd, message, flags | Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)))
    }

    /// `accept4` with `SOCK_CLOEXEC` (the listener must be non-blocking): the new descriptor.
    static func accept(_ fd: Int32, address: UnsafeMutableRawPointer?, length: UnsafeMutablePointer<socklen_t>?) -> CallResult {
        CallResult(rawValue: spool_accept_cloexec(fd, address, length))
    }

    /// `connect` (on a non-blocking socket: `EINPROGRESS` until it finishes; then
    /// ``socketError(_:)`` says how).
    static func connect(_ fd: Int32, to address: UnsafeRawPointer, length: socklen_t) -> CallResult {
        CallResult(libc: Int(Glibc.connect(fd, address.assumingMemoryBound(to: sockaddr.self), length)))
    }

    /// The pending error of a socket whose non-blocking connect finished (`SO_ERROR`): 0 or `-errno`.
    static func socketError(_ fd: Int32) -> CallResult {
        CallResult(rawValue: spool_socket_error(fd))
    }

    /// Whether `fd` is a stream socket (`SO_TYPE`); false if it is no socket.
    static func isStreamSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == Int32(SOCK_STREAM.rawValue)
    }

    /// Whether a read of `fd` that returns fewer bytes than asked means nothing is left: a TCP
    /// socket (until an urgent byte: the caller watches for it) or a pipe not in packet mode.
    /// Not a Unix socket (a read stops after a chunk carrying descriptors or new credentials),
    /// a terminal (at a line's end), a packet pipe (at a packet's end) or anything else.
    static func shortReadDrains(_ fd: Int32) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        switch st.st_mode & S_IFMT {
        case S_IFIFO:
            return !DescriptorCalls.isDirect(fd)
        case S_IFSOCK:
            guard isStreamSocket(fd) else { return false }
            var domain: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 else { return false }
            return domain == AF_INET || domain == AF_INET6
        default:
            return false
        }
    }

    // MARK: Files and paths (these block: worker threads only)

    static func sync(_ fd: Int32, dataOnly: Bool) -> CallResult { CallResult(rawValue: spool_fsync(fd, dataOnly ? 1 : 0)) }

    static func allocate(_ fd: Int32, mode: Int32, offset: UInt64, length: UInt64) -> CallResult {
        CallResult(rawValue: spool_fallocate(fd, mode, offset, length))
    }

    static func open(at directory: Int32, _ path: UnsafePointer<CChar>, flags: Int32, mode: mode_t) -> CallResult {
        CallResult(rawValue: spool_openat(directory, path, flags, UInt32(mode)))
    }

    static func status(at directory: Int32, _ path: UnsafePointer<CChar>, flags: Int32, mask: UInt32, into buffer: UnsafeMutableRawPointer) -> CallResult {
        CallResult(rawValue: spool_statx(directory, path, flags, mask, buffer))
    }

    static func unlink(at directory: Int32, _ path: UnsafePointer<CChar>, flags: Int32) -> CallResult {
        CallResult(rawValue: spool_unlinkat(directory, path, flags))
    }

    static func rename(_ from: UnsafePointer<CChar>, to: UnsafePointer<CChar>) -> CallResult {
        CallResult(rawValue: spool_renameat(from, to))
    }

    static func makeDirectory(at directory: Int32, _ path: UnsafePointer<CChar>, mode: mode_t) -> CallResult {
        CallResult(rawValue: spool_mkdirat(directory, path, UInt32(mode)))
    }
}
