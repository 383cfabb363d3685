/// The seam beneath the ring executor: what a backend does for one ring thread (DESIGN.md,
/// *Backends*), in the manner of SwiftNIO's `_SelectorBackendProtocol`.
///
/// The executor (its loop, admission, completion → resume, timers, the inbox, shutdown) is
/// written once against these requirements and never asks which backend it runs on. Each
/// backend is one type in its own folder: ``IOURingReactor`` (`Engine/IOURing/`: SQE preparation,
/// the wake read, `ASYNC_CANCEL`, `MSG_RING`, linked timeouts, the one `io_uring_enter`) and
/// ``PortableReactor`` (`Engine/Portable/`: epoll readiness, worker threads). The executor holds
/// its backend as a ``Reactor``, a closed enum over the two, so the hot path calls them
/// statically, with no existential.
///
/// Requests are named by their `user_data`; every started request ends with exactly one final
/// completion (multishot ones with `F_MORE` on the others), which the backend hands to
/// ``RingExecutor/complete(_:)`` from ``reapCompletions()``.
///
/// **Thread-safety:** none: a backend is made and attached on the thread that makes its
/// executor, before the ring thread starts; every other requirement is called on the ring
/// thread, by its executor. **Lifetime:** owned by its executor, for the executor's whole life
/// (executors are never freed): opened on the ring thread, closed when the thread ends, after
/// which it holds no descriptor and no buffer of note.
protocol ReactorBackend: AnyObject {
    /// Gives the backend its executor (once, when the executor is made).
    func attach(_ executor: RingExecutor)

    /// Sets the backend up on the ring thread, before its loop: the ring, or nothing more.
    /// - Throws: ``RuntimeError/unavailable(_:reason:)`` when it cannot run here.
    func open() throws(RuntimeError)

    /// Starts an admitted request whose completions carry `userData`; `timeout` bounds it.
    func start(_ request: OperationRequest, userData: UInt64, timeout: LinkedTimeout?) -> ReactorStart

    /// **The one place this backend enters the kernel** (contract 4): submits what is queued and
    /// waits for completions (`wait`: at most `timeout`, nil: no bound) or only polls. `reason`
    /// says why (``SubmitSite``).
    func enter(_ reason: SubmitSite, wait: Bool, timeout: Duration?)

    /// Hands every ready completion of a user request to `executor` (its own), oldest first.
    func reapCompletions(into executor: RingExecutor)

    /// Puts the backend's own requests in (the wake read) before the executor's cancels;
    /// false if one found no room and waits for the next pass. `running`: the ring is not
    /// stopping.
    func flushInternalRequests(running: Bool) -> Bool

    /// Asks the backend to cancel the request `userData` names; false if there is no room
    /// now (the executor tries again next pass).
    func submitCancel(_ userData: UInt64) -> Bool

    /// Asks the backend to cancel everything it holds (shutdown); false if there is no room now.
    func submitCancelAll() -> Bool

    /// The backend's own requests wait for room: no user operation is admitted before them.
    var hasInternalRequestsWaiting: Bool { get }

    /// Completions are ready to reap without entering the kernel: the loop must not park.
    var hasReadyCompletions: Bool { get }

    /// Something is queued or in flight that a poll would collect.
    var needsPoll: Bool { get }

    /// A wake from another thread reaches a blocking wait (the wake read is in the kernel).
    var wakeIsArmed: Bool { get }

    /// Nothing of the backend's own is left in the kernel (the ring may stop).
    var isDrained: Bool { get }

    /// Takes a sibling ring's wake to deliver with this ring's next submit (`MSG_RING`); false
    /// if this backend cannot (the waker then writes the target's eventfd).
    func deferWake(to target: RingExecutor) -> Bool

    /// A buffer pool's storage and group id on this ring (provided-buffer rings in the kernel,
    /// or user-space buffers the backend picks).
    func makePoolStorage(count: Int, bufferSize: Int) -> Result<(PoolStorage, UInt16), any Error>

    /// The ring broke: forget the backend's own requests that were waiting for room.
    func abandonInternalRequests()

    /// The ring broke: the `user_data` of requests the kernel never took (nothing happened to
    /// them), after delivering the completions already posted; nil if there is nothing to tear down.
    func prepareTeardown() -> Set<UInt64>?

    /// The broken ring is freed; true if the kernel confirmed it released it (only then can it
    /// no longer write the callers' memory).
    func releaseAfterBreak() -> Bool

    /// Whether the kernel may still hold the wake read's buffer (then it is never freed).
    var mayHoldWakeBuffer: Bool { get }

    /// Releases what the backend holds (ring thread, at exit, nothing in flight); returns a
    /// descriptor number kept reserved for siblings, which the ring group closes later.
    func close() -> Int32?
}

/// What starting an admitted request did (``ReactorBackend/start(_:userData:timeout:)``).
enum ReactorStart {
    /// No room now (the SQ stayed full, or the ring broke): the request stays waiting.
    case noRoom
    /// Started; its timeout, if it has one, is the backend's own (a linked `LINK_TIMEOUT`).
    case started
    /// Started; its timeout must be a wheel timer that cancels it when it expires.
    case startedNeedsTimer
}

/// The timeout bounding one request: the caller's `__kernel_timespec` (filled by the backend
/// with the time left when it starts the request) and the deadline it stands for.
struct LinkedTimeout {
    var timespec: UnsafeMutableRawPointer
    /// A ``StoredInstant``, not a `ContinuousClock.Instant`: this value is made on the
    /// per-operation path, which must stay free of the runtime's witness calls.
    var deadline: StoredInstant
}
