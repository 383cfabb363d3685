internal import SpoolTimer
import Synchronization

/// An action scheduled on a ring's timing wheel by ``Runtime/schedule(after:_:)``: no task
/// sleeps for it, so arming and cancelling cost a wheel slot and an atomic, which is what a
/// server wants for per-connection idle timers.
///
/// The action runs on the ring thread, once: with `.success` when the deadline passes, or
/// with `.failure(RuntimeError.shutdown)` (or `.broken`) when the runtime stops first. It
/// never runs after ``cancel()`` has returned. Keep it short: it runs on the ring's loop.
///
/// **Thread-safety:** `Sendable`; ``cancel()`` may be called from any thread, any number of
/// times. **Lifetime:** the ring keeps the timer until it fires or is cancelled.
public final class ScheduledTimer: Sendable {
    enum State: UInt8 { case armed = 0, fired = 1, cancelled = 2 }

    let state = Atomic<UInt8>(State.armed.rawValue)
    let action: @Sendable (Result<Void, RuntimeError>) -> Void
    let deadline: ContinuousClock.Instant
    unowned(unsafe) let ring: RingExecutor
    /// The ring's bookkeeping (ring thread only): where the timer sits in its wheel and table.
    nonisolated(unsafe) var wheelID = TimerID(index: 0, generation: 0)
    nonisolated(unsafe) var tableIndex = -1

    package init(ring: RingExecutor, deadline: ContinuousClock.Instant, action: @escaping @Sendable (Result<Void, RuntimeError>) -> Void) {
        self.ring = ring
        self.deadline = deadline
        self.action = action
    }

    /// Cancels the timer: if it has not fired yet, it never will (returns true); false if it
    /// already fired or was cancelled. Any thread.
    @discardableResult
    public func cancel() -> Bool {
        let won = state.compareExchange(expected: State.armed.rawValue, desired: State.cancelled.rawValue, ordering: .acquiringAndReleasing).exchanged
        if won { ring.unschedule(self) }  // frees its wheel slot now (on the ring)
        return won
    }

    /// Whether the timer was cancelled before it fired.
    public var isCancelled: Bool { state.load(ordering: .acquiring) == State.cancelled.rawValue }

    /// Runs the action if the timer is still armed (ring thread).
    func fire(_ outcome: Result<Void, RuntimeError>) {
        guard state.compareExchange(expected: State.armed.rawValue, desired: State.fired.rawValue, ordering: .acquiringAndReleasing).exchanged else { return }
        action(outcome)
    }
}

extension Runtime {
    /// Runs `action` on a ring once `delay` has passed (see ``ScheduledTimer``). On a ring
    /// thread the timer goes on that ring; elsewhere on the next running ring. A negative
    /// delay runs it at the ring's next pass.
    ///
    /// If the runtime is not running, `action` runs soon, on the global executor, with
    /// `.failure(.shutdown)` or `.failure(.broken(errno))`.
    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping @Sendable (Result<Void, RuntimeError>) -> Void) -> ScheduledTimer {
        schedule(at: ContinuousClock.now.advanced(by: delay), action)
    }

    /// Runs `action` on a ring at `deadline` (see ``schedule(after:_:)``).
    @discardableResult
    public func schedule(
        at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable (Result<Void, RuntimeError>) -> Void
    ) -> ScheduledTimer {
        let ring: RingExecutor
        if let current = RingExecutor.current, current.lifecycle == .running, rings.contains(where: { $0 === current }) {
            ring = current
        } else if let picked = pickRing() {
            ring = picked
        } else {
            let timer = ScheduledTimer(ring: rings[0], deadline: deadline, action: action)
            let error: RuntimeError = if case .broken(let e) = refusal { .broken(e) } else { .shutdown }
            // On the global executor, not the caller's stack: an action that re-arms itself
            // on failure must not recurse.
            Task.detached { timer.fire(.failure(error)) }
            return timer
        }
        let timer = ScheduledTimer(ring: ring, deadline: deadline, action: action)
        ring.schedule(timer)
        return timer
    }
}
