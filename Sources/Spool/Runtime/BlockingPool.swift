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
final class BlockingPool: @unchecked Sendable {  // the pthread mutex guards every var
    /// One job: its body, and the caller waiting for it.
    final class Job: @unchecked Sendable {  // `continuation` and `state` are guarded by the pool's mutex
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
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue: [Job] = []
    private var head = 0
    private var threads = 0
    /// Threads waiting for a job, and wake-ups sent to them not yet taken: a waiting thread
    /// is counted as free only once (`waiting - signalled`).
    private var waiting = 0
    private var signalled = 0
    private var running = 0
    private var stopped = false
    /// New jobs are refused (a graceful shutdown began); queued and running ones go on.
    private var closed = false

    /// Gauges of queued and running jobs, when metrics are on, and what they last recorded.
    let metrics: BlockingPoolMetrics?
    private var recorded = (queued: -1, running: -1)

    init(threads: Int, queueLimit: Int, metrics: BlockingPoolMetrics? = nil) {
        threadLimit = threads
        self.queueLimit = queueLimit
        self.metrics = metrics
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Jobs waiting to start.
    var queued: Int { locked { queue.count - head } }
    /// Jobs running now.
    var runningCount: Int { locked { running } }
    /// Whether no job waits or runs.
    var isIdle: Bool { locked { running == 0 && queue.count == head } }

    /// Refuses new jobs with ``RuntimeError/shutdown`` from now on; queued and running ones
    /// go on (a graceful shutdown's grace period).
    func closeAdmission() { locked { closed = true } }

    /// Queues `job`. Returns nil on success, or the error the caller gets instead.
    ///
    /// `queueLimit` counts jobs that must wait for a thread: a job a free (or startable)
    /// thread takes at once never counts, so a limit of 0 means "run now or refuse".
    func submit(_ job: Job) -> RuntimeError? {
        var startThread = false
        let refusal: RuntimeError? = locked {
            if stopped || closed { return .shutdown }
            if job.state == .finished { return nil }  // withdrawn before it was submitted: its caller has the error
            // Every thread not running a job (waiting, starting, or not yet started) takes a
            // queued job without it waiting: only the jobs beyond those count.
            if queue.count - head - (threadLimit - running) >= queueLimit { return .blockingPoolFull(limit: queueLimit) }
            job.state = .queued
            queue.append(job)
            if waiting - signalled > 0 {
                signalled += 1
                pthread_cond_signal(&condition)
            } else if threads < threadLimit {
                threads += 1
                startThread = true
            }
            return nil
        }
        if startThread && !startWorker() {
            // No thread: if none at all is left to take the queued jobs, they will never run.
            let stranded = locked { () -> [Job] in
                threads -= 1
                guard threads == 0 else { return [] }
                let rest = Array(queue[head...])
                for j in rest { j.state = .finished }
                queue.removeAll()
                head = 0
                return rest
            }
            for j in stranded { j.refuse(.unavailable(nil, reason: "could not start a blocking-pool thread")) }
        }
        return refusal
    }

    /// Takes `job` out of the queue, or keeps it from being queued, if it has not started (its
    /// caller was cancelled): true if it will never run.
    func withdraw(_ job: Job) -> Bool {
        locked {
            switch job.state {
            case .created:
                job.state = .finished  // `submit` will not queue it
                return true
            case .queued:
                if let i = queue[head...].firstIndex(where: { $0 === job }) { queue.remove(at: i) }
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
        locked {
            stopped = true
            let rest = Array(queue[head...])
            for job in rest { job.state = .finished }
            queue.removeAll()
            head = 0
            pthread_cond_broadcast(&condition)
            return (rest, running)
        }
    }

    // MARK: Workers

    private func startWorker() -> Bool {
        final class Box { let pool: BlockingPool; init(_ p: BlockingPool) { pool = p } }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(self)).toOpaque()
        let r = pthread_create(&thread, &attributes, { arg in
            let pool = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().pool
            pool.work()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        if r != 0 { Unmanaged<Box>.fromOpaque(box).release() }
        return r == 0
    }

    private func work() {
        _ = CurrentThread.setName("spool-blocking")
        while let job = next() {
            job.run()
            locked {
                running -= 1
                job.state = .finished
            }
        }
    }

    /// The next job to run, or nil when the pool stopped.
    private func next() -> Job? {
        locked {
            while !stopped && head == queue.count {
                waiting += 1
                pthread_cond_wait(&condition, &mutex)
                waiting -= 1
                if signalled > 0 { signalled -= 1 }
            }
            if stopped {
                threads -= 1
                return nil
            }
            let job = queue[head]
            head += 1
            queue.dropConsumedFront(&head)
            job.state = .running
            running += 1
            return job
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let result = body()
        if let metrics, (queue.count - head, running) != recorded {
            // Only a change, and under the lock, so the last value recorded is the pool's state.
            recorded = (queue.count - head, running)
            metrics.queued.record(recorded.queued)
            metrics.running.record(recorded.running)
        }
        return result
    }
}
