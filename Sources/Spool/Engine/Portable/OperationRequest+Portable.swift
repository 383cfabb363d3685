internal import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How the portable backend carries out each request (README, *Backends*).
///
/// - Socket and pipe requests are tried at once without blocking (`MSG_DONTWAIT`,
///   `RWF_NOWAIT`, a non-blocking listener); `EAGAIN` makes them wait for readiness in epoll.
/// - Reads and writes of regular files are tried against the page cache (`RWF_NOWAIT`) and go
///   to a worker thread when they would wait for the device.
/// - Opens, syncs, allocation, `statx` and path operations run on a worker thread.
/// - Close and shutdown run inline (they never wait for a peer).
extension OperationRequest {
    /// Where a request goes first on the portable backend.
    enum PortableRoute {
        /// Done inline, at once (no wait possible).
        case inline
        /// Tried at once; waits for `fd` to become readable (or writable) when it would block.
        case readiness(fd: Int32, write: Bool)
        /// A blocking call on a worker thread.
        case worker
    }

    var portableRoute: PortableRoute {
        switch self {
        case .nop, .batch, .timer, .close, .shutdownSocket: return .inline
        case .read(let fd, _, _, _), .readVector(let fd, _, _, _), .receive(let fd, _, _, _), .receiveMessage(let fd, _, _),
             .accept(let fd, _, _), .acceptMultishot(let fd), .receiveMultishot(let fd, _, _), .receiveMessageMultishot(let fd, _, _):
            return .readiness(fd: fd, write: false)
        case .write(let fd, _, _, _), .writeVector(let fd, _, _, _), .send(let fd, _, _, _), .sendMessage(let fd, _, _),
             .sendZeroCopy(let fd, _, _, _), .connect(let fd, _, _):
            return .readiness(fd: fd, write: true)
        case .fsync, .fallocate, .openAt, .statx, .unlinkAt, .renameAt, .mkdirAt:
            return .worker
        }
    }

    /// The file offset a read or write names, as `preadv2` takes it (-1: the current position;
    /// `stream`: the descriptor cannot seek, so the offset is ignored, as io_uring does).
    private static func position(_ offset: UInt64, stream: Bool) -> Int64 {
        stream || offset == SubmissionQueueEntryOffset.current ? -1 : Int64(bitPattern: offset)
    }

    /// One non-blocking attempt of a single-shot readiness request: its result (a count, a
    /// descriptor, 0) or `-errno` (`-EAGAIN`: not ready). `blockingRetry`: the descriptor does
    /// not take `RWF_NOWAIT` and epoll said it is ready, so a plain call is made. `stream`:
    /// offsets are ignored.
    func attemptWithoutBlocking(blockingRetry: Bool = false, stream: Bool = false) -> Int32 {
        let nowait: Int32 = blockingRetry ? 0 : 1
        switch self {
        case .read(let fd, let buffer, let count, let offset):
            var v = iovec(iov_base: buffer, iov_len: Int(count))
            return Self.clamp(spool_preadv(fd, &v, 1, Self.position(offset, stream: stream), nowait))
        case .readVector(let fd, let iovecs, let count, let offset):
            return Self.clamp(spool_preadv(fd, iovecs, Int32(count), Self.position(offset, stream: stream), nowait))
        case .write(let fd, let buffer, let count, let offset):
            var v = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer), iov_len: Int(count))
            return Self.clamp(spool_pwritev(fd, &v, 1, Self.position(offset, stream: stream), nowait))
        case .writeVector(let fd, let iovecs, let count, let offset):
            return Self.clamp(spool_pwritev(fd, iovecs, Int32(count), Self.position(offset, stream: stream), nowait))
        case .receive(let fd, let buffer, let count, let flags):
            return Self.result(recv(fd, buffer, Int(count), flags | Int32(MSG_DONTWAIT)))
        case .send(let fd, let buffer, let count, let flags), .sendZeroCopy(let fd, let buffer, let count, let flags):
            return Self.result(Glibc.send(fd, buffer, Int(count), flags | Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)))
        case .sendMessage(let fd, let message, let flags):
            return Self.result(sendmsg(fd, message, flags | Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)))
        case .receiveMessage(let fd, let message, let flags):
            return Self.result(recvmsg(fd, message, flags | Int32(MSG_DONTWAIT)))
        case .accept(let fd, let address, let length):
            return spool_accept_cloexec(fd, address, length)
        case .acceptMultishot(let fd):
            return spool_accept_cloexec(fd, nil, nil)
        case .connect(let fd, let address, let length):
            let r = Glibc.connect(fd, address.assumingMemoryBound(to: sockaddr.self), length)
            return r < 0 ? -errno : 0
        default:
            return -EINVAL  // not a single-shot readiness request
        }
    }

    /// Runs the request to its end, blocking the calling thread (a worker thread): its result
    /// or `-errno`.
    func runBlocking() -> Int32 {
        switch self {
        case .read, .readVector, .write, .writeVector:
            return attemptWithoutBlocking(blockingRetry: true)
        case .fsync(let fd, let dataOnly):
            return spool_fsync(fd, dataOnly ? 1 : 0)
        case .fallocate(let fd, let mode, let offset, let length):
            return spool_fallocate(fd, mode, offset, length)
        case .openAt(let directory, let path, let flags, let mode):
            return spool_openat(directory, path, flags, UInt32(mode))
        case .statx(let directory, let path, let flags, let mask, let buffer):
            return spool_statx(directory, path, flags, mask, buffer)
        case .unlinkAt(let directory, let path, let flags):
            return spool_unlinkat(directory, path, flags)
        case .renameAt(let from, let to):
            return spool_renameat(from, to)
        case .mkdirAt(let directory, let path, let mode):
            return spool_mkdirat(directory, path, UInt32(mode))
        case .close(let fd):
            return Glibc.close(fd) < 0 ? -errno : 0  // a file's close may flush: on a worker
        default:
            return -EINVAL
        }
    }

    private static func result(_ r: Int) -> Int32 { r < 0 ? -errno : Int32(clamping: r) }
    private static func clamp(_ r: Int64) -> Int32 { Int32(clamping: r) }
}

/// The offset that means "the current file position" (`SubmissionQueueEntry.currentPosition`).
enum SubmissionQueueEntryOffset {
    static let current: UInt64 = .max
}
