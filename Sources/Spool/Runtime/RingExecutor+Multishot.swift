internal import SpoolRing

/// Multishot operations: one request, many completions, delivered to a consumer.
///
/// A multishot accept or receive takes a slot like any operation and goes through the same
/// admission and submit path; instead of a suspended caller, its slot holds a
/// ``MultishotConsumer`` that gets every CQE (``RingExecutor/complete(_:)``). The slot is
/// released with the final CQE (no `F_MORE`), or by ``RingExecutor/finish(_:_:)`` when the
/// request never reached the kernel. Cancelling it (``RingExecutor/requestCancel(_:)`` with
/// its `user_data`) submits `ASYNC_CANCEL`; the kernel then posts the final CQE.
extension RingExecutor {
    /// Starts `request` with `consumer` on this ring (ring thread). Returns its `user_data`
    /// for cancellation, or nil when the ring refused it (the consumer was told).
    @discardableResult
    func startMultishot(_ request: OperationRequest, _ consumer: any MultishotConsumer) -> UInt64? {
        if lifecycle != .running {
            consumer.ended(refusal)
            return nil
        }
        statistics.multishotArms += 1
        let slot = table.allocate(request)
        table.setConsumer(slot, consumer)
        let userData = table.userData(slot)
        admitOrQueue(slot)
        return table.slot(for: userData) == nil ? nil : userData
    }

    /// Hands one CQE of multishot slot `slot` to its consumer; the last one releases the slot.
    func completeMultishot(_ slot: Int32, _ consumer: any MultishotConsumer, _ completion: Completion) {
        if completion.hasMore {
            consumer.deliver(result: completion.result, flags: completion.flags, final: false)
            return
        }
        table.markCompleted(slot)
        table.release(slot)
        consumer.deliver(result: completion.result, flags: completion.flags, final: true)
    }
}
