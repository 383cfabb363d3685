#if canImport(Glibc)
import Glibc
#endif

/// Spool's one lock: a value behind a pthread mutex, with a condition variable for the few
/// owners that block a thread on it (``wait(until:before:then:)``).
///
/// A pthread mutex, not `Synchronization.Mutex`: `Mutex` locks with futexes ThreadSanitizer
/// does not see, so TSan would report the accesses it protects as races (the lock itself is
/// sound) and the sanitizer runs would be meaningless.
///
/// **Thread-safety:** `Sendable`; ``withLock(_:)`` from any thread (not re-entrant).
/// **Lifetime:** a class, so the mutex never moves. The condition variable is made on the
/// first blocking wait (most locks never block a thread and pay nothing for it).
final class PosixLocked<Value: ~Copyable>: @unchecked Sendable {  // `value` is only touched under `mutex`
    // Unchecked: the lock is not re-entrant (documented), so no access overlaps; the dynamic
    // checks cost a thread-local lookup per call on the hot path.
    @exclusivity(unchecked) private var mutex = pthread_mutex_t()
    @exclusivity(unchecked) private var value: Value
    /// Made under the lock by the first ``wait(until:before:then:)``.
    @exclusivity(unchecked) private var condition: UnsafeMutablePointer<pthread_cond_t>?

    init(_ value: consuming Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }

    deinit {
        if let condition {
            pthread_cond_destroy(condition)
            condition.deallocate()
        }
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` with the value, holding the lock.
    func withLock<R: ~Copyable>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }

    /// Blocks the calling thread until `done` holds (asked under the lock, first at once and
    /// again after every wake-up: ``broadcast()``, ``signalLocked()``, or a spurious one), or
    /// until `deadline` passed; runs `body` under the lock when `done` held. Returns `body`'s
    /// result, or nil at the deadline (then `done` answered false last). `done` is asked exactly
    /// once before each wait and once after it, so it may keep count of the waits.
    func wait<R>(until done: (inout Value) -> Bool, before deadline: ContinuousClock.Instant? = nil, then body: (inout Value) -> R) -> R? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while !done(&value) {
            let c = conditionLocked()
            guard let deadline else {
                pthread_cond_wait(c, &mutex)
                continue
            }
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { return nil }
            var until = Self.monotonicTime(after: min(left, .seconds(3600)))  // the loop goes on past an hour
            _ = pthread_cond_timedwait(c, &mutex, &until)
        }
        return body(&value)
    }

    /// Wakes every thread blocked in ``wait(until:before:then:)`` (each asks its condition again).
    /// Call after changing the value (inside or outside ``withLock(_:)``).
    func broadcast() {
        pthread_mutex_lock(&mutex)
        if let condition { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(&mutex)
    }

    /// Wakes one thread blocked in ``wait(until:before:then:)``, from inside ``withLock(_:)``.
    func signalLocked() {
        if let condition { pthread_cond_signal(condition) }
    }

    /// The condition variable, made on first use (the lock is held). Timed waits measure the
    /// monotonic clock: a wall-clock step cannot stretch them.
    private func conditionLocked() -> UnsafeMutablePointer<pthread_cond_t> {
        if let condition { return condition }
        let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(c, &attributes)
        pthread_condattr_destroy(&attributes)
        condition = c
        return c
    }

    /// The absolute `CLOCK_MONOTONIC` time `duration` from now.
    private static func monotonicTime(after duration: Duration) -> timespec {
        let (seconds, attoseconds) = duration.components
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        return timespec(tv_sec: now.tv_sec + Int(seconds) + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
    }
}
