import SystemPackage

/// A failed I/O operation, with the context to debug it: which operation, on which
/// descriptor or path, at which offset, and the kernel's errno.
///
/// A plain value: `Sendable`. Thrown by file (and later socket) operations alongside
/// `CancellationError` (the task was cancelled before the operation completed) and
/// ``RuntimeError`` (the runtime shut down or its ring broke).
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done.
    public var operation: Operation
    /// The kernel's error.
    public var errno: Errno
    /// The path involved, if any.
    public var path: FilePath?
    /// The descriptor involved, if any.
    public var descriptor: FileDescriptor?
    /// The file offset, for positioned reads and writes.
    public var offset: UInt64?
    /// The socket address involved (bind, connect, a stream's peer), if any.
    public var address: SocketAddress?

    /// Creates an error value.
    public init(
        _ operation: Operation, errno: Errno, path: FilePath? = nil, descriptor: FileDescriptor? = nil, offset: UInt64? = nil,
        address: SocketAddress? = nil
    ) {
        self.operation = operation
        self.errno = errno
        self.path = path
        self.descriptor = descriptor
        self.offset = offset
        self.address = address
    }

    /// The operation that failed.
    public enum Operation: String, Sendable, Equatable {
        case open, close, read, write, readVector = "readv", writeVector = "writev"
        case sync = "fsync", dataSync = "fdatasync", allocate = "fallocate", status = "statx"
        case remove = "unlink", removeDirectory = "rmdir", rename, createDirectory = "mkdir"
        case socket, bind, listen, accept, connect, send, receive = "recv"
        case shutdownSocket = "shutdown", setOption = "setsockopt", getOption = "getsockopt"
        case localAddress = "getsockname", peerAddress = "getpeername"
        case sendMessage = "sendmsg", receiveMessage = "recvmsg"
        case registerBuffers = "register provided buffers"
    }

    public var description: String {
        var parts = ["\(operation.rawValue) failed: \(errno) (errno \(errno.rawValue))"]
        if let path { parts.append("path \(path)") }
        if let descriptor { parts.append("fd \(descriptor.rawValue)") }
        if let offset { parts.append("offset \(offset)") }
        if let address { parts.append("address \(address)") }
        return parts.joined(separator: ", ")
    }
}
