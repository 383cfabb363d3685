import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One submission-queue entry, borrowed from a ``Ring`` between
/// ``Ring/nextSubmission()`` and the next ``Ring/submit(waitingFor:timeout:)``.
///
/// **Lifetime:** the entry points into the ring's shared memory. Prepare it with exactly
/// one `prepare…` function (named after the kernel opcode, one per opcode), set
/// ``userData`` and ``flags``, and do not keep it past the next submit.
/// Every pointer handed to a `prepare…` function must stay valid until the request's
/// final completion has been reaped: the kernel reads or writes it asynchronously.
///
/// **Thread-safety:** owned by the ring's thread, like the ring.
@frozen
public struct SubmissionQueueEntry {
    @usableFromInline let sqe: UnsafeMutablePointer<spool_uring_sqe>

    @inlinable
    init(_ sqe: UnsafeMutablePointer<spool_uring_sqe>) { self.sqe = sqe }

    /// Pass `currentPosition` as the offset of a read or write to use (and advance) the file position.
    public static let currentPosition: UInt64 = .max

    /// The value the completion carries back.
    @inlinable
    public var userData: UInt64 {
        get { sqe.pointee.user_data }
        nonmutating set { sqe.pointee.user_data = newValue }
    }

    /// The entry's `IOSQE_*` flags.
    @inlinable
    public var flags: SubmissionFlags {
        get { SubmissionFlags(rawValue: sqe.pointee.flags) }
        nonmutating set { sqe.pointee.flags = newValue.rawValue }
    }

    /// The opcode a `prepare…` function set.
    @inlinable
    public var opcode: Opcode { Opcode(rawValue: sqe.pointee.opcode) }

    /// Targets registered-file slot `index` instead of a descriptor (sets ``SubmissionFlags/fixedFile``).
    @inlinable
    public func useFixedFile(_ index: UInt32) {
        sqe.pointee.fd = Int32(bitPattern: index)
        flags.insert(.fixedFile)
    }

    /// The common shape of most opcodes: the opcode, a descriptor, an address, a length, an offset.
    @inlinable
    func prepare(_ op: Int32, fd: Int32, address: UInt64, length: UInt32, offset: UInt64) {
        sqe.pointee.opcode = UInt8(truncatingIfNeeded: op)
        sqe.pointee.fd = fd
        sqe.pointee.addr = address
        sqe.pointee.len = length
        sqe.pointee.off = offset
    }

    @inlinable
    static func address(_ p: UnsafeRawPointer?) -> UInt64 { UInt64(UInt(bitPattern: p)) }

    // MARK: Control

    /// `IORING_OP_NOP`: completes with result 0.
    @inlinable
    public func prepareNop() {
        prepare(IORING_OP_NOP, fd: -1, address: 0, length: 0, offset: 0)
    }

    /// `IORING_OP_ASYNC_CANCEL`: cancels the request whose `userData` matches.
    /// Completes with 0, `-ENOENT` (not found) or `-EALREADY` (already running).
    @inlinable
    public func prepareAsyncCancel(userData target: UInt64, all: Bool = false) {
        prepare(IORING_OP_ASYNC_CANCEL, fd: -1, address: target, length: 0, offset: 0)
        sqe.pointee.cancel_flags = all ? IORING_ASYNC_CANCEL_ALL : 0
    }

    /// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_FD`: cancels requests on `fd`.
    @inlinable
    public func prepareAsyncCancel(fileDescriptor fd: FileDescriptor, all: Bool = true) {
        prepare(IORING_OP_ASYNC_CANCEL, fd: fd.rawValue, address: 0, length: 0, offset: 0)
        sqe.pointee.cancel_flags = IORING_ASYNC_CANCEL_FD | (all ? IORING_ASYNC_CANCEL_ALL : 0)
    }

    /// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL`: cancels
    /// every request of the ring. Completes with the number cancelled.
    @inlinable
    public func prepareAsyncCancelEverything() {
        prepare(IORING_OP_ASYNC_CANCEL, fd: -1, address: 0, length: 0, offset: 0)
        sqe.pointee.cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL
    }

