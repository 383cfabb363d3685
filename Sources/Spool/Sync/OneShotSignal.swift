/// A signal that is raised once and stays raised, which any number of callers wait for:
/// blocking (``wait()``, ``wait(before:)``) or suspending (``waitAsync()``). A ring thread's
/// start and exit, the end of a shutdown and the stall detector's stop are such signals.
///
/// **Thread-safety:** every member may be called from any thread (one ``PosixLocked``, which
/// ThreadSanitizer sees). **Lifetime:** a class, so its lock never moves.
final class OneShotSignal: Sendable {
    private struct State: ~Copyable, WaiterListHolding {
        var raised = false
        /// Suspended waiters (``waitAsync()``); blocked threads wait on the lock's condition.
        var waiters = WaiterList()
    }

    private let state = PosixLocked(State())

    init() {}

    /// Raises the signal (later calls do nothing) and wakes every waiter.
    func signal() {
        let wakes = state.withLock { s -> Wakes in
            s.raised = true
            return s.waiters.takeAll()
        }
        state.broadcast()
        wakes.resume()
    }

    /// Whether the signal is raised.
    var isSignalled: Bool { state.withLock { $0.raised } }

    /// Blocks the calling thread until the signal is raised.
    func wait() {
        _ = state.wait(until: { $0.raised }, then: { _ in () })
    }

    /// Blocks until the signal is raised or `deadline` passed; true if it was raised.
    func wait(before deadline: ContinuousClock.Instant) -> Bool {
        state.wait(until: { $0.raised }, before: deadline, then: { _ in () }) != nil
    }

    /// Suspends until the signal is raised.
    nonisolated(nonsending) func waitAsync() async {
        await state.wait { s in s.raised }
    }
}
