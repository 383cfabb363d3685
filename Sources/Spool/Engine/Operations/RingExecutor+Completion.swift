internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// Completions: where a CQE resumes a task.
///
/// The loop has the backend reap its completions (CQEs, or the portable backend's) in a batch,
/// each handed to ``RingExecutor/complete(_:)``, which
/// finds the operation's slot by `user_data` (ignoring stale ones), turns the result into an
/// ``OperationOutcome`` and resumes the suspended caller with ``RingExecutor/finish(_:_:)``
/// — on this ring thread, with no hop: the continuation's job lands in the ring's own queue.
extension RingExecutor {
    /// Handles one CQE.
    func complete(_ completion: Completion) {
        guard let slot = table.slot(for: completion.userData), table.state(slot) == .submitted else { return }  // stale
        if !completion.hasMore, let timer = table.takeWaitTimer(slot) {
            timers.cancel(timer)  // a wheel timer bounding it (``ReactorStart/startedNeedsTimer``): no longer needed
        }
        if !completion.hasMore { statistics.completed += 1 }
        if let consumer = table.consumer(of: slot) {
            completeForConsumer(slot, consumer, completion)
            return
        }
        var result = completion.result
        if completion.hasMore {
            // Not final: only a zero-copy send's first CQE (its result) sets it; the caller
            // waits for the notification, after which the kernel no longer reads the buffer.
            table.setFirstResult(slot, completion.result)
            return
        }
        if completion.isNotification, let first = table.firstResult(of: slot) {
            result = first
            statistics.zeroCopyNotifications += 1
        }
        table.markCompleted(slot)
        let outcome: OperationOutcome
        let interrupted = result == -ECANCELED || result == -EINTR
        if interrupted && table.isCancelRequested(slot) {
            outcome = .cancelled
        } else if interrupted && refusesAccepts && table.request(slot).isAccept {
            outcome = .shutdown  // ended by a graceful shutdown's drain
        } else if interrupted && lifecycle != .running {
            outcome = refusal  // cancelled by shutdown
        } else if interrupted && table.linkTimeout(of: slot) != nil {
            outcome = .timedOut  // the linked timeout fired: the kernel cancelled it
        } else {
            outcome = .completed(result)
        }
        finish(slot, outcome)
    }

    /// Ends an operation: resumes its caller (or reports to its batch) and frees the slot.
    /// Exactly once per operation: the slot is released here, so a second call finds it free.
    func finish(_ slot: Int32, _ outcome: OperationOutcome) {
        if table.parent(of: slot) != nil {
            finishPart(slot, outcome)
            return
        }
        if let consumer = table.consumer(of: slot) {
            // A multishot request that ended without a final CQE (never reached the kernel).
            table.release(slot)
            consumer.ended(outcome)
            return
        }
        if slot == eagerSlot {
            // Completed inside its eager submit: the caller, not yet suspended, takes it.
            eagerOutcome = outcome
            table.release(slot)
            return
        }
        let c = table.takeContinuation(slot)
        table.release(slot)
        c?.resume(returning: outcome)
    }

    private func finishPart(_ part: Int32, _ outcome: OperationOutcome) {
        let result: Int32
        let cancelled: Bool
        var unknown = false
        switch outcome {
        case .completed(let r): (result, cancelled) = (r, false)
        case .brokenInFlight: (result, cancelled, unknown) = (-ECANCELED, true, true)
        default: (result, cancelled) = (-ECANCELED, true)
        }
        guard let done = table.finishPart(part, result: result, cancelled: cancelled, unknown: unknown) else { return }
        let parentOutcome: OperationOutcome
        if let errno = brokenErrno, done.partsUnknown > 0 {
            parentOutcome = .brokenInFlight(errno)  // some parts may have run
        } else if done.cancelRequested && done.partsCancelled > 0 {
            parentOutcome = .cancelled
        } else if done.partsCancelled > 0 {
            parentOutcome = brokenErrno.map { .broken($0) } ?? .shutdown
        } else {
            parentOutcome = .completed(0)
        }
        if done.parent == eagerSlot {
            // The whole batch completed inside its eager submit: the caller takes the outcome.
            eagerOutcome = parentOutcome
            return
        }
        done.continuation?.resume(returning: parentOutcome)
    }
}