    /// `IORING_OP_TIMEOUT`: completes with `-ETIME` after `timespec`, or with 0 once
    /// `count` other completions have arrived (0: time only).
    @inlinable
    public func prepareTimeout(_ timespec: UnsafePointer<KernelTimespec>, count: UInt32 = 0, absolute: Bool = false) {
        prepare(IORING_OP_TIMEOUT, fd: -1, address: Self.address(timespec), length: 1, offset: UInt64(count))
        sqe.pointee.timeout_flags = absolute ? IORING_TIMEOUT_ABS : 0
    }

    /// `IORING_OP_TIMEOUT_REMOVE`: removes the timeout whose `userData` matches.
    @inlinable
    public func prepareTimeoutRemove(userData target: UInt64) {
        prepare(IORING_OP_TIMEOUT_REMOVE, fd: -1, address: target, length: 0, offset: 0)
    }

    /// `IORING_OP_LINK_TIMEOUT`: bounds the previous entry (which must carry ``SubmissionFlags/link``).
    @inlinable
    public func prepareLinkTimeout(_ timespec: UnsafePointer<KernelTimespec>) {
        prepare(IORING_OP_LINK_TIMEOUT, fd: -1, address: Self.address(timespec), length: 1, offset: 0)
    }

    /// `IORING_OP_MSG_RING`: posts a completion with `result` and `userData` on another ring.
    @inlinable
    public func prepareMessageRing(_ ring: FileDescriptor, result: Int32, userData data: UInt64, skipLocalCompletion: Bool = false) {
        prepare(IORING_OP_MSG_RING, fd: ring.rawValue, address: UInt64(IORING_MSG_DATA), length: UInt32(bitPattern: result), offset: data)
        sqe.pointee.msg_ring_flags = 0
        if skipLocalCompletion { flags.insert(.skipSuccessfulCompletion) }
    }

    /// `IORING_OP_POLL_ADD`: completes with the ready `poll(2)` events of `fd`.
    @inlinable
    public func preparePollAdd(_ fd: FileDescriptor, events: UInt32, multishot: Bool = false) {
        prepare(IORING_OP_POLL_ADD, fd: fd.rawValue, address: 0, length: multishot ? IORING_POLL_ADD_MULTI : 0, offset: 0)
        sqe.pointee.poll32_events = events.littleEndian
    }

    // MARK: Files

    /// `IORING_OP_READ` into `buffer` at `offset` (or ``currentPosition``).
    @inlinable
    public func prepareRead(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64) {
        prepare(IORING_OP_READ, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: offset)
    }

    /// `IORING_OP_WRITE` from `buffer` at `offset` (or ``currentPosition``).
    @inlinable
    public func prepareWrite(_ fd: FileDescriptor, from buffer: UnsafeRawBufferPointer, offset: UInt64) {
        prepare(IORING_OP_WRITE, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: offset)
    }

    /// `IORING_OP_READV` into `count` iovecs at `offset`.
    @inlinable
    public func prepareReadVector(_ fd: FileDescriptor, iovecs: UnsafePointer<iovec>, count: Int, offset: UInt64) {
        prepare(IORING_OP_READV, fd: fd.rawValue, address: Self.address(iovecs), length: UInt32(clamping: count), offset: offset)
    }

    /// `IORING_OP_WRITEV` from `count` iovecs at `offset`.
    @inlinable
    public func prepareWriteVector(_ fd: FileDescriptor, iovecs: UnsafePointer<iovec>, count: Int, offset: UInt64) {
        prepare(IORING_OP_WRITEV, fd: fd.rawValue, address: Self.address(iovecs), length: UInt32(clamping: count), offset: offset)
    }

    /// `IORING_OP_READ_FIXED` into part of registered buffer `bufferIndex`.
    @inlinable
    public func prepareReadFixed(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64, bufferIndex: UInt16) {
        prepare(IORING_OP_READ_FIXED, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: offset)
        sqe.pointee.buf_index = bufferIndex
    }

    /// `IORING_OP_WRITE_FIXED` from part of registered buffer `bufferIndex`.
    @inlinable
    public func prepareWriteFixed(_ fd: FileDescriptor, from buffer: UnsafeRawBufferPointer, offset: UInt64, bufferIndex: UInt16) {
        prepare(IORING_OP_WRITE_FIXED, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: offset)
        sqe.pointee.buf_index = bufferIndex
    }

