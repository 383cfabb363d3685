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
    /// descriptor, 0) or its error (`EAGAIN`: not ready). `blockingRetry`: the descriptor does
    /// not take `RWF_NOWAIT` and epoll said it is ready, so a plain call is made. `stream`:
    /// offsets are ignored.
    func attemptWithoutBlocking(blockingRetry: Bool = false, stream: Bool = false) -> CallResult {
        let noWait = !blockingRetry
        switch self {
        case .read(let fd, let buffer, let count, let offset):
            var v = iovec(iov_base: buffer, iov_len: Int(count))
            return IOCalls.read(fd, &v, count: 1, at: Self.position(offset, stream: stream), noWait: noWait)
        case .readVector(let fd, let iovecs, let count, let offset):
            return IOCalls.read(fd, iovecs, count: Int32(count), at: Self.position(offset, stream: stream), noWait: noWait)
        case .write(let fd, let buffer, let count, let offset):
            var v = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer), iov_len: Int(count))
            return IOCalls.write(fd, &v, count: 1, at: Self.position(offset, stream: stream), noWait: noWait)
        case .writeVector(let fd, let iovecs, let count, let offset):
            return IOCalls.write(fd, iovecs, count: Int32(count), at: Self.position(offset, stream: stream), noWait: noWait)
        case .receive(let fd, let buffer, let count, let flags):
            return IOCalls.receive(fd, into: buffer, count: Int(count), flags: flags)
        case .send(let fd, let buffer, let count, let flags), .sendZeroCopy(let fd, let buffer, let count, let flags):
            return IOCalls.send(fd, from: buffer, count: Int(count), flags: flags)
        case .sendMessage(let fd, let message, let flags):
            return IOCalls.sendMessage(fd, message, flags: flags)
        case .receiveMessage(let fd, let message, let flags):
            return IOCalls.receiveMessage(fd, message, flags: flags)
        case .accept(let fd, let address, let length):
            return IOCalls.accept(fd, address: address, length: length)
        case .acceptMultishot(let fd):
            return IOCalls.accept(fd, address: nil, length: nil)
        case .connect(let fd, let address, let length):
            return IOCalls.connect(fd, to: address, length: length)
        default:
            return .failure(.invalidArgument)  // not a single-shot readiness request
        }
    }

    /// Runs the request to its end, blocking the calling thread (a worker thread).
    func runBlocking() -> CallResult {
        switch self {
        case .read, .readVector, .write, .writeVector:
            return attemptWithoutBlocking(blockingRetry: true)
        case .fsync(let fd, let dataOnly):
            return IOCalls.sync(fd, dataOnly: dataOnly)
        case .fallocate(let fd, let mode, let offset, let length):
            return IOCalls.allocate(fd, mode: mode, offset: offset, length: length)
        case .openAt(let directory, let path, let flags, let mode):
            return IOCalls.open(at: directory, path, flags: flags, mode: mode)
        case .statx(let directory, let path, let flags, let mask, let buffer):
            return IOCalls.status(at: directory, path, flags: flags, mask: mask, into: buffer)
        case .unlinkAt(let directory, let path, let flags):
            return IOCalls.unlink(at: directory, path, flags: flags)
        case .renameAt(let from, let to):
            return IOCalls.rename(from, to: to)
        case .mkdirAt(let directory, let path, let mode):
            return IOCalls.makeDirectory(at: directory, path, mode: mode)
        case .close(let fd):
            return DescriptorCalls.close(fd)  // a file's close may flush: on a worker
        default:
            return .failure(.invalidArgument)
        }
    }
}

extension OperationRequest {
    /// The descriptor a readiness request waits on.
    var portableDescriptor: Int32? {
        if case .readiness(let fd, _) = portableRoute { return fd }
        return nil
    }

    /// The bytes a plain read or receive asks for (the short-read hint), else nil.
    var streamReadCount: Int? {
        switch self {
        case .read(_, _, let count, _), .receive(_, _, let count, _): return Int(count)
        default: return nil
        }
    }

    /// A read or write with a file offset (`preadv2`/`pwritev2`).
    var isPositional: Bool {
        switch self {
        case .read, .readVector, .write, .writeVector: return true
        default: return false
        }
    }
}

/// The offset that means "the current file position" (`SubmissionQueueEntry.currentPosition`).
enum SubmissionQueueEntryOffset {
    static let current: UInt64 = .max
}
