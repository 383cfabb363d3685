#if canImport(Glibc)
import Glibc
#endif

/// A signal that is raised once and stays raised, which any number of callers wait for:
/// blocking (``wait()``, ``wait(before:)``) or suspending (``waitAsync()``). A ring thread's
/// start and exit, the end of a shutdown and the stall detector's stop are such signals.
///
/// **Thread-safety:** every member may be called from any thread (a pthread mutex and
/// condition variable, which ThreadSanitizer sees). **Lifetime:** a class, so they never move.
final class OneShotSignal: @unchecked Sendable {  // the mutex guards every var
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var raised = false
    private var waiters: [UnsafeContinuation<Void, Never>] = []

    init() {
        pthread_mutex_init(&mutex, nil)
        // Timed waits measure the monotonic clock: a wall-clock step cannot stretch them.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Raises the signal (later calls do nothing) and wakes every waiter.
    func signal() {
        pthread_mutex_lock(&mutex)
        raised = true
        let resumed = waiters
        waiters.removeAll()
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for w in resumed { w.resume() }
    }

    /// Whether the signal is raised.
    var isSignalled: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return raised
    }

    /// Blocks the calling thread until the signal is raised.
    func wait() {
        pthread_mutex_lock(&mutex)
        while !raised { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    /// Blocks until the signal is raised or `deadline` passed; true if it was raised.
    func wait(before deadline: ContinuousClock.Instant) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while !raised {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { return false }
            // An absolute CLOCK_MONOTONIC time that far ahead (capped at an hour: the loop goes
            // on if the deadline is further).
            let (seconds, attoseconds) = min(left, .seconds(3600)).components
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let nanos = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
            var until = timespec(tv_sec: now.tv_sec + Int(seconds) + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
            _ = pthread_cond_timedwait(&condition, &mutex, &until)
        }
        return true
    }

    /// Suspends until the signal is raised.
    nonisolated(nonsending) func waitAsync() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            pthread_mutex_lock(&mutex)
            let now = raised
            if !now { waiters.append(c) }
            pthread_mutex_unlock(&mutex)
            if now { c.resume() }
        }
    }
}
