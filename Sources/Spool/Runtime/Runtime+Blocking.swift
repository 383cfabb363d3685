/// A caller waiting for a blocking job (shutdown resumes every one).
protocol BlockingCallWaiter: AnyObject, Sendable {
    func shutDown()
}

/// One ``Runtime/spawnBlocking(_:)`` call: its continuation, resumed exactly once — by the
/// job's result, by the caller's cancellation before the job started, by a refusal, or by
/// shutdown, whichever comes first; later ones do nothing.
///
/// **Thread-safety:** `Sendable`; any thread. **Lifetime:** the call's.
final class BlockingCall<T: Sendable>: BlockingCallWaiter, Sendable {
    private struct State: ~Copyable, WaiterListHolding {
        var outcome: Result<T, any Error>? = nil
        /// The caller, waiting for the outcome.
        var waiters = WaiterList()
    }

    private let state = PosixLocked(State())
    private weak let runtime: Runtime?

    init(runtime: Runtime) { self.runtime = runtime }

    /// Waits for the outcome (at once if it is known already) and returns it.
    nonisolated(nonsending) func result() async throws -> T {
        while true {
            if let outcome = state.withLock({ $0.outcome }) { return try outcome.get() }
            await state.wait { s in s.outcome != nil }
        }
    }

    /// Delivers the outcome (the first one wins).
    func finish(_ outcome: Result<T, any Error>) {
        let first = state.withLock { s -> Bool in
            if s.outcome != nil { return false }
            s.outcome = outcome
            return true
        }
        guard first else { return }
        runtime?.blockingCalls.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(self)) }
        state.withLock { $0.waiters.takeAll() }.resume()
    }

    func shutDown() { finish(.failure(RuntimeError.shutdown)) }
}

extension Runtime {
    /// Runs `body` on a thread of the runtime's blocking pool and returns its result: the place
    /// for a call that blocks (a C library without an async API, `getaddrinfo`, heavy CPU work),
    /// which on a ring would stall every task of that ring.
    ///
    /// ```swift
    /// let entries = try await runtime.spawnBlocking { try legacyIndex.lookup(key) }
    /// ```
    ///
    /// - The error `body` throws reaches the caller unchanged.
    /// - The caller resumes on its own executor (a task on a ring goes back to its ring).
    /// - If the caller's task is cancelled before `body` started, `body` never runs and the call
    ///   throws `CancellationError`. Once it runs, it runs to its end and the caller waits for it.
    /// - The pool is bounded: ``Configuration/blockingThreads`` run at once,
    ///   ``Configuration/blockingQueueLimit`` wait; one more throws
    ///   ``RuntimeError/blockingPoolFull(limit:)`` at once (no unbounded wait or allocation).
    /// - At shutdown the call throws ``RuntimeError/shutdown``, also while `body` still runs:
    ///   that thread is abandoned (and reported in the log), and its result, whenever it comes,
    ///   is dropped. Shutdown never waits for it. Such a `body` may still be using what it
    ///   captured after the caller resumed: do not free or reuse that (a descriptor, a
    ///   buffer) on the shutdown path.
    ///
    /// **Thread-safety:** call from any task.
    public nonisolated(nonsending) func spawnBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        let call = BlockingCall<T>(runtime: self)
        let job = BlockingPool.Job(run: { call.finish(Result { try body() }) }, refuse: { call.finish(.failure($0)) })
        blockingCalls.withLock { $0[ObjectIdentifier(call)] = call }
        return try await withTaskCancellationHandler {
            if let refusal = blockingPool.submit(job) { call.finish(.failure(refusal)) }
            return try await call.result()
        } onCancel: {
            if blockingPool.withdraw(job) { call.finish(.failure(CancellationError())) }
        }
    }

    /// Blocking jobs waiting for a thread, and running (diagnostics and tests).
    var blockingPoolDepth: (queued: Int, running: Int) { (blockingPool.queued, blockingPool.runningCount) }

    /// Stops the blocking pool: no new jobs; every waiting caller resumes with the shutdown
    /// error; threads still running a job are abandoned and reported.
    func stopBlockingPool() {
        let (_, running) = blockingPool.stop()
        let waiting = blockingCalls.withLock { calls -> [any BlockingCallWaiter] in
            let all = Array(calls.values)
            calls.removeAll()
            return all
        }
        for call in waiting { call.shutDown() }
        if running > 0 {
            configuration.logger.warning("Spool shutdown: \(running) blocking-pool job(s) still running; their threads are abandoned and their results dropped")
        }
    }
}
