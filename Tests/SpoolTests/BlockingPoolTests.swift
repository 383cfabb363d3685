import Synchronization
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// `spawnBlocking`: results and errors unchanged, back on the caller's ring, a bounded queue,
/// cancellation before start, and shutdown with a job that never returns.
@Suite("Blocking pool")
struct BlockingPoolTests {
    struct Refused: Error, Equatable { let code: Int }

    /// A gate a blocking job waits on (a real blocking wait, on the pool's thread).
    final class Gate: @unchecked Sendable {  // guarded by the pthread mutex
        private var mutex = pthread_mutex_t()
        private var condition = pthread_cond_t()
        private var open = false
        init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&condition, nil) }
        func wait() {
            pthread_mutex_lock(&mutex)
            while !open { pthread_cond_wait(&condition, &mutex) }
            pthread_mutex_unlock(&mutex)
        }
        func release() {
            pthread_mutex_lock(&mutex)
            open = true
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
    }

    @Test("a result comes back on the caller's ring; the job ran on another thread; its error reaches the caller unchanged")
    func resultsAndErrors() async throws {
        try await withTestRuntime { runtime in
            let outcome = try await runtime.spawn { () -> (Bool, Bool, Int) in
                let ring = RingExecutor.current
                let (value, jobThread) = try await runtime.spawnBlocking { (21 * 2, pthread_self()) }
                return (RingExecutor.current === ring && ring != nil, pthread_equal(jobThread, pthread_self()) == 0, value)
            }.value
            #expect(outcome.0, "resumed on its own ring")
            #expect(outcome.1, "the job ran on another thread")
            #expect(outcome.2 == 42)
            await #expect(throws: Refused(code: 7)) { try await runtime.spawnBlocking { throw Refused(code: 7) } }
            // From a plain task, off the rings, too.
            #expect(try await Task { try await runtime.spawnBlocking { "off the ring" } }.value == "off the ring")
        }
    }

    @Test("a full queue is a clear error at once, not a wait; the queued jobs still run")
    func saturation() async throws {
        var configuration = Runtime.Configuration(submissionEntries: 64)
        configuration.blockingThreads = 1
        configuration.blockingQueueLimit = 2
        try await withTestRuntime(configuration) { runtime in
            let gate = Gate()
            let blocker = Task { try await runtime.spawnBlocking { gate.wait(); return 0 } }
            #expect(await eventually { runtime.blockingPoolDepth.running == 1 })
            let queued = (1...2).map { i in Task { try await runtime.spawnBlocking { i } } }
            #expect(await eventually { runtime.blockingPoolDepth.queued == 2 })
            await #expect(throws: RuntimeError.blockingPoolFull(limit: 2)) { try await runtime.spawnBlocking { 3 } }
            gate.release()
            let values = try await withinDeadline(.seconds(30), "the blocker and the queued jobs") {
                [try await blocker.value, try await queued[0].value, try await queued[1].value]
            }
            #expect(values == [0, 1, 2])
        }
    }

    @Test("the limit counts only jobs that must wait: with a limit of 0, a burst onto free threads all runs at once, one more is refused")
    func limitCountsOnlyWaitingJobs() async throws {
        var configuration = Runtime.Configuration(submissionEntries: 64)
        configuration.blockingThreads = 8
        configuration.blockingQueueLimit = 0
        try await withTestRuntime(configuration) { runtime in
            let gate = Gate()
            // Eight jobs at once, each holding its thread: all must start (none refused, none
            // left queued behind another although threads are free).
            let jobs = (0..<8).map { i in Task { try await runtime.spawnBlocking { gate.wait(); return i } } }
            let allRunning = await eventually { runtime.blockingPoolDepth.running == 8 }
            #expect(allRunning, "running: \(runtime.blockingPoolDepth)")
            await #expect(throws: RuntimeError.blockingPoolFull(limit: 0)) { try await runtime.spawnBlocking { -1 } }
            gate.release()
            let values = try await withinDeadline(.seconds(30), "the eight jobs") {
                var all: [Int] = []
                for job in jobs { all.append(try await job.value) }
                return all
            }
            #expect(values == Array(0..<8))
            #expect(runtime.blockingCalls.withLock { $0.isEmpty }, "no caller left registered")
        }
    }

    @Test("a caller cancelled before its job starts gets CancellationError at once, and the job never runs")
    func cancellationBeforeStart() async throws {
        var configuration = Runtime.Configuration(submissionEntries: 64)
        configuration.blockingThreads = 1
        try await withTestRuntime(configuration) { runtime in
            let gate = Gate()
            let ran = Flag()
            let blocker = Task { try await runtime.spawnBlocking { gate.wait() } }
            #expect(await eventually { runtime.blockingPoolDepth.running == 1 })
            let waiting = Task { () -> String in
                do {
                    try await runtime.spawnBlocking { ran.set() }
                    return "ran"
                } catch is CancellationError {
                    return "cancelled"
                }
            }
            #expect(await eventually { runtime.blockingPoolDepth.queued == 1 })
            waiting.cancel()
            let outcome = try await withinDeadline(.seconds(30), "the cancelled caller, while the only thread is busy") { try await waiting.value }
            #expect(outcome == "cancelled", "resumed while the only thread is still busy")
            #expect(runtime.blockingPoolDepth.queued == 0)
            gate.release()
            try await blocker.value
            try await Task.sleep(for: .milliseconds(50))
            #expect(ran.isSet == false, "the withdrawn job never ran")
            // Already cancelled before the call: nothing is queued at all.
            let early = Task { () -> String in
                withUnsafeCurrentTask { $0?.cancel() }
                do { try await runtime.spawnBlocking { ran.set() }; return "ran" } catch is CancellationError { return "cancelled" }
            }
            #expect(try await early.value == "cancelled")
            #expect(ran.isSet == false)
        }
    }

    @Test("shutdown does not wait for a job that never returns: its caller and the queued ones resume with RuntimeError.shutdown")
    func shutdownWithStuckJob() async throws {
        var configuration = Runtime.Configuration(submissionEntries: 64)
        configuration.blockingThreads = 1
        let runtime = try Runtime(configuration: configuration)
        let gate = Gate()  // never released while the runtime lives
        let stuck = Task { () -> String in
            do { try await runtime.spawnBlocking { gate.wait() }; return "returned" } catch { return "\(error)" }
        }
        #expect(await eventually { runtime.blockingPoolDepth.running == 1 })
        let queued = Task { () -> String in
            do { _ = try await runtime.spawnBlocking { 1 }; return "returned" } catch { return "\(error)" }
        }
        #expect(await eventually { runtime.blockingPoolDepth.queued == 1 })
        runtime.shutdown()
        let outcomes = try await withinDeadline(.seconds(30), "the callers after shutdown") { [await stuck.value, await queued.value] }
        #expect(outcomes == ["\(RuntimeError.shutdown)", "\(RuntimeError.shutdown)"])
        await #expect(throws: RuntimeError.shutdown) { try await runtime.spawnBlocking { 0 } }
        gate.release()  // the abandoned job ends later; its result touches nothing
        try await Task.sleep(for: .milliseconds(50))
    }

    @Test("bad configuration: thread and queue limits")
    func badConfiguration() {
        var configuration = Runtime.Configuration()
        configuration.blockingThreads = 0
        #expect(throws: RuntimeError.self) { _ = try Runtime(configuration: configuration) }
        configuration.blockingThreads = 2
        configuration.blockingQueueLimit = -1
        #expect(throws: RuntimeError.self) { _ = try Runtime(configuration: configuration) }
    }
}
