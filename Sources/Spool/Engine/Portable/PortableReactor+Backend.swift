import SystemPackage

/// The portable backend's side of the seam (``ReactorBackend``): what io_uring does in the
/// kernel it does at once, on the ring thread, so most of the seam is trivial here.
///
/// - A request starts when it is admitted (there is no SQ, so never "no room"); a timeout is a
///   wheel timer of the executor's that cancels the request, the nearest equivalent of
///   `LINK_TIMEOUT`, ending it with `timedOut`.
/// - Its one wait is `epoll_wait` (``enter(_:wait:timeout:)``), which watches the ring's eventfd
///   for wakes all the time.
/// - A cancel the executor hands over acts at once (a timeout's cancel is handed over at the
///   loop's next pass); nothing of the backend's own is ever in flight; it never breaks.
extension PortableReactor {
    func attach(_ executor: RingExecutor) {
        self.executor = executor
    }

    /// Nothing to set up on the thread: epoll exists already. The in-flight cap is twice the
    /// configured SQ size (no CQ bounds completions here).
    func open() throws(RuntimeError) {
        executor.inFlightLimit = max(1, executor.inFlightLimitSetting ?? 2 * Int(executor.options.submissionEntries))
    }

    func start(_ request: OperationRequest, userData: UInt64, timeout: LinkedTimeout?) -> ReactorStart {
        start(request, userData: userData)
        return .startedNeedsTimer
    }

    /// **The one place this backend waits**: epoll, for at most `timeout` (`wait: false`: a
    /// poll). An eager call or a full SQ has nothing to submit here: requests started when
    /// they were admitted, and an eager call's result is already among the ready completions.
    func enter(_ reason: SubmitSite, wait: Bool, timeout: Duration?) {
        if reason.contains(.eager) || reason.contains(.submissionQueueFull) { return }
        do throws(Errno) {
            try self.wait(timeout: wait ? timeout : .zero)
        } catch {
            // epoll_wait fails only for a bad descriptor or argument: nothing this ring can
            // recover from. Logged; the ring backs off and goes on (its work can still end
            // through cancellation and shutdown).
            executor.statistics.stalls += 1
            executor.logger.error("Spool ring \(executor.index): epoll_wait failed with \(error)")
            ThreadCalls.pause(.milliseconds(1))
        }
    }

    func flushInternalRequests(running: Bool) -> Bool { true }

    func submitCancel(_ userData: UInt64) -> Bool {
        cancel(userData)
        return true
    }

    func submitCancelAll() -> Bool {
        cancelAll()
        return true
    }

    var hasInternalRequestsWaiting: Bool { false }

    var hasReadyCompletions: Bool { hasReady }

    var needsPoll: Bool { pending > 0 || hasReady }

    /// The eventfd is in the epoll set for the reactor's whole life.
    var wakeIsArmed: Bool { true }

    var isDrained: Bool { true }

    /// No `MSG_RING` here: a waker writes the target's eventfd.
    func deferWake(to target: RingExecutor) -> Bool { false }

    /// User-space buffers the reactor picks before each receive; the group id names the pool to
    /// the reactor, so ids a live pool still holds are skipped.
    func makePoolStorage(count: Int, bufferSize: Int) -> Result<(PoolStorage, UInt16), any Error> {
        var group = executor.nextBufferGroup
        var tried = 1
        while executor.pool(group: group) != nil {  // stops at the first free id
            guard tried < 65536 else { return .failure(IOError(.registerBuffers, errno: .fileExists)) }
            group &+= 1
            tried += 1
        }
        executor.nextBufferGroup = group &+ 1
        return .success((.user(UserBuffers(count: count, bufferSize: bufferSize)), group))
    }

    func abandonInternalRequests() {}

    /// Never reached: the portable backend does not break.
    func prepareTeardown() -> Set<UInt64>? { nil }

    func releaseAfterBreak() -> Bool { true }

    var mayHoldWakeBuffer: Bool { false }
}
