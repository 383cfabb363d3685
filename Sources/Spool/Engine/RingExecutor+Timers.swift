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

    /// The earliest tick either wheel must be advanced at.
    private var nextTimerTick: UInt64? {
        let a = timers.count > 0 ? timers.nextExpiration : nil
        let b = scheduledTimers.count > 0 ? scheduledTimers.nextExpiration : nil
        switch (a, b) {
        case let (x?, y?): return min(x, y)
        case let (x?, nil): return x
        case let (nil, y?): return y
        default: return nil
        }
    }

    /// Whether a timer is due now (the loop then polls instead of parking).
    var timersDue: Bool {
        guard let next = nextTimerTick else { return false }
        return next <= currentTick
    }

    /// Fires every timer that is due: sleepers resume, scheduled actions run.
    func fireDueTimers() {
        guard timers.count > 0 || scheduledTimers.count > 0 else { return }
        let tick = currentTick
        if scheduledTimers.count > 0 { fireDueScheduled(at: tick) }
        guard timers.count > 0 else { return }
        timers.advance(to: tick) { _, userData in
            guard let slot = table.slot(for: userData) else { return }
            switch table.state(slot) {
            case .timed:
                table.markTimerDone(slot)
                finish(slot, .completed(0))
            case .submitted where table.takeWaitTimer(slot) != nil:
                // A timeout the backend left to the wheel (``ReactorStart/startedNeedsTimer``):
                // cancel the request; its -ECANCELED completion resumes the caller with `timedOut`.
                pendingCancels.append(userData)
            case .waiting where table.takeWaitTimer(slot) != nil:
                // A timed operation still waiting for admission when its timeout expired.
                table.removeWaiting(slot)
                finish(slot, .timedOut)
            default:
                break
            }
        }
    }

    /// How long the loop may wait before the next timer is due (`nil`: no timer).
    func timeUntilNextTimer() -> Duration? {
        guard let next = nextTimerTick else { return nil }
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

/// The scheduled actions of a ring, by index (the wheel's payload), with a free list.
///
/// **Thread-safety:** none; the ring thread's.
struct ScheduledTable {
    private var entries: [ScheduledTimer?] = []
    private var free: [Int] = []

    var count: Int { entries.count - free.count }

    mutating func insert(_ timer: ScheduledTimer) -> Int {
        if let i = free.popLast() {
            entries[i] = timer
            return i
        }
        entries.append(timer)
        return entries.count - 1
    }

    mutating func remove(at index: Int) -> ScheduledTimer? {
        guard index >= 0, index < entries.count, let timer = entries[index] else { return nil }
        entries[index] = nil
        free.append(index)
        if free.count == entries.count && entries.count > 1024 {
            entries = []
            free = []  // after a burst, give the memory back
        }
        return timer
    }
}

extension RingExecutor {
    /// Arms a scheduled action on this ring (from any thread).
    package func schedule(_ timer: ScheduledTimer) {
        if isCurrent && lifecycle == .running { armScheduled(timer) } else { post(.schedule(timer)) }
    }

    /// Removes a cancelled scheduled action's timer (from any thread).
    package func unschedule(_ timer: ScheduledTimer) {
        if isCurrent { disarmScheduled(timer) } else { post(.unschedule(timer)) }
    }

    func armScheduled(_ timer: ScheduledTimer) {
        guard lifecycle == .running else {
            timer.fire(.failure(brokenErrno.map { .broken($0) } ?? .shutdown))
            return
        }
        if timer.isCancelled { return }
        let index = scheduled.insert(timer)
        timer.tableIndex = index
        timer.wheelID = scheduledTimers.schedule(at: timerScale.deadlineTick(after: timer.deadline - timerOrigin), UInt64(index))
    }

    func disarmScheduled(_ timer: ScheduledTimer) {
        guard timer.tableIndex >= 0, scheduledTimers.cancel(timer.wheelID) != nil else { return }
        _ = scheduled.remove(at: timer.tableIndex)
        timer.tableIndex = -1
    }

    /// Runs every scheduled action that is due.
    func fireDueScheduled(at tick: UInt64) {
        scheduledTimers.advance(to: tick) { _, index in
            guard let timer = scheduled.remove(at: Int(index)) else { return }
            timer.tableIndex = -1
            timer.fire(.success(()))
        }
    }

    /// Runs every scheduled action with `error` (shutdown, broken ring).
    func fireAllScheduled(with error: RuntimeError) {
        scheduledTimers.drain { _, index in
            guard let timer = scheduled.remove(at: Int(index)) else { return }
            timer.tableIndex = -1
            timer.fire(.failure(error))
        }
    }
}
