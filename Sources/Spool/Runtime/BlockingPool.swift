internal import SpoolRing
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of threads for blocking calls (``Runtime/spawnBlocking(_:)``), so that a
/// blocking call never stalls a ring.
///
/// - At most `threads` jobs run at once; threads start on demand and stay for the pool's life.
/// - At most `queueLimit` jobs wait; one more is refused with
///   ``RuntimeError/blockingPoolFull(limit:)`` (no unbounded wait, no unbounded allocation).
/// - A job whose caller is cancelled before it starts is not run; the caller gets
///   `CancellationError` at once. A job that has started runs to its end (threads cannot be
///   interrupted); its caller still waits for it.
/// - At shutdown, new jobs are refused, queued ones are dropped, and every waiting caller,
///   including those whose job is running, resumes with ``RuntimeError/shutdown``. A running
///   job's thread is abandoned: its result, whenever it comes, touches nothing.
///
/// **Thread-safety:** every member may be called from any thread. **Lifetime:** owned by its
/// runtime; worker threads are detached and hold the pool until they exit.
final class BlockingPool: @unchecked Sendable {  // `state` (a lock) guards every var and every job's state
    /// One job: its body, and the caller waiting for it.
    final class Job: @unchecked Sendable {  // `state` is guarded by the pool's lock
        enum State { case created, queued, running, finished }
        let run: @Sendable () -> Void
        /// Tells the caller the job will not run (no thread could be started).
        let refuse: @Sendable (RuntimeError) -> Void
        var state = State.created
        init(run: @escaping @Sendable () -> Void, refuse: @escaping @Sendable (RuntimeError) -> Void) {
            self.run = run
            self.refuse = refuse
        }
    }

    let threadLimit: Int
    let queueLimit: Int

    /// Everything mutable, behind the pool's lock (``Job/state`` too).
    private struct State: ~Copyable {
        var queue = FIFOQueue<Job>()
        var threads = 0
        /// Threads waiting for a job, and wake-ups sent to them not yet taken: a waiting thread
        /// is counted as free only once (`waiting - signalled`).
        var waiting = 0
        var signalled = 0
        var running = 0
        var stopped = false
        /// New jobs are refused (a graceful shutdown began); queued and running ones go on.
        var closed = false
        /// What the gauges last recorded.
        var recorded = (queued: -1, running: -1)
    }

    private let state = PosixLocked(State())

    /// Gauges of queued and running jobs, when metrics are on.
    let metrics: BlockingPoolMetrics?

    init(threads: Int, queueLimit: Int, metrics: BlockingPoolMetrics? = nil) {
        threadLimit = threads
        self.queueLimit = queueLimit
        self.metrics = metrics
    }

    /// Jobs waiting to start.
    var queued: Int { locked { $0.queue.count } }
    /// Jobs running now.
    var runningCount: Int { locked { $0.running } }
    /// Whether no job waits or runs.
    var isIdle: Bool { locked { $0.running == 0 && $0.queue.isEmpty } }

    /// Refuses new jobs with ``RuntimeError/shutdown`` from now on; queued and running ones
    /// go on (a graceful shutdown's grace period).
    func closeAdmission() { locked { $0.closed = true } }

    /// Queues `job`. Returns nil on success, or the error the caller gets instead.
    ///
    /// `queueLimit` counts jobs that must wait for a thread: a job a free (or startable)
    /// thread takes at once never counts, so a limit of 0 means "run now or refuse".
    func submit(_ job: Job) -> RuntimeError? {
        var startThread = false
        let refusal: RuntimeError? = locked { s in
            if s.stopped || s.closed { return .shutdown }
            if job.state == .finished { return nil }  // withdrawn before it was submitted: its caller has the error
            // Every thread not running a job (waiting, starting, or not yet started) takes a
            // queued job without it waiting: only the jobs beyond those count.
            if s.queue.count - (threadLimit - s.running) >= queueLimit { return .blockingPoolFull(limit: queueLimit) }
            job.state = .queued
            s.queue.append(job)
            if s.waiting - s.signalled > 0 {
                s.signalled += 1
                state.signalLocked()
            } else if s.threads < threadLimit {
                s.threads += 1
                startThread = true
            }
            return nil
        }
        if startThread && !startWorker() {
            // No thread: if none at all is left to take the queued jobs, they will never run.
            let stranded = locked { s -> [Job] in
                s.threads -= 1
                guard s.threads == 0 else { return [] }
                let rest = s.queue.removeAll()
                for j in rest { j.state = .finished }
                return rest
            }
            for j in stranded { j.refuse(.unavailable(nil, reason: "could not start a blocking-pool thread")) }
        }
        return refusal
    }

    /// Takes `job` out of the queue, or keeps it from being queued, if it has not started (its
    /// caller was cancelled): true if it will never run.
    func withdraw(_ job: Job) -> Bool {
        locked { s in
            switch job.state {
            case .created:
                job.state = .finished  // `submit` will not queue it
                return true
            case .queued:
                s.queue.removeFirst(where: { $0 === job })
                job.state = .finished
                return true
            case .running, .finished:
                return false
            }
        }
    }

    /// Stops the pool: refuses new jobs and returns the jobs that had not started (their
    /// callers get the shutdown error) and how many are still running (abandoned).
    func stop() -> (notStarted: [Job], stillRunning: Int) {
        let result = locked { s -> ([Job], Int) in
            s.stopped = true
            let rest = s.queue.removeAll()
            for job in rest { job.state = .finished }
            return (rest, s.running)
        }
        state.broadcast()
        return result
    }

    // MARK: Workers

    private func startWorker() -> Bool {
        ThreadCalls.startDetached { [self] in work() } == nil
    }

    private func work() {
        _ = CurrentThread.setName("spool-blocking")
        while let job = next() {
            job.run()
            locked { s in
                s.running -= 1
                job.state = .finished
            }
        }
    }

    /// The next job to run, or nil when the pool stopped.
    private func next() -> Job? {
        var woke = false
        let job = state.wait(until: { s in
            if woke {
                // Back from a wait: that wake-up is taken.
                s.waiting -= 1
                if s.signalled > 0 { s.signalled -= 1 }
            }
            if s.stopped || !s.queue.isEmpty { return true }
            s.waiting += 1  // about to wait
            woke = true
            return false
        }, then: { s -> Job? in
            if s.stopped {
                s.threads -= 1
                return nil
            }
            let job = s.queue.popFirst()!
            job.state = .running
            s.running += 1
            return job
        })
        recordMetrics()
        return job ?? nil
    }

    private func locked<T>(_ body: (inout State) -> T) -> T {
        let result = state.withLock(body)
        recordMetrics()
        return result
    }

    /// Records a change of the gauges (under the lock, so the last value recorded is the
    /// pool's state).
    private func recordMetrics() {
        guard let metrics else { return }
        state.withLock { s in
            let now = (s.queue.count, s.running)
            if now != s.recorded {
                s.recorded = now
                metrics.queued.record(now.0)
                metrics.running.record(now.1)
            }
        }
    }
}
