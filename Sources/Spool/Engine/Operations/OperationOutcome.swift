import SystemPackage

/// How an operation ended, as the ring thread reports it to the suspended caller.
package enum OperationOutcome: Sendable, Equatable {
    /// The kernel's result (`res` of the final CQE): a count, a descriptor, 0, or `-errno`.
    case completed(Int32)
    /// The caller's task was cancelled before the operation completed.
    case cancelled
    /// The runtime shut down before the operation completed.
    case shutdown
    /// The operation's linked timeout expired and the kernel cancelled it.
    case timedOut
    /// The ring failed fatally before the operation reached the kernel.
    case broken(Errno)
    /// The ring failed fatally while the kernel held the operation; the caller was resumed
    /// only after the kernel released the ring, and whether the operation took effect is
    /// unknown (callers see ``RuntimeError/broken(_:)``).
    case brokenInFlight(Errno)
}
