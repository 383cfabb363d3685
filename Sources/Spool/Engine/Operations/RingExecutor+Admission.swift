internal import SpoolRing

/// Operations: how a call reaches the backend (``ReactorBackend/start(_:userData:timeout:)``).
///
/// `perform` takes a slot in the ``OperationTable`` and suspends the caller; `start` then
/// admits the operation if the ring has fewer than `inFlightLimit` operations in the kernel
/// and SQ space, and otherwise puts it at the end of the admission queue (FIFO). Every pass
/// of the loop admits waiting operations, oldest first, as completions free room. The
/// caller resumes in `RingExecutor+Completion.swift`.
extension RingExecutor {
    /// Runs one operation on this ring and returns its final outcome.
    /// Must be called on the ring thread, from a task whose executor is this ring.
    ///
    /// **Eager path.** When no other job is ready on the ring (nothing would be batched with
    /// this entry), the inline budget allows, and the operation can be admitted at once, its
    /// entry is submitted right away and the CQ is read before the caller suspends: a request
    /// the kernel completed inside the submit (a NOP, a cached read, a close) returns without
    /// suspending and without a cancellation record. Otherwise the caller suspends as usual.
    ///
    /// `cancellable: false` (close) ignores task cancellation: the request always runs, so
    /// the descriptor it releases is released exactly once.
    ///
    /// `isolation` is the caller's: the cancellation handler's operation closure must inherit
    /// it, or (for an actor on the ring whose task prefers no executor) it would run on the
    /// global executor and touch ring state from another thread.
    package func perform(
        _ request: OperationRequest, cancellable: Bool = true, linkTimeout: UnsafeMutableRawPointer? = nil,
        isolation: isolated (any Actor)? = #isolation
    ) async -> OperationOutcome {
        if lifecycle != .running { return refusal }
        if refusesAccepts && request.isAccept { return .shutdown }
        if cancellable && Task.isCancelled { return .cancelled }
        let slot = table.allocate(request)
        // No clock read on the common path: only an operation with a timeout needs one.
        if let linkTimeout { table.setLinkTimeout(slot, linkTimeout, deadline: Self.deadline(of: linkTimeout)) }
        var submitted = false
        if mayCompleteEagerly(request) {
            switch submitEagerly(slot) {
            case .finished(let outcome): return outcome
            case .inFlight: submitted = true
            case .notSubmitted: break
            }
        }
        let userData = table.userData(slot)
        if !cancellable {
            _ = isolation
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                self.start(slot, continuation, submitted: submitted)
            }
        }
        if isolation == nil {
            // A nonisolated caller on this ring thread is a task that prefers the ring, so the
            // nonisolated closure below runs here too, with no executor check.
            return await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                    self.start(slot, continuation, submitted: submitted)
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
                self.start(slot, continuation, submitted: submitted)
            }
        } onCancel: {
            self.requestCancel(userData)
        }
    }

    /// Runs many reads or writes as one batch: the caller resumes once, when every part has
    /// its final completion. `results[i]` receives part `i`'s result. Takes the eager path
    /// like ``perform(_:cancellable:linkTimeout:isolation:)``: when every part completes inside
    /// the submit, the caller does not suspend at all.
    func performBatch(
        _ parts: [OperationRequest], results: UnsafeMutablePointer<Int32>, isolation: isolated (any Actor)? = #isolation
    ) async -> OperationOutcome {
        if lifecycle != .running { return refusal }
        if Task.isCancelled { return .cancelled }
        if parts.isEmpty { return .completed(0) }
        let parent = table.allocate(.batch)
        let userData = table.userData(parent)
        var started = false
        if mayCompleteEagerly(.batch) {
            table.makeBatchParent(parent, parts: parts.count, results: results)
            inlineBudgetLeft -= 1
            // Set before the parts are admitted: a part that fails at once (a broken ring) may
            // complete the batch right here.
            eagerSlot = parent
            linkAndAdmit(parent, parts)
            if let outcome = enterAndReapEagerly() {
                eagerSlot = -1
                return outcome
            }
            started = true
            // `eagerSlot` stays set until the continuation is stored: if the task was cancelled
            // meanwhile, the handler below runs at once, on this thread, and may finish the
            // batch (its waiting parts resume as cancelled) before there is a continuation.
        }
        return await withTaskCancellationHandler {
            _ = isolation  // run on the caller's executor (see `perform`)
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                if started {
                    self.eagerSlot = -1
                    if let outcome = self.eagerOutcome {
                        self.eagerOutcome = nil  // finished by the cancellation handler
                        continuation.resume(returning: outcome)
                    } else {
                        self.table.setContinuation(parent, continuation)  // its last part resumes it
                    }
                } else {
                    self.startBatch(parent, parts, results, continuation)
                }
            }
        } onCancel: {
            self.requestCancel(userData)
        }
    }

    private func start(_ slot: Int32, _ continuation: UnsafeContinuation<OperationOutcome, Never>, submitted: Bool) {
        table.setContinuation(slot, continuation)
        // Submitted eagerly and still in the kernel: its completion (or a cancellation's
        // ASYNC_CANCEL) resumes the caller like any other submitted operation.
        if submitted { return }
        if table.isCancelRequested(slot) {
            finish(slot, .cancelled)
            return
        }
        if case .timer(let deadline) = table.request(slot) {
            armTimer(slot, deadline: deadline.instant)
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
        linkAndAdmit(parent, parts)
    }

    /// Allocates and links every part of batch `parent`, then admits them in order.
    private func linkAndAdmit(_ parent: Int32, _ parts: [OperationRequest]) {
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
    func admitOrQueue(_ slot: Int32) {
        if lifecycle != .running {
            finish(slot, refusal)
            return
        }
        // FIFO: nothing passes a waiting operation, except that a request waiting on a peer
        // never waits behind capped ones (they may wait indefinitely, e.g. a pipe read).
        let request = table.request(slot)
        if (table.waitingCount == 0 || (request.waitsOnPeer && table.waitingOnPeer == 0)) && underCap(slot) && submit(slot) { return }
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

    /// Hands `slot` to the backend (with its timeout, if it has one); false when the backend
    /// has no room now (the SQ is full even after flushing it), or the ring broke.
    private func submit(_ slot: Int32) -> Bool {
        let request = table.request(slot)
        let userData = table.userData(slot)
        let timeout = table.linkTimeout(of: slot).map { LinkedTimeout(timespec: $0, deadline: table.storedLinkDeadline(of: slot)) }
        switch reactor.start(request, userData: userData, timeout: timeout) {
        case .noRoom:
            return false
        case .started:
            // The backend bounds it (a linked timeout): the wheel timer of its wait, if any, goes.
            if timeout != nil, let waitTimer = table.takeWaitTimer(slot) { timers.cancel(waitTimer) }
        case .startedNeedsTimer:
            if let timeout {
                // A wheel timer cancels it when the timeout expires (ending it with `timedOut`).
                let timer = table.takeWaitTimer(slot)
                    ?? timers.schedule(at: timerScale.deadlineTick(after: timeout.deadline.instant - timerOrigin), userData)
                table.setWaitTimer(slot, timer)
            }
        }
        table.markSubmitted(slot)
        statistics.submitted += 1
        return true
    }

    /// The absolute deadline a caller's timespec stands for (it was filled with the timeout
    /// just before the call).
    static func deadline(of timespec: UnsafeMutableRawPointer) -> ContinuousClock.Instant {
        let t = timespec.assumingMemoryBound(to: KernelTimespec.self).pointee
        return ContinuousClock.now.advanced(by: .seconds(t.tv_sec) + .nanoseconds(t.tv_nsec))
    }

    /// Whether `request` may take the eager path now: enabled, budget left, no other job
    /// ready (its entry would be batched with theirs at the end of the pass), nothing from
    /// other threads waiting in the inbox, no internal request left out of the SQ and no due
    /// timer waiting for the loop, and room to admit it at once.
    private func mayCompleteEagerly(_ request: OperationRequest) -> Bool {
        guard inlineCompletion, inlineBudgetLeft > 0, jobs.isEmpty, table.waitingCount == 0,
              table.cappedInFlight < inFlightLimit || request.waitsOnPeer, inbox.isEmpty else { return false }
        // The loop's own work goes first. Internal requests go into the SQ ahead of this
        // entry (the eager enter then submits them too); if they cannot, or a timer is due,
        // the call takes the usual path and the loop serves them.
        if internalRequestsWaitForRoom {
            flushInternalRequests()
            if internalRequestsWaitForRoom {
                return false
            }
        }
        if timersDue { return false }
        if case .timer = request { return false }
        return true
    }

    /// What an eager submit did.
    private enum EagerSubmission {
        /// The kernel completed it inside the submit: the caller has its outcome, the slot is free.
        case finished(OperationOutcome)
        /// Submitted and still in flight: the caller suspends until its completion.
        case inFlight
        /// Not submitted (no SQ room, or the ring broke): the usual path takes it.
        case notSubmitted
    }

    /// Submits `slot` now (with whatever else is in the SQ) and reaps the CQ at once. Every
    /// completion reaped here is delivered as usual (other callers are resumed, internal
    /// requests handled); this slot's is kept in ``eagerOutcome`` instead of resuming a
    /// continuation, which it does not have yet.
    private func submitEagerly(_ slot: Int32) -> EagerSubmission {
        guard submit(slot) else { return .notSubmitted }
        inlineBudgetLeft -= 1
        eagerSlot = slot
        let outcome = enterAndReapEagerly()
        eagerSlot = -1
        return outcome.map { .finished($0) } ?? .inFlight
    }

    /// The eager call's enter and reap (its entries are in the SQ, ``eagerSlot`` names it):
    /// its outcome if the kernel completed it inside the submit, else nil (still in flight).
    private func enterAndReapEagerly() -> OperationOutcome? {
        reactor.enter(.eager, wait: false)  // deferred sibling wakes go out with it
        reapCompletions()
        faults?.eagerReapDone()
        guard let outcome = eagerOutcome else {
            statistics.eagerInFlight += 1
            return nil
        }
        eagerOutcome = nil
        statistics.inlineCompletions += 1
        return outcome
    }

    /// Admits waiting operations, oldest first, while the cap and the SQ allow.
    /// Internal requests that found no SQ room go first: none is admitted while they wait.
    func admitWaiting() {
        if internalRequestsWaitForRoom { return }
        while lifecycle == .running, let slot = table.firstWaiting, underCap(slot) {
            if !submit(slot) { return }  // no SQ room: it stays first in line
        }
        // The cap is full (or nothing waits): requests waiting on a peer do not count against
        // it, so they may pass the capped ones, in their own order.
        guard lifecycle == .running, table.waitingOnPeer > 0, var slot = table.firstWaiting else { return }
        while true {
            let next = table.waiting(after: slot)
            if table.request(slot).waitsOnPeer {
                if !submit(slot) { return }  // no SQ room
                if table.waitingOnPeer == 0 { return }
            }
            guard let n = next else { return }
            slot = n
        }
    }

    /// Whether `slot` may enter the kernel under the in-flight cap (requests that wait on a
    /// peer always may: see ``OperationRequest/waitsOnPeer``).
    private func underCap(_ slot: Int32) -> Bool {
        table.cappedInFlight < inFlightLimit || table.request(slot).waitsOnPeer
    }
}