    /// `IORING_OP_FSYNC`; `dataOnly` makes it an fdatasync.
    @inlinable
    public func prepareFsync(_ fd: FileDescriptor, dataOnly: Bool = false) {
        prepare(IORING_OP_FSYNC, fd: fd.rawValue, address: 0, length: 0, offset: 0)
        sqe.pointee.fsync_flags = dataOnly ? IORING_FSYNC_DATASYNC : 0
    }

    /// `IORING_OP_FALLOCATE`: `fallocate(fd, mode, offset, length)`.
    @inlinable
    public func prepareFallocate(_ fd: FileDescriptor, mode: Int32 = 0, offset: UInt64, length: UInt64) {
        prepare(IORING_OP_FALLOCATE, fd: fd.rawValue, address: length, length: UInt32(bitPattern: mode), offset: offset)
    }

    /// `IORING_OP_OPENAT`: `openat(directory, path, flags, mode)`; completes with the new descriptor.
    /// With `fileIndex`, the file goes into that registered slot instead (or any free one
    /// with `IORING_FILE_INDEX_ALLOC`), and the result is the slot.
    @inlinable
    public func prepareOpenAt(
        _ directory: FileDescriptor, path: UnsafePointer<CChar>, flags openFlags: Int32, mode: mode_t = 0, fileIndex: UInt32? = nil
    ) {
        prepare(IORING_OP_OPENAT, fd: directory.rawValue, address: Self.address(path), length: UInt32(mode), offset: 0)
        sqe.pointee.open_flags = UInt32(bitPattern: openFlags)
        if let fileIndex { sqe.pointee.file_index = fileIndex == IORING_FILE_INDEX_ALLOC ? fileIndex : fileIndex + 1 }
    }

    /// `IORING_OP_CLOSE` of a descriptor.
    @inlinable
    public func prepareClose(_ fd: FileDescriptor) {
        prepare(IORING_OP_CLOSE, fd: fd.rawValue, address: 0, length: 0, offset: 0)
    }

    /// `IORING_OP_CLOSE` of registered-file slot `index`.
    @inlinable
    public func prepareCloseFixed(_ index: UInt32) {
        prepare(IORING_OP_CLOSE, fd: 0, address: 0, length: 0, offset: 0)
        sqe.pointee.file_index = index + 1
    }

    /// `IORING_OP_STATX`: `statx(directory, path, flags, mask, buffer)`; `buffer` points at a `struct statx`.
    @inlinable
    public func prepareStatx(
        _ directory: FileDescriptor, path: UnsafePointer<CChar>, flags statxFlags: Int32, mask: UInt32, into buffer: UnsafeMutableRawPointer
    ) {
        prepare(IORING_OP_STATX, fd: directory.rawValue, address: Self.address(path), length: mask, offset: Self.address(buffer))
        sqe.pointee.statx_flags = UInt32(bitPattern: statxFlags)
    }

    /// `IORING_OP_UNLINKAT`: `unlinkat(directory, path, flags)` (`AT_REMOVEDIR` removes a directory).
    @inlinable
    public func prepareUnlinkAt(_ directory: FileDescriptor, path: UnsafePointer<CChar>, flags unlinkFlags: Int32 = 0) {
        prepare(IORING_OP_UNLINKAT, fd: directory.rawValue, address: Self.address(path), length: 0, offset: 0)
        sqe.pointee.unlink_flags = UInt32(bitPattern: unlinkFlags)
    }

    /// `IORING_OP_RENAMEAT`: `renameat2(oldDirectory, oldPath, newDirectory, newPath, flags)`.
    @inlinable
    public func prepareRenameAt(
        _ oldDirectory: FileDescriptor, oldPath: UnsafePointer<CChar>,
        _ newDirectory: FileDescriptor, newPath: UnsafePointer<CChar>, flags renameFlags: UInt32 = 0
    ) {
        prepare(IORING_OP_RENAMEAT, fd: oldDirectory.rawValue, address: Self.address(oldPath),
                length: UInt32(bitPattern: newDirectory.rawValue), offset: Self.address(newPath))
        sqe.pointee.rename_flags = renameFlags
    }

