internal import SpoolRing
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Watches a runtime's rings from a thread of its own and logs (warning level) when a ring's
/// loop has not come back to the kernel for longer than a threshold: the symptom of a task
/// that blocks its ring (a blocking call, a long computation), which stalls every other task
/// and every completion of that ring.
///
/// A ring counts its loop passes and flags the time it spends parked in the kernel; every
/// quarter threshold the detector looks for a ring that is neither parked nor has finished a
/// pass since the last look, and reports it once per stall (with how long, the ring and its
/// thread id), then once more, at info level, when the ring comes back. Reported stalls also
/// count in `spool_stalls_total`.
///
/// **Thread-safety:** ``stop()`` from any thread. **Lifetime:** from the runtime's start until
/// its shutdown finishes.
final class StallDetector: Sendable {
    private let threshold: Duration
    private let rings: [RingExecutor]
    private let logger: Logger
    private let stopped = OneShotSignal()

    init(threshold: Duration, rings: [RingExecutor], logger: Logger) {
        self.threshold = threshold
        self.rings = rings
        self.logger = logger
    }

    /// Starts the watching thread; false if no thread could be started (logged).
    @discardableResult
    func start() -> Bool {
        do {
            try RingThread().start { [self] in watch() }
            return true
        } catch {
            logger.error("Spool: could not start the stall detector's thread (\(error)); stalls will not be reported")
            return false
        }
    }

    /// Stops the watching thread (it exits within a quarter threshold).
    func stop() { stopped.signal() }

    private func watch() {
        CurrentThread.setName("spool-stalls")
        struct Seen { var passes: UInt64; var since: ContinuousClock.Instant; var reported: Bool }
        var seen = rings.map { Seen(passes: $0.loopPasses.load(ordering: .relaxed), since: .now, reported: false) }
        let period = max(threshold / 4, .microseconds(100))
        while !stopped.wait(before: ContinuousClock.now.advanced(by: period)) {
            let now = ContinuousClock.now
            for (i, ring) in rings.enumerated() {
                let state = ring.lifecycle
                guard state == .running || state == .stopping else { continue }
                let passes = ring.loopPasses.load(ordering: .relaxed)
                if passes != seen[i].passes || ring.parkedInKernel.load(ordering: .relaxed) {
                    if seen[i].reported {
                        logger.info("Spool ring \(ring.index) is back in its loop after a stall of \(seen[i].since.duration(to: now))", metadata: ["ring": "\(ring.index)"])
                    }
                    seen[i] = Seen(passes: passes, since: now, reported: false)
                    continue
                }
                let stuck = seen[i].since.duration(to: now)
                if stuck >= threshold && !seen[i].reported {
                    seen[i].reported = true
                    ring.stallsReported.add(1, ordering: .relaxed)
                    ring.metrics?.stalls.increment()
                    logger.warning("Spool ring \(ring.index) has not come back to the kernel for \(stuck) (threshold \(threshold)): a task is blocking its thread; run blocking calls with Runtime.spawnBlocking", metadata: [
                        "ring": "\(ring.index)", "thread": "\(ring.threadID.load(ordering: .relaxed))", "stalledFor": "\(stuck)",
                    ])
                }
            }
        }
    }
}
