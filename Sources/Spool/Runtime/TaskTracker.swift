import Synchronization

/// Counts the tasks a runtime started (``Runtime/spawn(on:_:)``) that have not finished, so
/// a graceful shutdown can end its grace period early once there are none.
///
/// **Thread-safety:** atomic; any thread. **Lifetime:** the runtime's.
final class TaskTracker: Sendable {
    private let live = Atomic<Int>(0)

    /// A task starts.
    func begin() { live.add(1, ordering: .relaxed) }
    /// A task ended (any way).
    func end() { live.subtract(1, ordering: .releasing) }
    /// Tasks started and not yet ended.
    var count: Int { live.load(ordering: .acquiring) }
}