    /// `IORING_OP_MKDIRAT`: `mkdirat(directory, path, mode)`.
    @inlinable
    public func prepareMkdirAt(_ directory: FileDescriptor, path: UnsafePointer<CChar>, mode: mode_t) {
        prepare(IORING_OP_MKDIRAT, fd: directory.rawValue, address: Self.address(path), length: UInt32(mode), offset: 0)
    }

    /// `IORING_OP_SPLICE`: moves `length` bytes from `input` to `output` (one of them a pipe).
    /// An offset of -1 uses (and advances) the file position; pipes take -1.
    @inlinable
    public func prepareSplice(
        from input: FileDescriptor, offset inputOffset: Int64, to output: FileDescriptor, offset outputOffset: Int64,
        length: UInt32, flags spliceFlags: UInt32 = 0
    ) {
        prepare(IORING_OP_SPLICE, fd: output.rawValue, address: UInt64(bitPattern: inputOffset), length: length,
                offset: UInt64(bitPattern: outputOffset))
        sqe.pointee.splice_fd_in = input.rawValue
        sqe.pointee.splice_flags = spliceFlags
    }

    // MARK: Sockets

    /// `IORING_OP_SOCKET`: `socket(domain, type, protocol)`; completes with the descriptor.
    @inlinable
    public func prepareSocket(domain: Int32, type: Int32, protocol proto: Int32 = 0) {
        prepare(IORING_OP_SOCKET, fd: domain, address: 0, length: UInt32(bitPattern: proto), offset: UInt64(UInt32(bitPattern: type)))
    }

    /// `IORING_OP_CONNECT` to the `sockaddr` at `address`.
    @inlinable
    public func prepareConnect(_ fd: FileDescriptor, address: UnsafeRawPointer, length: socklen_t) {
        prepare(IORING_OP_CONNECT, fd: fd.rawValue, address: Self.address(address), length: 0, offset: UInt64(length))
    }

    /// `IORING_OP_ACCEPT`; completes with the connection's descriptor. `address`/`length`
    /// (both or neither) receive the peer. With `multishot`, one request keeps accepting and
    /// posts a completion per connection while ``Completion/hasMore`` is set.
    @inlinable
    public func prepareAccept(
        _ fd: FileDescriptor, address: UnsafeMutableRawPointer? = nil, length: UnsafeMutablePointer<socklen_t>? = nil,
        flags acceptFlags: Int32 = SOCK_CLOEXEC_VALUE, multishot: Bool = false
    ) {
        prepare(IORING_OP_ACCEPT, fd: fd.rawValue, address: Self.address(address), length: 0, offset: Self.address(length))
        sqe.pointee.accept_flags = UInt32(bitPattern: acceptFlags)
        if multishot { sqe.pointee.ioprio |= UInt16(IORING_ACCEPT_MULTISHOT) }
    }

