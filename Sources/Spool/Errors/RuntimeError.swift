import SystemPackage

/// The runtime could not run an operation at all.
///
/// A plain value: `Sendable`.
public enum RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The runtime is shutting down or has shut down; the operation was not run, or was cancelled.
    case shutdown
    /// The ring failed fatally with this errno; it accepts no more work.
    case broken(Errno)
    /// io_uring cannot be used on this machine; `reason` says what to change.
    case unavailable(Errno?, reason: String)
    /// An argument was rejected before reaching the kernel (for example a buffer too large).
    case invalidArgument(String)
    /// ``Runtime/spawnBlocking(_:)``: `limit` jobs already wait for a blocking-pool thread;
    /// the job was not queued (``Runtime/Configuration/blockingQueueLimit``).
    case blockingPoolFull(limit: Int)

    public var description: String {
        switch self {
        case .shutdown: return "the Spool runtime has shut down"
        case .broken(let e): return "the Spool runtime's ring is broken (\(e))"
        case .unavailable(let e, let reason): return "io_uring is unavailable\(e.map { " (\($0))" } ?? ""): \(reason)"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        case .blockingPoolFull(let limit): return "the blocking pool's queue is full (\(limit) jobs wait for a thread)"
        }
    }
}
