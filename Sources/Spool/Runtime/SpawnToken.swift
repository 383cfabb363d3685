import Synchronization

/// The count one spawned task holds in its runtime's ``TaskTracker``, so that a task awaiting
/// its own runtime's shutdown can lend it back for the wait (it is not work that holds up the
/// grace period) without any other task touching the count.
///
/// States: counted → (lent → counted)* → ended. Only the first waiter lends; the spawn's end
/// ends the count only if it is still held.
///
/// **Thread-safety:** any thread. **Lifetime:** the spawned task's (a task-local).
@usableFromInline final class SpawnToken: Sendable {
    private enum State: UInt8 { case counted, lent, ended }
    /// The runtime the task is bound to (``Runtime/current`` finds it).
    let runtime: Runtime
    /// An atomic, not a lock: one token per connection task, so its size counts.
    private let state: Atomic<UInt8>

    /// Binds a new spawned task to `runtime` and counts it in its ``TaskTracker``.
    @usableFromInline init(counting runtime: Runtime) {
        self.runtime = runtime
        outer = nil
        state = Atomic(State.counted.rawValue)
        runtime.taskTracker.begin()
    }

    /// The binding this one hides, if it was made inside another (a ``Runtime/withRuntime(configuration:_:)``
    /// in a task another runtime spawned): that runtime's count can still be lent.
    let outer: SpawnToken?

    /// Binds a task to `runtime` without counting it (``Runtime/run(configuration:_:)``,
    /// ``Runtime/withRuntime(configuration:_:)``): it never lends or ends a count. `outer`
    /// is the binding it hides.
    init(binding runtime: Runtime, outer: SpawnToken?) {
        self.runtime = runtime
        self.outer = outer
        state = Atomic(State.ended.rawValue)
    }

    /// The tracker the count is in.
    var tracker: TaskTracker { runtime.taskTracker }

    /// Stops counting the task while it waits; false if it was not counted (already lent).
    func lend() -> Bool {
        guard state.compareExchange(expected: State.counted.rawValue, desired: State.lent.rawValue, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        tracker.end()
        return true
    }

    /// Counts the task again after a wait it lent the count for.
    func giveBack() {
        if state.compareExchange(expected: State.lent.rawValue, desired: State.counted.rawValue, ordering: .acquiringAndReleasing).exchanged {
            tracker.begin()
        }
    }

    /// The task ended.
    @usableFromInline func end() {
        if state.exchange(State.ended.rawValue, ordering: .acquiringAndReleasing) == State.counted.rawValue { tracker.end() }
    }
}
