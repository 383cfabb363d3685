internal import SpoolRing

/// Operations with a consumer instead of a suspended caller: multishot requests (one
/// request, many completions) and owned sends (the writer does not wait).
///
/// Such an operation takes a slot like any other and goes through the same admission and
/// submit path; instead of a suspended caller, its slot holds a ``CompletionConsumer`` that
/// gets every CQE (``RingExecutor/complete(_:)``). The slot is
/// released with the final CQE (no `F_MORE`), or by ``RingExecutor/finish(_:_:)`` when the
/// request never reached the kernel. Cancelling it (``RingExecutor/requestCancel(_:)`` with
/// its `user_data`) submits `ASYNC_CANCEL`; the kernel then posts the final CQE.
extension RingExecutor {
    /// Starts `request` with `consumer` on this ring (ring thread). Returns its `user_data`
    /// for cancellation, or nil when the ring refused it (the consumer was told).
    @discardableResult
    package func start(_ request: OperationRequest, consumer: any CompletionConsumer) -> UInt64? {
        if lifecycle != .running || (refusesAccepts && request.isAccept) {
            consumer.ended(lifecycle != .running ? refusal : .shutdown)
            return nil
        }
        let slot = table.allocate(request)
        table.setConsumer(slot, consumer)
        let userData = table.userData(slot)
        admitOrQueue(slot)
        return table.slot(for: userData) == nil ? nil : userData
    }

    /// Hands one CQE of consumer slot `slot` to its consumer; the last one releases the slot.
    func completeForConsumer(_ slot: Int32, _ consumer: any CompletionConsumer, _ completion: Completion) {
        if completion.hasMore {
            consumer.deliver(result: completion.result, flags: completion.flags, final: false)
            return
        }
        table.markCompleted(slot)
        table.release(slot)
        consumer.deliver(result: completion.result, flags: completion.flags, final: true)
    }
}

extension RingExecutor {
    /// Remembers a pool's state, whose waiters ``wakePools()`` wakes (any thread).
    func watchPool(_ pool: PoolState) {
        pools.withLock { $0.append(pool) }
    }

    /// Forgets a pool's state (its pool's `deinit`, any thread).
    func unwatchPool(_ pool: PoolState) {
        pools.withLock { list in list.removeAll { $0 === pool } }
    }

    /// The state of the live pool on this ring with buffer group `group` (the portable backend
    /// picks its buffers).
    func pool(group: UInt16) -> PoolState? {
        pools.withLock { list in list.first { $0.group == group } }
    }

    /// A new buffer pool's storage and group id on this ring, from its backend (ring thread).
    func makePoolStorage(count: Int, bufferSize: Int) -> Result<(PoolStorage, UInt16), any Error> {
        reactor.makePoolStorage(count: count, bufferSize: bufferSize)
    }

    /// Wakes every receiver waiting for a pool buffer on this ring (it is stopping or broke):
    /// they find the ring refusing and end with its error.
    func wakePools() {
        for pool in pools.withLock({ $0 }) { pool.wakeWaiters() }
    }
}
