import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An error from the ring layer.
///
/// Every case names what failed and carries the kernel's `Errno` where there is one.
/// Values are immutable and `Sendable`.
public enum RingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A size or option was rejected before any system call was made.
    case invalidArgument(String)
    /// io_uring is refused on this machine (no kernel support, disabled by sysctl, or
    /// blocked by a seccomp profile). `advice` is one sentence telling the user what to change.
    case unavailable(Errno, advice: String)
    /// `io_uring_setup` failed for another reason (for example `ENOMEM`, `EMFILE`).
    case setupFailed(Errno)
    /// Mapping the ring's shared memory failed.
    case mappingFailed(Errno)
    /// The ring failed fatally in `io_uring_enter`; it accepts no more work.
    case broken(Errno)
    /// The kernel kept answering `EAGAIN`/`EBUSY` while no completion arrived to make room.
    /// The ring is still healthy: reap, then submit again.
    case submissionStalled(Errno)
    /// An `io_uring_register` operation failed.
    case registrationFailed(operation: String, Errno)

    public var description: String {
        switch self {
        case .invalidArgument(let what):
            return "invalid ring argument: \(what)"
        case .unavailable(let errno, let advice):
            return "io_uring is unavailable (\(errno)): \(advice)"
        case .setupFailed(let errno):
            return "io_uring_setup failed: \(errno)"
        case .mappingFailed(let errno):
            return "mapping the io_uring rings failed: \(errno)"
        case .broken(let errno):
            return "the ring is broken: io_uring_enter failed with \(errno)"
        case .submissionStalled(let errno):
            return "submission stalled: the kernel kept answering \(errno) with no completion to reap"
        case .registrationFailed(let operation, let errno):
            return "io_uring_register(\(operation)) failed: \(errno)"
        }
    }

    /// The errno behind this error, if the kernel gave one.
    public var errno: Errno? {
        switch self {
        case .invalidArgument: return nil
        case .unavailable(let e, _), .setupFailed(let e), .mappingFailed(let e), .broken(let e),
            .submissionStalled(let e), .registrationFailed(_, let e):
            return e
        }
    }

    /// Builds the `unavailable` error for an `io_uring_setup` refusal, reading
    /// `kernel.io_uring_disabled` to tell a sysctl from a seccomp profile.
    static func refused(_ errno: Errno, ioUringDisabled: Int? = RingError.readIOUringDisabledSysctl()) -> RingError {
        if errno == .noFunction {
            return .unavailable(
                errno,
                advice: "this kernel has no io_uring (older than 5.1 or built without CONFIG_IO_URING); run on Linux 6.1 or later with io_uring enabled.")
        }
        switch ioUringDisabled {
        case 2:
            return .unavailable(
                errno,
                advice: "io_uring is disabled system-wide by sysctl kernel.io_uring_disabled=2; as root, run `sysctl -w kernel.io_uring_disabled=0`.")
        case 1:
            return .unavailable(
                errno,
                advice: "io_uring is limited to the group in kernel.io_uring_group (kernel.io_uring_disabled=1); add this user to that group, or as root run `sysctl -w kernel.io_uring_disabled=0`.")
        default:
            return .unavailable(
                errno,
                advice: "io_uring is blocked by a seccomp profile or security policy (Docker's default profile does this); allow io_uring_setup, io_uring_enter and io_uring_register (for example `docker run --security-opt seccomp=unconfined`).")
        }
    }

    /// The value of `/proc/sys/kernel/io_uring_disabled`, or `nil` where the file does not exist.
    static func readIOUringDisabledSysctl() -> Int? {
        guard let text = try? readSmallFile("/proc/sys/kernel/io_uring_disabled") else { return nil }
        return Int(text.trimmingWhitespace())
    }
}

/// Reads a small text file (a sysctl) in one go.
func readSmallFile(_ path: String) throws(Errno) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw Errno(rawValue: Glibc.errno) }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 256)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 { throw Errno(rawValue: Glibc.errno) }
    return String(decoding: bytes[0..<n], as: UTF8.self)
}

extension String {
    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return s
    }
}