    /// `IORING_OP_SEND` of `buffer`.
    @inlinable
    public func prepareSend(_ fd: FileDescriptor, from buffer: UnsafeRawBufferPointer, flags messageFlags: Int32 = 0) {
        prepare(IORING_OP_SEND, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
    }

    /// `IORING_OP_RECV` into `buffer`.
    @inlinable
    public func prepareReceive(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, flags messageFlags: Int32 = 0) {
        prepare(IORING_OP_RECV, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
    }

    /// `IORING_OP_RECV` with ``SubmissionFlags/bufferSelect``: the kernel picks a buffer from
    /// provided-buffer group `group` (see ``Completion/bufferID``). With `multishot`, one
    /// request keeps receiving while ``Completion/hasMore`` is set.
    ///
    /// `totalLimit` (multishot only; 0: none) ends the request, with a final completion, once
    /// it has received that many bytes (`sqe->optlen`; Linux 6.16+, older kernels fail the
    /// request with `-EINVAL`): it bounds how many buffers one arm can take from the group.
    ///
    /// `pollFirst` (`IORING_RECVSEND_POLL_FIRST`, Linux 5.19+) waits for the socket to be
    /// readable before picking a buffer: an `-ENOBUFS` then means bytes are waiting and the
    /// group is empty, not merely that the group was empty when the request was armed.
    @inlinable
    public func prepareReceive(
        _ fd: FileDescriptor, bufferGroup group: UInt16, flags messageFlags: Int32 = 0, multishot: Bool = false, totalLimit: UInt32 = 0,
        pollFirst: Bool = false
    ) {
        prepare(IORING_OP_RECV, fd: fd.rawValue, address: 0, length: 0, offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
        sqe.pointee.buf_group = group
        flags.insert(.bufferSelect)
        if pollFirst { sqe.pointee.ioprio |= UInt16(IORING_RECVSEND_POLL_FIRST) }
        if multishot {
            sqe.pointee.ioprio |= UInt16(IORING_RECV_MULTISHOT)
            sqe.pointee.optlen = totalLimit
        }
    }

    /// `IORING_OP_SENDMSG` of `message`.
    @inlinable
    public func prepareSendMessage(_ fd: FileDescriptor, message: UnsafePointer<msghdr>, flags messageFlags: Int32 = 0) {
        prepare(IORING_OP_SENDMSG, fd: fd.rawValue, address: Self.address(message), length: 1, offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
    }

    /// `IORING_OP_RECVMSG` into `message`.
    @inlinable
    public func prepareReceiveMessage(_ fd: FileDescriptor, message: UnsafeMutablePointer<msghdr>, flags messageFlags: Int32 = 0) {
        prepare(IORING_OP_RECVMSG, fd: fd.rawValue, address: Self.address(message), length: 1, offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
    }

    /// `IORING_OP_RECVMSG` with ``SubmissionFlags/bufferSelect`` from group `group`: each
    /// completion's buffer starts with a `spool_uring_recvmsg_out` header, then the source
    /// address (`message.msg_namelen` bytes), control data (`msg_controllen` bytes), then the
    /// payload. `message` supplies only those two lengths. With `multishot`, one request keeps
    /// receiving while ``Completion/hasMore`` is set. `pollFirst`: as for
    /// ``prepareReceive(_:bufferGroup:flags:multishot:totalLimit:pollFirst:)``.
    @inlinable
    public func prepareReceiveMessage(
        _ fd: FileDescriptor, message: UnsafeMutablePointer<msghdr>, bufferGroup group: UInt16, flags messageFlags: Int32 = 0,
        multishot: Bool = false, pollFirst: Bool = false
    ) {
        prepare(IORING_OP_RECVMSG, fd: fd.rawValue, address: Self.address(message), length: 1, offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
        sqe.pointee.buf_group = group
        flags.insert(.bufferSelect)
        if pollFirst { sqe.pointee.ioprio |= UInt16(IORING_RECVSEND_POLL_FIRST) }
        if multishot { sqe.pointee.ioprio |= UInt16(IORING_RECV_MULTISHOT) }
    }

    /// `IORING_OP_SEND_ZC`: sends `buffer` without copying. It posts two completions: the
    /// result (with ``Completion/hasMore``), then a notification (``Completion/isNotification``)
    /// once the kernel no longer reads `buffer`; keep it alive until then.
    @inlinable
    public func prepareSendZeroCopy(_ fd: FileDescriptor, from buffer: UnsafeRawBufferPointer, flags messageFlags: Int32 = 0) {
        prepare(IORING_OP_SEND_ZC, fd: fd.rawValue, address: Self.address(buffer.baseAddress), length: UInt32(clamping: buffer.count), offset: 0)
        sqe.pointee.msg_flags = UInt32(bitPattern: messageFlags)
    }

    /// `IORING_OP_SHUTDOWN`: `shutdown(fd, how)` (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
    @inlinable
    public func prepareShutdown(_ fd: FileDescriptor, how: Int32) {
        prepare(IORING_OP_SHUTDOWN, fd: fd.rawValue, address: 0, length: UInt32(bitPattern: how), offset: 0)
    }
}

/// `SOCK_CLOEXEC` as a plain `Int32` (Glibc imports it as an enum case).
public let SOCK_CLOEXEC_VALUE: Int32 = Int32(SOCK_CLOEXEC.rawValue)
