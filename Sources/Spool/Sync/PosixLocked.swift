#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex. Used where a lock is taken from many threads and must be
/// visible to ThreadSanitizer: `Synchronization.Mutex` locks with futexes TSan does not see,
/// so TSan reports the accesses it protects as races (the lock itself is sound).
///
/// **Thread-safety:** `Sendable`; ``withLock(_:)`` from any thread (not re-entrant).
/// **Lifetime:** a class, so the mutex never moves.
final class PosixLocked<Value: ~Copyable>: @unchecked Sendable {  // `value` is only touched under `mutex`
    // Unchecked: the lock is not re-entrant (documented), so no access overlaps; the dynamic
    // checks cost a thread-local lookup per call on the hot path.
    @exclusivity(unchecked) private var mutex = pthread_mutex_t()
    @exclusivity(unchecked) private var value: Value

    init(_ value: consuming Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// Runs `body` with the value, holding the lock.
    func withLock<R: ~Copyable>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }
}
