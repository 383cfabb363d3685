/// An io_uring operation code (`IORING_OP_*`).
///
/// A plain value: `Sendable`. ``Ring/supports(_:)`` says whether this kernel knows it.
public struct Opcode: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `IORING_OP_NOP`
    public static let nop = Opcode(rawValue: 0)
    /// `IORING_OP_READV`
    public static let readVector = Opcode(rawValue: 1)
    /// `IORING_OP_WRITEV`
    public static let writeVector = Opcode(rawValue: 2)
    /// `IORING_OP_FSYNC`
    public static let fsync = Opcode(rawValue: 3)
    /// `IORING_OP_READ_FIXED`
    public static let readFixed = Opcode(rawValue: 4)
    /// `IORING_OP_WRITE_FIXED`
    public static let writeFixed = Opcode(rawValue: 5)
    /// `IORING_OP_POLL_ADD`
    public static let pollAdd = Opcode(rawValue: 6)
    /// `IORING_OP_POLL_REMOVE`
    public static let pollRemove = Opcode(rawValue: 7)
    /// `IORING_OP_SYNC_FILE_RANGE`
    public static let syncFileRange = Opcode(rawValue: 8)
    /// `IORING_OP_SENDMSG`
    public static let sendMessage = Opcode(rawValue: 9)
    /// `IORING_OP_RECVMSG`
    public static let receiveMessage = Opcode(rawValue: 10)
    /// `IORING_OP_TIMEOUT`
    public static let timeout = Opcode(rawValue: 11)
    /// `IORING_OP_TIMEOUT_REMOVE`
    public static let timeoutRemove = Opcode(rawValue: 12)
    /// `IORING_OP_ACCEPT`
    public static let accept = Opcode(rawValue: 13)
    /// `IORING_OP_ASYNC_CANCEL`
    public static let asyncCancel = Opcode(rawValue: 14)
    /// `IORING_OP_LINK_TIMEOUT`
    public static let linkTimeout = Opcode(rawValue: 15)
    /// `IORING_OP_CONNECT`
    public static let connect = Opcode(rawValue: 16)
    /// `IORING_OP_FALLOCATE`
    public static let fallocate = Opcode(rawValue: 17)
    /// `IORING_OP_OPENAT`
    public static let openAt = Opcode(rawValue: 18)
    /// `IORING_OP_CLOSE`
    public static let close = Opcode(rawValue: 19)
    /// `IORING_OP_FILES_UPDATE`
    public static let filesUpdate = Opcode(rawValue: 20)
    /// `IORING_OP_STATX`
    public static let statx = Opcode(rawValue: 21)
    /// `IORING_OP_READ`
    public static let read = Opcode(rawValue: 22)
    /// `IORING_OP_WRITE`
    public static let write = Opcode(rawValue: 23)
    /// `IORING_OP_FADVISE`
    public static let fadvise = Opcode(rawValue: 24)
    /// `IORING_OP_MADVISE`
    public static let madvise = Opcode(rawValue: 25)
    /// `IORING_OP_SEND`
    public static let send = Opcode(rawValue: 26)
    /// `IORING_OP_RECV`
    public static let receive = Opcode(rawValue: 27)
    /// `IORING_OP_OPENAT2`
    public static let openAt2 = Opcode(rawValue: 28)
    /// `IORING_OP_EPOLL_CTL`
    public static let epollControl = Opcode(rawValue: 29)
    /// `IORING_OP_SPLICE`
    public static let splice = Opcode(rawValue: 30)
    /// `IORING_OP_PROVIDE_BUFFERS`
    public static let provideBuffers = Opcode(rawValue: 31)
    /// `IORING_OP_REMOVE_BUFFERS`
    public static let removeBuffers = Opcode(rawValue: 32)
    /// `IORING_OP_TEE`
    public static let tee = Opcode(rawValue: 33)
    /// `IORING_OP_SHUTDOWN`
    public static let shutdown = Opcode(rawValue: 34)
    /// `IORING_OP_RENAMEAT`
    public static let renameAt = Opcode(rawValue: 35)
    /// `IORING_OP_UNLINKAT`
    public static let unlinkAt = Opcode(rawValue: 36)
    /// `IORING_OP_MKDIRAT`
    public static let mkdirAt = Opcode(rawValue: 37)
    /// `IORING_OP_SYMLINKAT`
    public static let symlinkAt = Opcode(rawValue: 38)
    /// `IORING_OP_LINKAT`
    public static let linkAt = Opcode(rawValue: 39)
    /// `IORING_OP_MSG_RING`
    public static let messageRing = Opcode(rawValue: 40)
    /// `IORING_OP_FSETXATTR`
    public static let fsetxattr = Opcode(rawValue: 41)
    /// `IORING_OP_SETXATTR`
    public static let setxattr = Opcode(rawValue: 42)
    /// `IORING_OP_FGETXATTR`
    public static let fgetxattr = Opcode(rawValue: 43)
    /// `IORING_OP_GETXATTR`
    public static let getxattr = Opcode(rawValue: 44)
    /// `IORING_OP_SOCKET`
    public static let socket = Opcode(rawValue: 45)
    /// `IORING_OP_URING_CMD`
    public static let uringCommand = Opcode(rawValue: 46)
    /// `IORING_OP_SEND_ZC`
    public static let sendZeroCopy = Opcode(rawValue: 47)
    /// `IORING_OP_SENDMSG_ZC`
    public static let sendMessageZeroCopy = Opcode(rawValue: 48)
    /// `IORING_OP_READ_MULTISHOT`
    public static let readMultishot = Opcode(rawValue: 49)
    /// `IORING_OP_WAITID`
    public static let waitid = Opcode(rawValue: 50)
    /// `IORING_OP_FUTEX_WAIT`
    public static let futexWait = Opcode(rawValue: 51)
    /// `IORING_OP_FUTEX_WAKE`
    public static let futexWake = Opcode(rawValue: 52)
    /// `IORING_OP_FUTEX_WAITV`
    public static let futexWaitVector = Opcode(rawValue: 53)
    /// `IORING_OP_FIXED_FD_INSTALL`
    public static let fixedFileInstall = Opcode(rawValue: 54)
    /// `IORING_OP_FTRUNCATE`
    public static let ftruncate = Opcode(rawValue: 55)
    /// `IORING_OP_BIND`
    public static let bind = Opcode(rawValue: 56)
    /// `IORING_OP_LISTEN`
    public static let listen = Opcode(rawValue: 57)
    /// `IORING_OP_RECV_ZC`
    public static let receiveZeroCopy = Opcode(rawValue: 58)
    /// `IORING_OP_EPOLL_WAIT`
    public static let epollWait = Opcode(rawValue: 59)
    /// `IORING_OP_READV_FIXED`
    public static let readVectorFixed = Opcode(rawValue: 60)
    /// `IORING_OP_WRITEV_FIXED`
    public static let writeVectorFixed = Opcode(rawValue: 61)
    /// `IORING_OP_PIPE`
    public static let pipe = Opcode(rawValue: 62)

    /// Every opcode this build of Spool has a name for, in kernel order.
    public static let allKnown: [Opcode] = (0...62).map { Opcode(rawValue: UInt8($0)) }

    static let kernelNames: [String] = [
        "NOP",
        "READV",
        "WRITEV",
        "FSYNC",
        "READ_FIXED",
        "WRITE_FIXED",
        "POLL_ADD",
        "POLL_REMOVE",
        "SYNC_FILE_RANGE",
        "SENDMSG",
        "RECVMSG",
        "TIMEOUT",
        "TIMEOUT_REMOVE",
        "ACCEPT",
        "ASYNC_CANCEL",
        "LINK_TIMEOUT",
        "CONNECT",
        "FALLOCATE",
        "OPENAT",
        "CLOSE",
        "FILES_UPDATE",
        "STATX",
        "READ",
        "WRITE",
        "FADVISE",
        "MADVISE",
        "SEND",
        "RECV",
        "OPENAT2",
        "EPOLL_CTL",
        "SPLICE",
        "PROVIDE_BUFFERS",
        "REMOVE_BUFFERS",
        "TEE",
        "SHUTDOWN",
        "RENAMEAT",
        "UNLINKAT",
        "MKDIRAT",
        "SYMLINKAT",
        "LINKAT",
        "MSG_RING",
        "FSETXATTR",
        "SETXATTR",
        "FGETXATTR",
        "GETXATTR",
        "SOCKET",
        "URING_CMD",
        "SEND_ZC",
        "SENDMSG_ZC",
        "READ_MULTISHOT",
        "WAITID",
        "FUTEX_WAIT",
        "FUTEX_WAKE",
        "FUTEX_WAITV",
        "FIXED_FD_INSTALL",
        "FTRUNCATE",
        "BIND",
        "LISTEN",
        "RECV_ZC",
        "EPOLL_WAIT",
        "READV_FIXED",
        "WRITEV_FIXED",
        "PIPE",
    ]

    /// The kernel's name without the `IORING_OP_` prefix (`"READ"`), or `"OP_<n>"` for one newer than this build.
    public var name: String {
        Int(rawValue) < Self.kernelNames.count ? Self.kernelNames[Int(rawValue)] : "OP_\(rawValue)"
    }

    public var description: String { name }

    public static func < (lhs: Opcode, rhs: Opcode) -> Bool { lhs.rawValue < rhs.rawValue }
}
