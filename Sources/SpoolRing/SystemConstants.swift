import CSpoolURing

/// Flag values for the system calls and io_uring requests Spool makes, read from the
/// platform's own headers when the C shim was compiled (they differ between architectures:
/// `O_DIRECT` is `0o40000` on x86-64 and `0o200000` on arm64). Never hard-code these.
///
/// A namespace of constants: thread-safe.
public enum SystemConstants {
    /// `O_DIRECT` for `open(2)`/`OPENAT`.
    public static let openDirect: Int32 = SPOOL_O_DIRECT
    /// `O_CLOEXEC` for `open(2)`/`OPENAT`.
    public static let openCloseOnExec: Int32 = SPOOL_O_CLOEXEC
    /// `AT_EMPTY_PATH` for `statx(2)`/`STATX` on a descriptor.
    public static let atEmptyPath: Int32 = SPOOL_AT_EMPTY_PATH
}
