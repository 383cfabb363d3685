internal import SpoolTimer

/// Timers: sleeps on the ring's own timing wheel.
///
/// A sleep is an operation slot in state `timed` whose timer waits in the wheel (no kernel
/// request, no allocation beyond the slot and the wheel's node). The loop parks with the
/// next timer's deadline as the wait's timeout — one `io_uring_enter` with one timeout,
/// whatever the number of timers — and after each wait fires every timer that is due,
/// resuming its caller on this thread. Cancelling a sleep removes its timer at once;
/// shutdown and a broken ring fire every timer with their error.
extension RingExecutor {
    /// Arms the timer of slot `slot` (a `.timer` request).
    func armTimer(_ slot: Int32, deadline: ContinuousClock.Instant) {
        if lifecycle != .running {
            finish(slot, refusal)
            return
        }
        let tick = timerScale.deadlineTick(after: deadline - timerOrigin)
        let id = timers.schedule(at: tick, table.userData(slot))
        table.markTimed(slot, timer: id)
    }

    /// Removes slot `slot`'s timer from the wheel and resumes its caller with `outcome`.
    func disarmTimer(_ slot: Int32, _ outcome: OperationOutcome) {
        timers.cancel(table.timer(of: slot))
        table.markTimerDone(slot)
        finish(slot, outcome)
    }

    /// The wheel's current tick, from the clock.
    private var currentTick: UInt64 {
        timerScale.currentTick(after: ContinuousClock.now - timerOrigin)
    }

    /// Whether a timer is due now (the loop then polls instead of parking).
    var timersDue: Bool {
        guard timers.count > 0, let next = timers.nextExpiration else { return false }
        return next <= currentTick
    }

    /// Fires every timer that is due, resuming its caller.
    func fireDueTimers() {
        guard timers.count > 0 else { return }
        timers.advance(to: currentTick) { _, userData in
            guard let slot = table.slot(for: userData), table.state(slot) == .timed else { return }
            table.markTimerDone(slot)
            finish(slot, .completed(0))
        }
    }

    /// How long the loop may wait before the next timer is due (`nil`: no timer).
    func timeUntilNextTimer() -> Duration? {
        guard timers.count > 0, let next = timers.nextExpiration else { return nil }
        let left = timerScale.offset(of: next) - (ContinuousClock.now - timerOrigin)
        return min(max(left, .zero), .seconds(3600))
    }

    /// Fires every armed timer with `outcome` (shutdown, broken ring).
    func fireAllTimers(with outcome: OperationOutcome) {
        timers.drain { _, userData in
            guard let slot = table.slot(for: userData), table.state(slot) == .timed else { return }
            table.markTimerDone(slot)
            finish(slot, outcome)
        }
    }
}
