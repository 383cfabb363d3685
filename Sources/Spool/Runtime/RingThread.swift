import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The POSIX thread a ring runs on, and its two one-shot signals: *started* (the ring
/// exists, or could not be made) and *exited* (the loop is over and the ring is closed).
///
/// The thread is detached: any number of callers wait for its exit through the latch,
/// blocking (``waitUntilExited()``) or suspending (``exited()``), and none joins it.
///
/// **Thread-safety:** every member may be called from any thread. **Lifetime:** owned by its
/// ``RingExecutor``, which lives for the whole process.
final class RingThread: Sendable {
    private let latch = Latch()
    private let exitWaiters = PosixLocked<(exited: Bool, waiters: [UnsafeContinuation<Void, Never>])>((false, []))

    init() {}

    /// Starts a detached thread running `body`.
    /// - Throws: ``RuntimeError/unavailable(_:reason:)`` if the thread cannot be created.
    func start(_ body: @escaping @Sendable () -> Void) throws(RuntimeError) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 1 << 20)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let r = pthread_create(&thread, &attributes, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        if r != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw .unavailable(Errno(rawValue: r), reason: "could not start the ring thread")
        }
    }

    /// Called by the thread once its ring exists (or failed).
    func signalStarted() { latch.signalStart() }
    /// Blocks until ``signalStarted()``.
    func waitUntilStarted() { latch.waitForStart() }

    /// Called by the thread as its last act: wakes every waiter.
    func signalExited() {
        let waiters = exitWaiters.withLock { state -> [UnsafeContinuation<Void, Never>] in
            state.exited = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        latch.signalExit()
        for w in waiters { w.resume() }
    }

    /// Blocks the calling thread until the ring thread has exited.
    func waitUntilExited() { latch.waitForExit() }

    /// Blocks until the ring thread has exited or `deadline` passed; true if it exited.
    func waitUntilExited(before deadline: ContinuousClock.Instant) -> Bool { latch.waitForExit(before: deadline) }

    /// Whether the thread has exited.
    var hasExited: Bool { exitWaiters.withLock { $0.exited } }

    /// Suspends until the ring thread has exited.
    nonisolated(nonsending) func exited() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            let already = exitWaiters.withLock { state -> Bool in
                if state.exited { return true }
                state.waiters.append(c)
                return false
            }
            if already { c.resume() }
        }
    }
}

/// A one-shot start signal and exit signal (a mutex and a condition variable).
final class Latch: @unchecked Sendable {  // the pthread mutex guards every field
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var startSignalled = false
    private var exitSignalled = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func signalStart() { set { $0.startSignalled = true } }
    func signalExit() { set { $0.exitSignalled = true } }
    func waitForStart() { wait { $0.startSignalled } }
    func waitForExit() { wait { $0.exitSignalled } }

    /// Waits for the exit signal until `deadline`; true if it came.
    func waitForExit(before deadline: ContinuousClock.Instant) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while !exitSignalled {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { return false }
            // The condition variable measures CLOCK_REALTIME: an absolute time that far ahead
            // (at most 100 ms at a time, so a clock step cannot stretch the wait much).
            let step = min(left, .milliseconds(100))
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let (s, attos) = step.components
            var nanos = Int(now.tv_nsec) + Int(attos / 1_000_000_000)
            var until = timespec(tv_sec: now.tv_sec + Int(s) + nanos / 1_000_000_000, tv_nsec: 0)
            nanos %= 1_000_000_000
            until.tv_nsec = nanos
            _ = pthread_cond_timedwait(&condition, &mutex, &until)
        }
        return true
    }

    private func set(_ body: (Latch) -> Void) {
        pthread_mutex_lock(&mutex)
        body(self)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    private func wait(_ done: (Latch) -> Bool) {
        pthread_mutex_lock(&mutex)
        while !done(self) { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}
