internal import SpoolRing
internal import SpoolTimer
import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The life of a ring: a state machine, driven only by the ring thread.
///
/// ```
/// starting ──ring made──▶ running ──shutdown requested──▶ stopping ──drained──▶ stopped
///     │                      │                               │
///     └─setup failed─▶ stopped   └──fatal enter errno──▶ broken ◀──┘
///                                                          │
///                                        ring closed, kernel released it
///                                                          ▼
///                                                       stopped
/// ```
///
/// - **running**: operations are admitted.
/// - **stopping** (shutdown): nothing new is admitted; callers waiting for admission and
///   every sleeper on the timing wheel resume with ``RuntimeError/shutdown``; one cancel-everything request goes to the kernel (through
///   the one submit path, waiting for SQ room like any request); the loop keeps reaping until
///   no operation is in the kernel, then closes the ring.
/// - **broken** (`io_uring_enter` failed with an errno that is not retried): new operations
///   and callers waiting for admission resume at once with ``RuntimeError/broken(_:)``. The
///   callers whose requests are in the ring are *not* resumed yet: the ring is closed, which
///   makes the kernel cancel everything, and the loop waits (``TeardownWitness``) until the
///   kernel has freed the ring — only then can it no longer write their buffers — and
///   resumes them with ``RuntimeError/broken(_:)``. Requests the kernel never consumed from
///   the SQ are known not to have run (a close among them is then done synchronously by
///   `File.close`); for the others the effect is unknown. The event is logged once, at
///   error level.
///   The wait is bounded (``RingExecutor/brokenRingReleaseLimit``): if the kernel does not
///   confirm the release in time (a request stuck in a hung file system), those callers are
///   never resumed — contract 1 wins over a hang of the whole runtime — and that is logged at
///   critical level. Jobs for the ring run on the global executor from the moment it broke.
/// - **stopped**: the thread has exited; jobs for this executor run on the global executor,
///   and I/O they start hops onto a healthy ring of the runtime (or fails with the refusal).
extension RingExecutor {
    /// A graceful shutdown's draining phase (ring thread): new accepts are refused, and the
    /// accepts waiting or in the kernel end with ``RuntimeError/shutdown``; everything else
    /// goes on.
    func beginDraining() {
        guard lifecycle == .running, !refusesAccepts else { return }
        refusesAccepts = true
        for slot in table.slots(in: .waiting) where table.request(slot).isAccept {
            table.removeWaiting(slot)
            finish(slot, .shutdown)
        }
        for slot in table.slots(in: .submitted) where table.request(slot).isAccept {
            pendingCancels.append(table.userData(slot))
        }
    }

    /// Stop admitting, fail waiters, cancel everything in flight (ring thread).
    func beginShutdown() {
        lifecycleState.store(Lifecycle.stopping.rawValue, ordering: .sequentiallyConsistent)
        resumeWaiting(with: .shutdown)
        wakePools()
        fireAllTimers(with: .shutdown)  // sleepers resume at once with the shutdown error
        fireAllScheduled(with: .shutdown)
        // Everything the kernel holds, including the wake-up read, is cancelled; the loop keeps
        // reaping until every final completion is in, so no memory the kernel may write is freed.
        cancelAllWanted = true
    }

    /// Nothing is left that the kernel could still write, and nothing waits. Ready jobs do
    /// not hold shutdown up (a task looping forever would): `finish` hands them to the global
    /// executor, where their I/O fails with the shutdown error.
    var isDrained: Bool {
        table.inFlight == 0 && table.waitingCount == 0 && !cancelAllWanted && reactor.isDrained
    }

    /// Resumes every caller waiting for admission with `outcome`.
    func resumeWaiting(with outcome: OperationOutcome) {
        while let slot = table.firstWaiting {
            table.removeWaiting(slot)
            finish(slot, outcome)
        }
    }

    /// A fatal ring error (ring thread): new work and waiters fail fast; callers in the
    /// kernel wait for `tearDownBrokenRing`.
    func fail(brokenWith errno: Errno) {
        guard lifecycle != .broken else { return }
        brokenErrno = errno
        brokenErrnoValue.store(errno.rawValue, ordering: .releasing)
        lifecycleState.store(Lifecycle.broken.rawValue, ordering: .sequentiallyConsistent)
        logger.error("Spool ring \(index) is broken: io_uring_enter failed with \(errno) (errno \(errno.rawValue)); it takes no more work", metadata: [
            "ring": "\(index)", "errno": "\(errno.rawValue)", "inFlight": "\(table.inFlight)",
        ])
        resumeWaiting(with: .broken(errno))
        wakePools()
        fireAllTimers(with: .broken(errno))
        fireAllScheduled(with: .broken(errno))
        while pendingCancels.popFirst() != nil {}
        cancelAllWanted = false
        reactor.abandonInternalRequests()
    }

