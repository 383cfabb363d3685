/// The `TaskExecutor` face of a ring thread: tasks that prefer it run on the ring's thread,
/// and their I/O completions resume them there with no hop and no lock.
///
/// Obtain it from ``Runtime/executor`` and use it with `Task(executorPreference:)`,
/// `withTaskExecutorPreference` or `addTask(executorPreference:)`.
///
/// **Thread-safety:** `enqueue` may be called from any thread. **Lifetime:** lives for the
/// whole process; after the runtime shuts down it forwards jobs to the global executor.
public final class RingTaskExecutor: TaskExecutor, @unchecked Sendable {
    unowned(unsafe) var loop: RingExecutor!

    init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        loop.enqueue(UnownedJob(job), serial: false)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

/// The `SerialExecutor` face of a ring thread: the isolation ring jobs run with.
///
/// A separate object from ``RingTaskExecutor`` over the same loop (DESIGN.md: one object with
/// both roles costs about twice the enqueues per operation).
final class RingSerialExecutor: SerialExecutor, @unchecked Sendable {
    unowned(unsafe) var loop: RingExecutor!

    init() {}

    func enqueue(_ job: consuming ExecutorJob) {
        loop.enqueue(UnownedJob(job), serial: true)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func isSameExclusiveExecutionContext(other: RingSerialExecutor) -> Bool { other === self }
}
