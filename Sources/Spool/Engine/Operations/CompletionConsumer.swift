/// Receives the completions of an operation that has no suspended caller: a multishot
/// accept or receive (many completions), or an owned send (one; the writer went on).
///
/// **Thread-safety:** the runtime calls both methods on the ring's thread only (a consumer
/// may also call ``ended(_:)`` on itself, from its own task, when it could not reach the
/// ring); an implementation shares what it receives with other tasks under its own lock.
/// **Lifetime:** the operation's slot holds the consumer until the operation ends, so
/// whatever the consumer keeps alive (a provided-buffer pool the kernel writes into, the
/// buffer an owned send reads) lives at least that long.
package protocol CompletionConsumer: AnyObject {
    /// One CQE of the operation. `final` is true for the last one (no `F_MORE`): the
    /// operation is over and the slot is released.
    func deliver(result: Int32, flags: UInt32, final: Bool)
    /// The operation ended without a final CQE: cancelled before it reached the kernel, or
    /// refused by a stopping or broken ring.
    func ended(_ outcome: OperationOutcome)
}
