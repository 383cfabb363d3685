import CSpoolURing
import SystemPackage

/// One completion-queue entry, copied out of the ring.
///
/// A plain value: `Sendable`, valid forever (it does not point into the ring).
@frozen
public struct Completion: Sendable, Hashable, CustomStringConvertible {
    /// The `userData` the submission carried.
    public var userData: UInt64
    /// The result: a byte count, a descriptor, 0, or `-errno`.
    public var result: Int32
    /// `IORING_CQE_F_*` bits.
    public var flags: UInt32

    @inlinable
    public init(userData: UInt64, result: Int32, flags: UInt32) {
        self.userData = userData
        self.result = result
        self.flags = flags
    }

    /// The error, when ``result`` is negative.
    @inlinable
    public var error: Errno? { result < 0 ? Errno(rawValue: -result) : nil }

    /// The request stays armed and will post more completions (`IORING_CQE_F_MORE`):
    /// multishot accept/receive, and the first half of a zero-copy send.
    @inlinable
    public var hasMore: Bool { flags & IORING_CQE_F_MORE != 0 }

    /// The provided buffer the kernel picked (`IORING_CQE_F_BUFFER`), if any.
    @inlinable
    public var bufferID: UInt16? {
        flags & IORING_CQE_F_BUFFER != 0 ? UInt16(truncatingIfNeeded: flags >> IORING_CQE_BUFFER_SHIFT) : nil
    }

    /// A zero-copy send's notification that the kernel has released the buffer (`IORING_CQE_F_NOTIF`).
    @inlinable
    public var isNotification: Bool { flags & IORING_CQE_F_NOTIF != 0 }

    /// The socket had more data queued when this receive completed (`IORING_CQE_F_SOCK_NONEMPTY`).
    @inlinable
    public var socketHasMoreData: Bool { flags & IORING_CQE_F_SOCK_NONEMPTY != 0 }

    public var description: String {
        var s = "Completion(userData: \(userData), result: \(result)"
        if let e = error { s += " (\(e))" }
        if hasMore { s += ", more" }
        if let b = bufferID { s += ", buffer \(b)" }
        if isNotification { s += ", notification" }
        return s + ")"
    }
}
