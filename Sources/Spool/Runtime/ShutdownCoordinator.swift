internal import SpoolRing
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a runtime is in its shutdown (DESIGN.md contract 7). A plain value: `Sendable`.
///
/// ```
/// running ──shutdown(gracePeriod:)──▶ draining ──idle, or grace over──▶ cancelling
///                                                                          │
///       finished ◀──rings closed (or the drain limit passed)── closing ◀───┘
/// ```
public enum ShutdownPhase: UInt8, Sendable, Comparable, CustomStringConvertible {
    /// Admitting work.
    case running = 0
    /// No new work is admitted: ``Runtime/spawn(on:_:)`` and ``Runtime/spawnBlocking(_:)``
    /// throw ``RuntimeError/shutdown`` and listeners stop accepting; tasks already running,
    /// their operations, sleeps and blocking jobs go on until they finish or the grace
    /// period ends.
    case draining = 1
    /// The grace period is over (or nothing was left): the rest is cancelled — every
    /// operation in the kernel gets `ASYNC_CANCEL`, sleepers and callers waiting for admission
    /// or for the blocking pool resume with ``RuntimeError/shutdown``, queued blocking jobs are
    /// dropped and running ones abandoned (reported in the log).
    case cancelling = 2
    /// The rings reap the kernel's last completions (no operation may still own memory the
    /// kernel can write) and close.
    case closing = 3
    /// Every ring is closed, or the drain limit passed with some still waiting for the kernel
    /// (reported in the log; they close in the background and free nothing the kernel holds).
    case finished = 4

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .running: return "running"
        case .draining: return "draining"
        case .cancelling: return "cancelling"
        case .closing: return "closing"
        case .finished: return "finished"
        }
    }
}

/// Runs a runtime's shutdown, once, on a thread of its own, so that any number of callers —
/// on any thread, a ring thread included — can start it or wait for it.
///
/// **Thread-safety:** every member may be called from any thread. **Lifetime:** the runtime's;
/// its thread holds the runtime until the shutdown has finished.
final class ShutdownCoordinator: @unchecked Sendable {  // atomics and PosixLocked state
    /// The longest grace period honoured (a longer one is this).
    static let longestGracePeriod: Duration = .seconds(100 * 365 * 24 * 3600)
    private let phaseValue = Atomic<UInt8>(ShutdownPhase.running.rawValue)
    /// When the grace period ends, in nanoseconds of the continuous clock since `origin`; a
    /// later call with a shorter grace period brings it forward.
    private let graceEnd = Atomic<Int64>(.max)
    private let origin = ContinuousClock.now
    private let finished = OneShotSignal()
    /// No thread could be started for the state machine and nobody runs it yet: the first
    /// caller about to block for the end (or the fallback task, if it gets a thread first)
    /// claims it and runs it.
    private let unclaimed = Atomic<Bool>(false)
    /// The state machine has a thread of its own: waiters need not look for an unclaimed run.
    private let threadStarted = Atomic<Bool>(false)
    /// Tests only: every thread start for the shutdown fails, as under a pids limit.
    let refusesThreadsForTesting = Atomic<Bool>(false)

    var phase: ShutdownPhase { ShutdownPhase(rawValue: phaseValue.load(ordering: .acquiring)) ?? .finished }

    /// Whether new work is refused.
    var hasBegun: Bool { phaseValue.load(ordering: .relaxed) != ShutdownPhase.running.rawValue }

