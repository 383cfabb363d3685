/// The count one spawned task holds in its runtime's ``TaskTracker``, so that a task awaiting
/// its own runtime's shutdown can lend it back for the wait (it is not work that holds up the
/// grace period) without any other task touching the count.
///
/// States: counted → (lent → counted)* → ended. Only the first waiter lends; the spawn's end
/// ends the count only if it is still held.
///
/// **Thread-safety:** any thread. **Lifetime:** the spawned task's (a task-local).
final class SpawnToken: Sendable {
    private enum State { case counted, lent, ended }
    let tracker: TaskTracker
    private let state = PosixLocked(State.counted)

    /// Counts a new task in `tracker`.
    init(_ tracker: TaskTracker) {
        self.tracker = tracker
        tracker.begin()
    }

    /// Stops counting the task while it waits; false if it was not counted (already lent).
    func lend() -> Bool {
        let lent = state.withLock { s -> Bool in
            guard case .counted = s else { return false }
            s = .lent
            return true
        }
        if lent { tracker.end() }
        return lent
    }

    /// Counts the task again after a wait it lent the count for.
    func giveBack() {
        let back = state.withLock { s -> Bool in
            guard case .lent = s else { return false }
            s = .counted
            return true
        }
        if back { tracker.begin() }
    }

    /// The task ended.
    func end() {
        let counted = state.withLock { s -> Bool in
            defer { s = .ended }
            if case .counted = s { return true }
            return false
        }
        if counted { tracker.end() }
    }
}
