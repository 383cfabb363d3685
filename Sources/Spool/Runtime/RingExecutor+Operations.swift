internal import SpoolRing

/// Operations: how a call becomes an SQE.
///
/// `perform` takes a slot in the ``OperationTable`` and suspends the caller; `start` then
/// admits the operation if the ring has fewer than `inFlightLimit` operations in the kernel
/// and SQ space, and otherwise puts it at the end of the admission queue (FIFO). Every pass
/// of the loop admits waiting operations, oldest first, as completions free room. The
/// caller resumes in `RingExecutor+Completion.swift`.
extension RingExecutor {
    /// Runs one operation on this ring and suspends until its final completion.
    /// Must be called on the ring thread, from a task whose executor is this ring.
    ///
    /// `cancellable: false` (close) ignores task cancellation: the request always runs, so
    /// the descriptor it releases is released exactly once.
    ///
    /// `isolation` is the caller's: the cancellation handler's operation closure must inherit
    /// it, or (for an actor on the ring whose task prefers no executor) it would run on the
    /// global executor and touch ring state from another thread.
    func perform(
        _ request: OperationRequest, cancellable: Bool = true, linkTimeout: UnsafeMutableRawPointer? = nil,
        isolation: isolated (any Actor)? = #isolation
    ) async -> OperationOutcome {
        if lifecycle != .running { return refusal }
        if !cancellable {
            let slot = table.allocate(request)
            if let linkTimeout { table.setLinkTimeout(slot, linkTimeout, deadline: Self.deadline(of: linkTimeout)) }
            _ = isolation
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                self.start(slot, continuation)
            }
        }
        if Task.isCancelled { return .cancelled }
        let slot = table.allocate(request)
        // No clock read on the common path: only an operation with a timeout needs one.
        if let linkTimeout { table.setLinkTimeout(slot, linkTimeout, deadline: Self.deadline(of: linkTimeout)) }
        let userData = table.userData(slot)
        if isolation == nil {
            // A nonisolated caller on this ring thread is a task that prefers the ring, so the
            // nonisolated closure below runs here too, with no executor check.
            return await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                    self.start(slot, continuation)
                }
            } onCancel: {
                self.requestCancel(userData)
            }
        }
        return await withTaskCancellationHandler {
            // An actor on the ring (whose task may prefer no executor): capturing `isolation`
            // keeps the closure on the actor's executor, the ring, instead of the global one.
            _ = isolation
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                self.start(slot, continuation)
            }
        } onCancel: {
            self.requestCancel(userData)
        }
    }

    /// Runs many reads or writes as one batch: the caller resumes once, when every part has
    /// its final completion. `results[i]` receives part `i`'s result.
    func performBatch(
        _ parts: [OperationRequest], results: UnsafeMutablePointer<Int32>, isolation: isolated (any Actor)? = #isolation
    ) async -> OperationOutcome {
        if lifecycle != .running { return refusal }
        if Task.isCancelled { return .cancelled }
        if parts.isEmpty { return .completed(0) }
        let parent = table.allocate(.batch)
        let userData = table.userData(parent)
        return await withTaskCancellationHandler {
            _ = isolation  // run on the caller's executor (see `perform`)
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                self.startBatch(parent, parts, results, continuation)
            }
        } onCancel: {
            self.requestCancel(userData)
        }
    }

    private func start(_ slot: Int32, _ continuation: UnsafeContinuation<OperationOutcome, Never>) {
        table.setContinuation(slot, continuation)
        if table.isCancelRequested(slot) {
            finish(slot, .cancelled)
            return
        }
        if case .timer(let deadline) = table.request(slot) {
            armTimer(slot, deadline: deadline)
            return
        }
        admitOrQueue(slot)
    }

    private func startBatch(
        _ parent: Int32, _ parts: [OperationRequest], _ results: UnsafeMutablePointer<Int32>,
        _ continuation: UnsafeContinuation<OperationOutcome, Never>
    ) {
        table.setContinuation(parent, continuation)
        table.makeBatchParent(parent, parts: parts.count, results: results)
        if table.isCancelRequested(parent) {
            finish(parent, .cancelled)
            return
        }
        // Every part is linked before any is admitted: a part that fails at once (a broken
        // ring) must not complete the batch while later parts are still unlinked.
        var slots: [Int32] = []
        slots.reserveCapacity(parts.count)
        for (i, request) in parts.enumerated() {
            let part = table.allocate(request)
            table.attachPart(part, to: parent, number: i)
            slots.append(part)
        }
        for part in slots { admitOrQueue(part) }
    }

    /// Submits `slot` if the in-flight cap and the SQ allow, else queues it FIFO. On a ring
    /// that is no longer running the caller resumes at once with the refusal.
    private func admitOrQueue(_ slot: Int32) {
        if lifecycle != .running {
            finish(slot, refusal)
            return
        }
        if table.waitingCount == 0 && table.inFlight < inFlightLimit && submit(slot) { return }
        if lifecycle != .running {
            // The SQ-full flush inside `submit` found the ring broken: `fail` already resumed
            // the waiters; this caller never reached the queue, so resume it here.
            finish(slot, refusal)
            return
        }
        table.enqueueWaiting(slot)
        if table.linkTimeout(of: slot) != nil {
            // The timeout also bounds the wait for admission: a wheel timer ends the wait.
            let tick = timerScale.deadlineTick(after: table.linkDeadline(of: slot) - timerOrigin)
            table.setWaitTimer(slot, timers.schedule(at: tick, table.userData(slot)))
        }
    }

    /// Prepares `slot`'s SQE (and its linked `LINK_TIMEOUT`, if it has one); false when the
    /// SQ is full even after flushing it, or broken.
    private func submit(_ slot: Int32) -> Bool {
        let request = table.request(slot)
        let timeout = table.linkTimeout(of: slot)
        if timeout != nil && (ring?.freeSubmissionSlots ?? 0) < 2 {
            // The operation and its timeout must be adjacent in the SQ: make room for both.
            enter(.submissionQueueFull.union(request.site), wait: false)
            if lifecycle != .running || (ring?.freeSubmissionSlots ?? 0) < 2 { return false }
        }
        guard let sqe = nextSubmission(for: request.site) else { return false }
        request.prepare(sqe)
        sqe.userData = table.userData(slot)
        if let timeout, let linked = ring?.nextSubmission() {
            if let waitTimer = table.takeWaitTimer(slot) { timers.cancel(waitTimer) }
            // The time left now (the wait for admission used some): the kernel copies it
            // when it takes the entry.
            let spec = timeout.assumingMemoryBound(to: KernelTimespec.self)
            spec.pointee = KernelTimespec(table.linkDeadline(of: slot) - ContinuousClock.now)
            sqe.flags.insert(.link)
            linked.prepareLinkTimeout(spec)
            linked.userData = Self.linkTimeoutUserData
        }
        table.markSubmitted(slot)
        return true
    }

    /// The absolute deadline a caller's timespec stands for (it was filled with the timeout
    /// just before the call).
    static func deadline(of timespec: UnsafeMutableRawPointer) -> ContinuousClock.Instant {
        let t = timespec.assumingMemoryBound(to: KernelTimespec.self).pointee
        return ContinuousClock.now.advanced(by: .seconds(t.tv_sec) + .nanoseconds(t.tv_nsec))
    }

    /// Admits waiting operations, oldest first, while the cap and the SQ allow.
    func admitWaiting() {
        while lifecycle == .running, table.inFlight < inFlightLimit, let slot = table.firstWaiting {
            if !submit(slot) { return }  // no SQ room: it stays first in line
        }
    }
}
