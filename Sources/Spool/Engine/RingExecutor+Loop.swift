internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The loop of a ring thread (DESIGN.md, *Execution model*).
///
/// One pass: take the inbox (jobs, cancellations, shutdown) → run at most
/// ``RingExecutor/jobBudget`` jobs → begin a requested shutdown → hand the backend its internal
/// requests (wake read, cancellations) → if no job is ready, park: one blocking wait of the
/// backend (one `io_uring_enter`, with the wake read in the kernel; or one `epoll_wait`);
/// otherwise poll without waiting → reap every completion, resuming the callers on this
/// thread → admit waiting operations.
///
/// **Fairness.** A task that never stops being ready (a `Task.yield()` loop) uses at most a
/// budget of jobs per pass; completions, the inbox and cancellations are served between
/// passes, so other tasks on the ring still run and their I/O still completes.
extension RingExecutor {
    func runLoop() {
        while true {
            loopPasses.add(1, ordering: .relaxed)
            serveInbox()
            // Jobs that arrived before a shutdown request still run first (FIFO); what they
            // start is cancelled with the rest.
            runJobs()
            if shutdownRequested && lifecycle == .running { beginShutdown() }
            flushInternalRequests()
            // Completions reaped inside jobs (eager submits) may have freed room: whatever can
            // be admitted goes into the SQ now, so the ring never parks with admittable work
            // waiting and nothing in flight to wake it.
            admitWaiting()

            if lifecycle == .broken {
                tearDownBrokenRing()
                return
            }
            // A closure job posted during this pass (``execute(_:)`` on the ring) still runs.
            if lifecycle == .stopping && isDrained && inbox.isEmpty { return }

            // Park only with nothing to do: no job, no inbox item, and no completion already
            // taken out of the CQ (the submit path may have moved some into its holding buffer
            // while recovering from EAGAIN/EBUSY; a wait would not see them).
            activeOperations.store(table.used + (jobs.isEmpty ? 0 : 1), ordering: .releasing)
            if jobs.isEmpty && inbox.isEmpty && !reactor.hasReadyCompletions && !timersDue {
                park(notLongerThan: metrics != nil ? publishMetrics(parking: true) : nil)
            } else {
                if metrics != nil { publishMetrics(parking: false) }
                poll()
            }
            reapCompletions()
            fireDueTimers()
            admitWaiting()
        }
    }

    private func serveInbox() {
        inbox.takeAll { item in
            switch item {
            case .job(let job, let serial): jobs.append(RingJob(job: job, serial: serial))
            case .cancel(let userData): processCancel(userData)
            case .shutdown: shutdownRequested = true
            case .drain: beginDraining()
            case .schedule(let timer): armScheduled(timer)
            case .unschedule(let timer): disarmScheduled(timer)
            case .run(let body): body()
            }
        }
    }

    /// Runs ready jobs, at most the budget (jobs they enqueue may run in the same pass while
    /// budget remains).
    private func runJobs() {
        inlineBudgetLeft = Self.inlineBudget
        var budget = Self.jobBudget
        while budget > 0, let next = jobs.popFirst() {
            if next.serial {
                next.job.runSynchronously(
                    isolatedTo: serialExecutor.asUnownedSerialExecutor(),
                    taskExecutor: taskExecutor.asUnownedTaskExecutor())
            } else {
                next.job.runSynchronously(on: taskExecutor.asUnownedTaskExecutor())
            }
            budget -= 1
        }
        if budget == 0 && !jobs.isEmpty { statistics.budgetExhausted += 1 }
        jobs.shrinkIfEmpty()  // a burst's queue shrinks even on a ring that never parks
    }

    /// Blocks in the kernel until a completion (or a wake) arrives.
    ///
    /// The wake read must be in the kernel before the wait: `flushInternalRequests` has put
    /// its SQE in the ring if there was any room, and the enter below submits it before it
    /// waits. If the SQ stayed full (the kernel would not take entries), the wait has a short
    /// timeout instead, so work posted from other threads is still seen.
    private func park(notLongerThan bound: Duration?) {
        jobs.shrinkIfEmpty()
        wakeSignal.arm()
        if !inbox.isEmpty {
            // Work arrived between the inbox check and arming: do not sleep on it.
            wakeSignal.disarm()
            poll()
            return
        }
        statistics.parks += 1
        // The next timer's deadline bounds the wait: one enter, one timeout, for all timers.
        var timeout: Duration? = timeUntilNextTimer()
        if let bound { timeout = min(timeout ?? bound, bound) }
        if !reactor.wakeIsArmed {
            // No wake read in the kernel (the SQ stayed full, or shutdown cancelled it): a
            // bounded wait, never an unbounded one.
            timeout = min(timeout ?? .seconds(1), .milliseconds(lifecycle == .running ? 1 : 10))
            statistics.timedParks += 1
        }
        parkedInKernel.store(true, ordering: .relaxed)
        reactor.enter(.park, wait: true, timeout: timeout)
        parkedInKernel.store(false, ordering: .relaxed)
        wakeSignal.disarm()
    }

    /// Submits without waiting, so completions of the work in flight are collected even
    /// while jobs stay ready.
    private func poll() {
        if reactor.needsPoll { reactor.enter(.poll, wait: false) }
    }

    /// Publishes the counters if the interval has passed: checked when the loop is about to
    /// park, and every 1,024 passes while it never parks (no clock read on other passes).
    /// Returns how long a park may last before the next publication is due, if something
    /// changed that is not yet published (an idle ring that published its last state parks
    /// without a bound).
    @discardableResult
    func publishMetrics(parking: Bool) -> Duration? {
        guard let metrics else { return nil }
        passesSincePublication += 1
        guard parking || passesSincePublication >= 1024 else { return nil }
        passesSincePublication = 0
        let now = ContinuousClock.now
        let state = MetricsState(
            statistics: statistics, wakesReceived: wakeSignal.writes.load(ordering: .relaxed) + wakeSignal.messages.load(ordering: .relaxed),
            inFlight: table.inFlight, waiting: table.waitingCount, timers: timers.count + scheduledTimers.count)
        if state == publishedMetrics { return nil }
        let since = lastMetricsPublication.duration(to: now)
        guard since >= metricsInterval else {
            // Something changed: if the ring parks now, it must wake to publish it.
            return metricsInterval - since
        }
        lastMetricsPublication = now
        publishedMetrics = state
        metrics.publish(state)
        return nil
    }

    /// Every completion the backend has ready → ``complete(_:)``.
    func reapCompletions() {
        reactor.reapCompletions(into: self)
    }
}
