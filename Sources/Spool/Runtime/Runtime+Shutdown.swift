#if canImport(Glibc)
import Glibc
#endif

/// Shutdown: DESIGN.md contract 7, as the state machine ``ShutdownPhase`` draws.
extension Runtime {
    /// Shuts the runtime down and blocks until it has finished (see ``ShutdownPhase``):
    ///
    /// 1. **draining** — no new work is admitted (``spawn(on:_:)``, ``spawnBlocking(_:)`` and
    ///    accepts throw ``RuntimeError/shutdown``); running tasks, their I/O, sleeps and
    ///    blocking jobs go on for up to `gracePeriod`, or until none is left;
    /// 2. **cancelling** — what is left is cancelled: operations in the kernel get
    ///    `ASYNC_CANCEL`; sleepers and callers waiting for admission or for the blocking pool
    ///    resume with ``RuntimeError/shutdown``; blocking jobs not started are dropped, and the
    ///    threads of those still running are abandoned (reported in the log);
    /// 3. **closing** — each ring reaps completions until no operation owns memory the kernel
    ///    may write, then closes;
    /// 4. **finished**.
    ///
    /// It returns within `gracePeriod` + ``Configuration/shutdownDrainLimit`` (default 5 s) + a
    /// few milliseconds, even if a blocking job never returns. A ring whose kernel requests
    /// outlast the drain limit (a read stuck on a hung file system ignores cancellation) is
    /// reported in the log and closes in the background when the kernel lets go: its callers
    /// are not resumed, and nothing the kernel may write is freed, before then.
    ///
    /// Safe to call any number of times, from many threads at once, and from a task on one of
    /// this runtime's rings: the first call starts the shutdown, a later one with a shorter
    /// grace period brings its end forward, and every call waits for the same end. On a ring
    /// thread of this runtime it only starts the shutdown and returns (blocking there would wait
    /// for itself): use ``shutdownAndWait(gracePeriod:)`` to wait there.
    ///
    /// - Parameter gracePeriod: how long running work may go on; `.zero` (the default)
    ///   cancels it at once.
    ///
    /// Called from a task on the global executor it blocks one of its threads for up to that
    /// long: prefer ``shutdownAndWait(gracePeriod:)`` in async code.
    public func shutdown(gracePeriod: Duration = .zero) {
        let onOwnRing = RingExecutor.current.map { current in rings.contains { $0 === current } } ?? false
        // If no shutdown thread can be started, a caller about to block runs the shutdown itself,
        // in its wait (where its own spawn count is lent, so it does not wait for itself).
        _ = shutdownCoordinator.begin(gracePeriod: gracePeriod, runtime: self)
        if onOwnRing { return }
        withoutHoldingTheShutdown { shutdownCoordinator.waitUntilFinished(runtime: self) }
    }

    /// Shuts the runtime down like ``shutdown(gracePeriod:)`` and suspends (without blocking a
    /// thread) until it has finished. Safe from any task, a task on one of the runtime's rings
    /// included. A task started with ``spawn(on:_:)`` that calls it does not hold up the grace
    /// period itself.
    public nonisolated(nonsending) func shutdownAndWait(gracePeriod: Duration = .zero) async {
        _ = shutdownCoordinator.begin(gracePeriod: gracePeriod, runtime: self)
        let lent = ownSpawnToken?.lend() ?? false
        await shutdownCoordinator.finishedShutdown()
        if lent { ownSpawnToken?.giveBack() }
    }

    /// Starts the shutdown, or brings the end of its grace period forward, and returns at
    /// once without waiting for it (from any thread, also a signal-handling task or a
    /// cancellation handler). ``shutdownPhase`` says how far it got.
    public func beginShutdown(gracePeriod: Duration = .zero) {
        _ = shutdownCoordinator.begin(gracePeriod: gracePeriod, runtime: self)
    }

    /// Runs `body` (a blocking wait for the shutdown) without the calling spawned task counting
    /// as running work.
    private func withoutHoldingTheShutdown(_ body: () -> Void) {
        let lent = ownSpawnToken?.lend() ?? false
        body()
        if lent { ownSpawnToken?.giveBack() }
    }

    /// The calling task's spawn count, if this runtime's ``spawn(on:_:)`` started it (or its parent).
    private var ownSpawnToken: SpawnToken? {
        var token = Runtime.spawnToken
        while let t = token, t.tracker !== taskTracker { token = t.outer }
        return token
    }

    /// Where the runtime is in its shutdown.
    public var shutdownPhase: ShutdownPhase { shutdownCoordinator.phase }

    /// Nothing left to wait for: no task started with ``spawn(on:_:)`` runs, no blocking job
    /// waits or runs, and no ring has an operation or a sleeper.
    var isQuiescent: Bool {
        taskTracker.count == 0 && blockingPool.isIdle
            && rings.allSatisfy { $0.lifecycle != .running || $0.activeOperations.load(ordering: .acquiring) == 0 }
    }

    /// The cancelling phase: the blocking pool stops, every ring begins its own shutdown.
    func cancelEverything() {
        stopBlockingPool()
        for r in rings { r.requestShutdown() }
    }

    /// Removes the runtime from the process-wide list of live runtimes.
    func forget() {
        Runtime.live.withLock { list in list.removeAll { $0.runtime == nil || $0.runtime === self } }
    }
}
