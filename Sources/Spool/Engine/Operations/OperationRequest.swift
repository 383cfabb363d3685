internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What one operation asks the kernel to do: everything needed to prepare its SQE, held
/// in the operation's slot until it is admitted (so waiting costs no closure allocation).
///
/// The pointers belong to the caller, who is suspended until the operation's final
/// completion; they stay valid for that whole time (DESIGN.md contract 1).
package enum OperationRequest: @unchecked Sendable {  // pointers into memory the suspended caller owns
    case nop
    case read(fd: Int32, buffer: UnsafeMutableRawPointer, count: UInt32, offset: UInt64)
    case write(fd: Int32, buffer: UnsafeRawPointer, count: UInt32, offset: UInt64)
    case readVector(fd: Int32, iovecs: UnsafePointer<iovec>, count: Int, offset: UInt64)
    case writeVector(fd: Int32, iovecs: UnsafePointer<iovec>, count: Int, offset: UInt64)
    case fsync(fd: Int32, dataOnly: Bool)
    case fallocate(fd: Int32, mode: Int32, offset: UInt64, length: UInt64)
    case openAt(directory: Int32, path: UnsafePointer<CChar>, flags: Int32, mode: mode_t)
    case close(fd: Int32)
    case statx(directory: Int32, path: UnsafePointer<CChar>, flags: Int32, mask: UInt32, buffer: UnsafeMutableRawPointer)
    case unlinkAt(directory: Int32, path: UnsafePointer<CChar>, flags: Int32)
    case renameAt(from: UnsafePointer<CChar>, to: UnsafePointer<CChar>)
    case mkdirAt(directory: Int32, path: UnsafePointer<CChar>, mode: mode_t)
    /// Accepts a connection on listening socket `fd`; the peer's address goes to `address`
    /// (`length` in and out) when given. Completes with the new descriptor (close-on-exec).
    case accept(fd: Int32, address: UnsafeMutableRawPointer?, length: UnsafeMutablePointer<socklen_t>?)
    /// Connects `fd` to the `sockaddr` at `address`.
    case connect(fd: Int32, address: UnsafeRawPointer, length: socklen_t)
    /// Sends `count` bytes (`MSG_NOSIGNAL` is added: a closed peer is `EPIPE`, never `SIGPIPE`).
    case send(fd: Int32, buffer: UnsafeRawPointer, count: UInt32, flags: Int32)
    /// Receives up to `count` bytes.
    case receive(fd: Int32, buffer: UnsafeMutableRawPointer, count: UInt32, flags: Int32)
    /// `shutdown(fd, how)`.
    case shutdownSocket(fd: Int32, how: Int32)
    /// A multishot accept: one completion per connection (close-on-exec) while `F_MORE` is set.
    /// Runs with a ``CompletionConsumer`` instead of a suspended caller.
    case acceptMultishot(fd: Int32)
    /// A multishot receive into buffers of provided-buffer group `group`: one completion per
    /// filled buffer while `F_MORE` is set, ending after `limit` bytes (0: no limit). Runs
    /// with a ``CompletionConsumer``.
    case receiveMultishot(fd: Int32, group: UInt16, limit: UInt32)
    /// A multishot `recvmsg` into buffers of group `group`; `message` gives only the name and
    /// control lengths reserved at the start of each buffer. Runs with a ``CompletionConsumer``.
    case receiveMessageMultishot(fd: Int32, message: UnsafeMutablePointer<msghdr>, group: UInt16)
    /// `sendmsg` of the `msghdr` at `message` (`MSG_NOSIGNAL` is added).
    case sendMessage(fd: Int32, message: UnsafePointer<msghdr>, flags: Int32)
    /// `recvmsg` into the `msghdr` at `message`.
    case receiveMessage(fd: Int32, message: UnsafeMutablePointer<msghdr>, flags: Int32)
    /// A zero-copy send (`MSG_NOSIGNAL` is added): two completions, the result (with `F_MORE`)
    /// and the notification that the kernel no longer reads the buffer. The caller resumes
    /// after the second, so its buffer stays borrowed until the kernel is done with it.
    case sendZeroCopy(fd: Int32, buffer: UnsafeRawPointer, count: UInt32, flags: Int32)
    /// The parent of a batch: never submitted itself; it collects its parts' results.
    case batch
    /// A sleep until `deadline` on the ring's timing wheel: never submitted to the kernel.
    case timer(deadline: StoredInstant)

    /// Whether the request waits on a peer (a connection to accept, data to receive, room in
    /// the peer's window, a handshake): it may wait indefinitely, and its completion may depend
    /// on other requests of the same process, so it does not count against the ring's in-flight
    /// cap (capping it could deadlock: a server's accept queued behind its clients' reads).
    var waitsOnPeer: Bool {
        switch self {
        case .accept, .connect, .receive, .send, .acceptMultishot, .receiveMultishot, .receiveMessageMultishot, .sendMessage,
             .receiveMessage, .sendZeroCopy:
            return true
        default: return false
        }
    }

    /// Whether the request accepts connections (new work a draining runtime refuses).
    var isAccept: Bool {
        switch self {
        case .accept, .acceptMultishot: return true
        default: return false
        }
    }

    /// What kind of submission this request makes (fault-injection tests target kinds).
    var site: SubmitSite { if case .close = self { return .close } else { return .operation } }

    /// Fills `sqe` for this request (one `prepare…` call per opcode, in the ring layer).
    func prepare(_ sqe: SubmissionQueueEntry) {
        switch self {
        case .nop:
            sqe.prepareNop()
        case .read(let fd, let buffer, let count, let offset):
            sqe.prepareRead(FileDescriptor(rawValue: fd), into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(count)), offset: offset)
        case .write(let fd, let buffer, let count, let offset):
            sqe.prepareWrite(FileDescriptor(rawValue: fd), from: UnsafeRawBufferPointer(start: buffer, count: Int(count)), offset: offset)
        case .readVector(let fd, let iovecs, let count, let offset):
            sqe.prepareReadVector(FileDescriptor(rawValue: fd), iovecs: iovecs, count: count, offset: offset)
        case .writeVector(let fd, let iovecs, let count, let offset):
            sqe.prepareWriteVector(FileDescriptor(rawValue: fd), iovecs: iovecs, count: count, offset: offset)
        case .fsync(let fd, let dataOnly):
            sqe.prepareFsync(FileDescriptor(rawValue: fd), dataOnly: dataOnly)
        case .fallocate(let fd, let mode, let offset, let length):
            sqe.prepareFallocate(FileDescriptor(rawValue: fd), mode: mode, offset: offset, length: length)
        case .openAt(let directory, let path, let flags, let mode):
            sqe.prepareOpenAt(FileDescriptor(rawValue: directory), path: path, flags: flags, mode: mode)
        case .close(let fd):
            sqe.prepareClose(FileDescriptor(rawValue: fd))
        case .statx(let directory, let path, let flags, let mask, let buffer):
            sqe.prepareStatx(FileDescriptor(rawValue: directory), path: path, flags: flags, mask: mask, into: buffer)
        case .unlinkAt(let directory, let path, let flags):
            sqe.prepareUnlinkAt(FileDescriptor(rawValue: directory), path: path, flags: flags)
        case .renameAt(let from, let to):
            sqe.prepareRenameAt(FileDescriptor(rawValue: AT_FDCWD), oldPath: from, FileDescriptor(rawValue: AT_FDCWD), newPath: to)
        case .mkdirAt(let directory, let path, let mode):
            sqe.prepareMkdirAt(FileDescriptor(rawValue: directory), path: path, mode: mode)
        case .accept(let fd, let address, let length):
            sqe.prepareAccept(FileDescriptor(rawValue: fd), address: address, length: length)
        case .connect(let fd, let address, let length):
            sqe.prepareConnect(FileDescriptor(rawValue: fd), address: address, length: length)
        case .send(let fd, let buffer, let count, let flags):
            sqe.prepareSend(FileDescriptor(rawValue: fd), from: UnsafeRawBufferPointer(start: buffer, count: Int(count)), flags: flags | Int32(MSG_NOSIGNAL))
        case .receive(let fd, let buffer, let count, let flags):
            sqe.prepareReceive(FileDescriptor(rawValue: fd), into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(count)), flags: flags)
        case .shutdownSocket(let fd, let how):
            sqe.prepareShutdown(FileDescriptor(rawValue: fd), how: how)
        case .acceptMultishot(let fd):
            sqe.prepareAccept(FileDescriptor(rawValue: fd), multishot: true)
        // Not poll-first (IORING_RECVSEND_POLL_FIRST): with it, a connection whose peer sent
        // bytes and reset left its armed receive unended, so its task and descriptor leaked
        // (Benchmarks/soak.py with resets). Without it an idle receive on a dry pool fails with
        // ENOBUFS at once, so the pool wakes every waiting receive on io_uring (see
        // BufferPool.giveBack).
        case .receiveMultishot(let fd, let group, let limit):
            sqe.prepareReceive(FileDescriptor(rawValue: fd), bufferGroup: group, multishot: true, totalLimit: limit)
        case .receiveMessageMultishot(let fd, let message, let group):
            sqe.prepareReceiveMessage(FileDescriptor(rawValue: fd), message: message, bufferGroup: group, multishot: true)
        case .sendMessage(let fd, let message, let flags):
            sqe.prepareSendMessage(FileDescriptor(rawValue: fd), message: message, flags: flags | Int32(MSG_NOSIGNAL))
        case .receiveMessage(let fd, let message, let flags):
            sqe.prepareReceiveMessage(FileDescriptor(rawValue: fd), message: message, flags: flags)
        case .sendZeroCopy(let fd, let buffer, let count, let flags):
            sqe.prepareSendZeroCopy(FileDescriptor(rawValue: fd), from: UnsafeRawBufferPointer(start: buffer, count: Int(count)), flags: flags | Int32(MSG_NOSIGNAL))
        case .batch, .timer:
            sqe.prepareNop()  // never submitted: a batch's parent collects its parts; a timer waits in the wheel
        }
    }
}