    /// Closes a broken ring and, once the kernel has let go of it, resumes the callers whose
    /// requests were in the kernel (ring thread, at the top of the loop). The backend does the
    /// ring's part (``ReactorBackend/prepareTeardown()``, ``ReactorBackend/releaseAfterBreak()``).
    func tearDownBrokenRing() {
        guard let errno = brokenErrno else { return }
        activeOperations.store(0, ordering: .releasing)
        // Wakes owed to siblings go out through eventfds, completions already posted are
        // delivered (real results), and entries still in the SQ never reached the kernel: their
        // callers get `broken` (nothing happened), the others `brokenInFlight` (effect unknown).
        guard let neverSubmitted = reactor.prepareTeardown() else { return }
        // From here on the ring takes no job: whatever is ready or arrives runs on the global
        // executor (like after a stop), so nothing waits for the teardown but the callers the
        // kernel still holds.
        lifecycleState.store(Lifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        while let next = jobs.popFirst() { globalConcurrentExecutor.enqueue(ExecutorJob(next.job)) }
        drainAfterStop()
        let released = reactor.releaseAfterBreak()
        kernelReleasedBrokenRing.store(released, ordering: .releasing)
        let held = table.slots(in: .submitted)
        if !released {
            // The kernel's release cannot be observed, so it may still write these callers'
            // buffers: contract 1 wins, and they are never resumed (their tasks leak).
            let inKernel = held.filter { !neverSubmitted.contains(table.userData($0)) }
            if !inKernel.isEmpty {
                logger.critical("Spool ring \(index): the kernel did not confirm releasing the broken ring within \(Self.brokenRingReleaseLimit); \(inKernel.count) callers whose requests it held are never resumed, so it cannot write memory they got back")
            }
            for slot in inKernel {
                table.markCompleted(slot)
                table.abandon(slot)
                if let consumer = table.consumer(of: slot) {
                    // What the consumer keeps alive (a pool's buffers, an owned send's bytes)
                    // may still be written or read by the kernel: it is never freed (the table
                    // is discarded when the ring stops, so this reference is leaked on purpose).
                    _ = Unmanaged.passRetained(consumer as AnyObject)
                    consumer.ended(.brokenInFlight(errno))
                }
            }
        }
        for slot in held where table.state(slot) == .submitted {
            let reachedKernel = !neverSubmitted.contains(table.userData(slot))
            table.markCompleted(slot)
            finish(slot, reachedKernel ? .brokenInFlight(errno) : .broken(errno))
        }
    }

    /// The thread's last act: close what is left, forward late jobs, signal waiters.
    func finish() {
        activeOperations.store(0, ordering: .releasing)
        // Close the backend: nothing is in flight (or the broken ring is already closed). A
        // ring's number stays taken (a placeholder) until every sibling has finished.
        let reservedDescriptor = reactor.close()
        // No producer may write the eventfd once it is closed (its number could be reused).
        lifecycleState.store(Lifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        // The wake read's buffer may be freed unless the kernel could still hold the read.
        wakeSignal.close(freeBuffer: !reactor.mayHoldWakeBuffer)
        // Nothing touches the operation table once stopped: give its memory back.
        table.discardAll()
        timers = TimingWheel(initialCapacity: 2)
        scheduledTimers = TimingWheel(initialCapacity: 2)
        scheduled = ScheduledTable()
        // Jobs that arrived meanwhile run elsewhere from now on.
        while let next = jobs.popFirst() { globalConcurrentExecutor.enqueue(ExecutorJob(next.job)) }
        jobs = FIFOQueue(capacity: 2)
        pendingCancels = FIFOQueue(capacity: 2)
        drainAfterStop()
        // The last publication: the final counts, and gauges at zero (nothing is left).
        metrics?.publish(MetricsState(
            statistics: statistics, wakesReceived: wakeSignal.writes.load(ordering: .relaxed) + wakeSignal.messages.load(ordering: .relaxed),
            inFlight: 0, waiting: 0, timers: 0))
        group.ringFinished(reserved: reservedDescriptor)
        thread.signalExited()
    }
}
