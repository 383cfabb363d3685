import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The POSIX thread a ring runs on, and its two one-shot signals: *started* (the ring
/// exists, or could not be made) and *exited* (the loop is over and the ring is closed).
///
/// The thread is detached: any number of callers wait for its exit, blocking
/// (``waitUntilExited()``) or suspending (``exited()``), and none joins it.
///
/// **Thread-safety:** every member may be called from any thread. **Lifetime:** owned by its
/// ``RingExecutor``, which lives for the whole process.
final class RingThread: Sendable {
    private let started = OneShotSignal()
    private let exit = OneShotSignal()

    init() {}

    /// Starts a detached thread running `body`.
    /// - Throws: ``RuntimeError/unavailable(_:reason:)`` if the thread cannot be created.
    func start(_ body: @escaping @Sendable () -> Void) throws(RuntimeError) {
        if let error = ThreadCalls.startDetached(stackSize: 1 << 20, body) {
            throw .unavailable(error, reason: "could not start the ring thread")
        }
    }

    /// Called by the thread once its ring exists (or failed).
    func signalStarted() { started.signal() }
    /// Blocks until ``signalStarted()``.
    func waitUntilStarted() { started.wait() }

    /// Called by the thread as its last act: wakes every waiter.
    func signalExited() { exit.signal() }

    /// Blocks the calling thread until the ring thread has exited.
    func waitUntilExited() { exit.wait() }

    /// Blocks until the ring thread has exited or `deadline` passed; true if it exited.
    func waitUntilExited(before deadline: ContinuousClock.Instant) -> Bool { exit.wait(before: deadline) }

    /// Whether the thread has exited.
    var hasExited: Bool { exit.isSignalled }

    /// Suspends until the ring thread has exited.
    nonisolated(nonsending) func exited() async { await exit.waitAsync() }
}