    /// Starts the shutdown (the first call), or brings its grace period's end forward. Returns
    /// whether this call started it.
    func begin(gracePeriod: Duration, runtime: Runtime) -> Bool {
        // Clamped to 100 years: "wait forever" (`.seconds(.max)`) must not overflow.
        let grace = min(max(.zero, gracePeriod), Self.longestGracePeriod)
        let end = nanos(ContinuousClock.now.advanced(by: grace))
        var current = graceEnd.load(ordering: .relaxed)
        while end < current {
            let (exchanged, original) = graceEnd.compareExchange(expected: current, desired: end, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
        guard phaseValue.compareExchange(expected: ShutdownPhase.running.rawValue, desired: ShutdownPhase.draining.rawValue,
                                         ordering: .acquiringAndReleasing).exchanged else { return false }
        let thread = RingThread()
        do {
            if refusesThreadsForTesting.load(ordering: .relaxed) { throw RuntimeError.unavailable(.resourceTemporarilyUnavailable, reason: "refused for a test") }
            try thread.start { [self] in
                CurrentThread.setName("spool-shutdown")
                run(runtime)
            }
            threadStarted.store(true, ordering: .releasing)
        } catch {
            // No thread could be started (a pids limit): a task on the global executor runs it
            // (blocking one of its threads for the shutdown's bounded length), unless a caller
            // about to block for the end claims it first (`waitUntilFinished(runtime:)`):
            // blocking callers may fill the cooperative pool before that task runs.
            unclaimed.store(true, ordering: .releasing)
            Task.detached { self.runIfUnclaimed(runtime) }
        }
        return true
    }

    /// Runs the state machine here if no thread could be started for it and nobody has
    /// claimed it.
    private func runIfUnclaimed(_ runtime: Runtime) {
        if unclaimed.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged { run(runtime) }
    }

    /// Blocks until the shutdown has finished, running it here if it has no thread and nobody
    /// runs it (a shutdown another caller began may fail to start its thread after this
    /// caller began to wait: it looks again every 10 ms).
    func waitUntilFinished(runtime: Runtime) {
        while true {
            runIfUnclaimed(runtime)
            if threadStarted.load(ordering: .acquiring) {
                finished.wait()
                return
            }
            if finished.wait(before: ContinuousClock.now.advanced(by: .milliseconds(10))) { return }
        }
    }

    /// Suspends until the shutdown has finished.
    nonisolated(nonsending) func finishedShutdown() async { await finished.waitAsync() }

    // MARK: The state machine

    private func run(_ runtime: Runtime) {
        let logger = runtime.configuration.logger
        // draining: refuse new work, let the rest go on.
        runtime.blockingPool.closeAdmission()
        for ring in runtime.rings { ring.post(.drain) }
        var poll: Int64 = 100  // µs, growing to 10 ms: quick to notice the end, cheap if it is long
        while !runtime.isQuiescent {
            let left = nanos(ContinuousClock.now).distance(to: graceEnd.load(ordering: .relaxed))
            if left <= 0 { break }
            let micros: Int64 = min(Int64(left) / 1000 + 1, poll)
            usleep(UInt32(micros))
            poll = min(poll * 2, 10_000)
        }
        // cancelling
        setPhase(.cancelling)
        runtime.cancelEverything()
        // closing: the rings reap their last completions and close.
        setPhase(.closing)
        let limit = ContinuousClock.now.advanced(by: runtime.configuration.shutdownDrainLimit)
        let late = runtime.rings.filter { !$0.thread.waitUntilExited(before: limit) }
        if !late.isEmpty {
            logger.error("Spool shutdown: \(late.count) ring(s) (\(late.map(\.index))) still wait for the kernel to complete cancelled requests after the drain limit of \(runtime.configuration.shutdownDrainLimit); they close in the background once it does, and free nothing it may still write")
        }
        if let workers = runtime.fileWorkers {
            // The portable backend's workers take no more jobs and their threads exit; a job
            // still running (a late ring waits for it) finishes and posts its result first.
            for job in workers.stop() { job.refuse(.shutdown) }
        }
        runtime.stallDetector?.stop()
        runtime.forget()
        setPhase(.finished)
        finished.signal()
    }

    private func setPhase(_ phase: ShutdownPhase) { phaseValue.store(phase.rawValue, ordering: .releasing) }

    private func nanos(_ instant: ContinuousClock.Instant) -> Int64 {
        let (s, a) = origin.duration(to: instant).components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
