/// Receives the completions of one multishot operation (a multishot accept or receive) in
/// place of a suspended caller.
///
/// **Thread-safety:** both methods are called on the ring's thread only; an implementation
/// shares what it receives with its consumer task under its own lock.
/// **Lifetime:** the operation's slot holds the consumer until the operation ends, so
/// whatever the consumer keeps alive (a provided-buffer pool the kernel writes into) lives
/// at least that long.
protocol MultishotConsumer: AnyObject {
    /// One CQE of the operation. `final` is true for the last one (no `F_MORE`): the
    /// operation is over and the slot is released.
    func deliver(result: Int32, flags: UInt32, final: Bool)
    /// The operation ended without a final CQE: cancelled before it reached the kernel, or
    /// refused by a stopping or broken ring.
    func ended(_ outcome: OperationOutcome)
}
