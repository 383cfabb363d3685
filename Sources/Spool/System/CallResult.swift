import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What a system call returned, in io_uring's completion convention — a count, a descriptor
/// or 0, or `-errno` — so a call the portable backend makes and a CQE the kernel posts carry
/// the same value to the executor (`Completion.result`).
///
/// A plain value: `Sendable`.
struct CallResult: Sendable, Equatable {
    /// The count, descriptor or 0; `-errno` on failure.
    let rawValue: Int32

    init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// From libc's convention: a negative return means failure, with the reason in `errno`.
    @inline(__always)
    init(libc r: Int) {
        rawValue = r < 0 ? -Glibc.errno : Int32(clamping: r)
    }

    /// From a C shim that already returns `-errno` (a 64-bit count clamped to 32 bits).
    @inline(__always)
    init(shim r: Int64) {
        rawValue = Int32(clamping: r)
    }

    static func failure(_ errno: Errno) -> CallResult { CallResult(rawValue: -errno.rawValue) }

    /// The error, if the call failed.
    var errno: Errno? { rawValue < 0 ? Errno(rawValue: -rawValue) : nil }

    /// The call failed with `errno`.
    @inline(__always)
    func failed(with errno: Errno) -> Bool { rawValue == -errno.rawValue }

    /// The call would have blocked (`EAGAIN`).
    var wouldBlock: Bool { rawValue == -EAGAIN }

    /// The count, descriptor or 0 (nil on failure).
    var value: Int32? { rawValue >= 0 ? rawValue : nil }
}
