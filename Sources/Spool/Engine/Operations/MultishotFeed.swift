internal import SpoolRing
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The meeting point of a multishot request (completions arrive on the ring thread) and the
/// one task that consumes them (any thread): a bounded queue of CQEs under a lock, the
/// consumer's continuation, and the request's arm/stop state.
///
/// The consumer calls ``next()``: it takes the oldest queued completion; when none is queued
/// and no request is armed, it arms one (on the ring, through the one operation path), so a
/// request that ended (the kernel stops a multishot receive when its buffers run out, and
/// this feed pauses an accept when `bound` connections are queued) is re-armed only when the
/// consumer comes back for more — that is the backpressure. ``stop()`` (the owner's `deinit`)
/// cancels the request; completions that arrive afterwards are disposed of as its ``Yield``
/// says (an accepted descriptor closed, a buffer returned), so nothing is lost or leaked.
///
/// A consumer with no task while idle (``ArrivalReceiver``) calls ``nextIfQueued(pool:)``
/// instead: where ``next(pool:)`` would wait, it returns nil and sets the feed's `sleeping`
/// flag under its lock, and the next completion or end calls the consumer's `wake` once.
///
/// **Thread-safety:** `Sendable`; ``next()`` must not run concurrently with itself (a
/// `~Copyable` owner calls it from a `mutating` method; ``ArrivalReceiver``'s tasks follow one
/// another, each started by the one `wake` that clears `sleeping`). **Lifetime:** the ring's
/// slot holds the feed while a request is armed; the owner holds it otherwise (and the feed
/// holds an ``ArrivalReceiver`` through its wake until the stream ends).
final class MultishotFeed: CompletionConsumer, Sendable {
    /// One completion.
    struct Event: Sendable {
        var result: Int32
        var flags: UInt32
        /// The request ended with this completion (no `F_MORE`).
        var final: Bool
    }

    private struct State: ~Copyable, WaiterListHolding {
        var events = FIFOQueue<Event>()
        /// The consumer waiting for a change, and ``stopAndWait()``'s caller waiting for the
        /// armed request to end (each asks its own condition again when woken).
        var waiters = WaiterList()
        /// A request is armed (or being armed); cleared by its final completion.
        var armed = false
        /// The armed request's `user_data`, once known.
        var userData: UInt64? = nil
        /// The request was cancelled because `bound` events were queued.
        var paused = false
        /// The last request ended for want of buffers (`ENOBUFS`): the next arm waits for one.
        var starved = false
        var stopped = false
        /// Why the feed can never arm again (shutdown, a broken ring).
        var refused: OperationOutcome? = nil
        /// A consumer with no task (``nextIfQueued(pool:)``) found nothing to do: the next
        /// change calls `wake` once.
        var sleeping = false
        /// How a consumer with no task is woken (nil for a consumer that waits in a task).
        var wake: (@Sendable () -> Void)? = nil

        /// The wake to call for a change, if the consumer sleeps (clearing that).
        mutating func takeWake() -> (@Sendable () -> Void)? {
            guard sleeping else { return nil }
            sleeping = false
            return wake
        }
        var queued: Int { events.count }
    }

    /// What the feed's completions carry, and so what becomes of one nobody consumes.
    enum Yield: Sendable {
        /// Accepted descriptors: one left over is closed.
        case descriptors
        /// Buffers of this pool: each is marked taken when the kernel fills it (on the ring
        /// thread, before anyone can consume it), and one left over goes back.
        case buffers(BufferPool)
    }

    let ring: RingExecutor
    /// The request each arm submits (a receive's byte limit is dropped once a kernel refused
    /// one: ``receiveLimitRefused``).
    private let request: OperationRequest
    private let bound: Int
    private let yield: Yield
    /// Memory the request names (a datagram receive's message header), kept for the feed's life.
    nonisolated(unsafe) private let keepAlive: AnyObject?  // only held, never used
    private let state: PosixLocked<State>  // a pthread lock: ThreadSanitizer does not see Mutex's futex

    /// Set once a kernel refused a multishot receive's byte limit (`EINVAL`, before Linux
    /// 6.16): later arms go without it.
    static let receiveLimitRefused = Atomic<Bool>(false)

    /// No closures: a feed stays with every idle connection, so what it holds is counted per
    /// connection (a closure's context is one more allocation each).
    /// - Parameters:
    ///   - request: what each arm submits.
    ///   - bound: queued completions beyond which the request is cancelled until the consumer
    ///     drains the queue.
    ///   - yield: what the completions carry (what becomes of those nobody consumes, after ``stop()``).
    ///   - keepAlive: memory `request` points into, held as long as the feed.
    init(ring: RingExecutor, request: OperationRequest, bound: Int, yield: Yield, keepAlive: AnyObject? = nil) {
        self.ring = ring
        self.request = request
        self.bound = bound
        self.yield = yield
        self.keepAlive = keepAlive
        self.state = PosixLocked(State())
    }

    /// The request for the next arm.
    private func currentRequest() -> OperationRequest {
        if case .receiveMultishot(let fd, let group, let limit) = request, limit != 0, Self.receiveLimitRefused.load(ordering: .relaxed) {
            return .receiveMultishot(fd: fd, group: group, limit: 0)
        }
        return request
    }

    /// Sees every completion first, on the ring thread: a receive counts the buffer the kernel filled.
    private func observe(_ event: Event) {
        if case .buffers(let pool) = yield, let id = Completion(userData: 0, result: event.result, flags: event.flags).bufferID {
            pool.markTaken(id)
        }
    }

    /// Takes a completion nobody will consume: its buffer goes back, its descriptor is closed.
    private func dispose(_ event: Event) {
        switch yield {
        case .descriptors:
            if event.result >= 0 { DescriptorClose.close(event.result) }
        case .buffers(let pool):
            if let id = Completion(userData: 0, result: event.result, flags: event.flags).bufferID { pool.giveBack(id, leased: false) }
        }
    }

    // MARK: Ring side

    func deliver(result: Int32, flags: UInt32, final: Bool) {
        let event = Event(result: result, flags: flags, final: final)
        observe(event)
        var cancel: UInt64? = nil
        var keep = true
        var wake: (@Sendable () -> Void)? = nil
        let wakes = state.withLock { s -> Wakes in
            if final {
                s.armed = false
                s.userData = nil
                s.starved = result == -ENOBUFS
            }
            if s.stopped {
                keep = false
                if final { wake = s.takeWake() }  // a stop waiting for the end
                return final ? s.waiters.takeAll() : .none
            }
            s.events.append(event)
            if !final && !s.paused && s.queued >= bound, let userData = s.userData {
                s.paused = true
                cancel = userData
            }
            wake = s.takeWake()
            return s.waiters.takeAll()
        }
        if !keep { dispose(event) }
        if let cancel {
            ring.statistics.multishotPauses += 1  // ring thread
            ring.requestCancel(cancel)
        }
        wakes.resume()
        wake?()
    }

    func ended(_ outcome: OperationOutcome) {
        var wake: (@Sendable () -> Void)? = nil
        state.withLock { s -> Wakes in
            s.armed = false
            s.userData = nil
            switch outcome {
            case .cancelled: break  // stopped before it reached the kernel
            default: s.refused = outcome
            }
            wake = s.takeWake()
            return s.waiters.takeAll()
        }.resume()
        wake?()
    }

    // MARK: Consumer side

    /// What ``next()`` found.
    enum Next: Sendable {
        case event(Event)
        /// The runtime stopped or the ring broke: nothing more will come.
        case refused(OperationOutcome)
    }

    private enum Step {
        case event(Event)
        case refused(OperationOutcome)
        case arm(starved: Bool)
        case wait
    }

    /// The next completion, arming a request when none is armed and none is queued.
    ///
    /// With `pool` (a receive into a ``BufferPool``): a request that ended for want of buffers
    /// (`ENOBUFS`: the kernel has bytes for it) is re-armed only once the pool has a free
    /// buffer, waiting for one in line. Any other arm goes ahead at once: an armed receive
    /// holds no buffer until bytes arrive, and one that waited for a free buffer it may not
    /// need would hold the wake another receiver needs. A receive that ends here (an error,
    /// the end of the stream, a cancel, the runtime stopping) passes on a wake it may have
    /// taken (``BufferPool/passWakeOn()``). The pool is a parameter, not closures, because this
    /// frame stays with an idle connection's task for its whole life.
    /// - Throws: `CancellationError` when the consumer's task is cancelled (the armed request
    ///   stays armed; queued completions stay queued).
    @inline(never) nonisolated(nonsending) func next(pool: BufferPool? = nil) async throws -> Next {
        // Only `pool` and a one-word step live across the awaits: the decisions are made in
        // `turn(pool:)`, synchronously.
        while true {
            switch turn(pool: pool) {
            case .ready(let next):
                return next
            case .cancelled:
                throw CancellationError()
            case .wait:
                // Waited here, not in a helper: each async call is one more frame (and its
                // header) in the idle connection's task allocator.
                await state.waitUnlessCancelled(unless: Self.changed)  // `turn` asks for cancellation next
            case .waitForBuffer:
                try await Self.waitForFreeBuffer(in: pool)
            case .arm:
                await arm()
            }
        }
    }

    /// Waits in `pool`'s line for a free buffer; one that leaves (cancelled, the ring
    /// stopping) passes its wake on. Out of line: its error handling would widen the frame of
    /// ``next(pool:)``, which an idle connection's task keeps.
    @inline(never) private nonisolated(nonsending) static func waitForFreeBuffer(in pool: BufferPool?) async throws {
        do {
            try await pool?.waitForFreeBuffer()
        } catch {
            pool?.passWakeOn()
            throw error
        }
    }

    /// Like ``next(pool:)``, for a consumer with no task while idle: arms a request, or waits
    /// for a free buffer, as ``next(pool:)`` does, but where that would wait for a completion
    /// it returns nil and the feed's next change calls `wake` (set by ``setWake(_:)``) once.
    /// - Throws: `CancellationError` when the calling task is cancelled (also while it waits
    ///   for a free buffer).
    @inline(never) nonisolated(nonsending) func nextIfQueued(pool: BufferPool) async throws -> Next? {
        while true {
            switch turn(pool: pool, sleepInsteadOfWaiting: true) {
            case .ready(let next):
                return next
            case .cancelled:
                throw CancellationError()
            case .wait:
                return nil
            case .waitForBuffer:
                try await Self.waitForFreeBuffer(in: pool)
            case .arm:
                await arm()
            }
        }
    }

    /// Sets how a consumer with no task is woken (see ``nextIfQueued(pool:)``); nil breaks
    /// the reference cycle the wake may make (the consumer holds the feed).
    func setWake(_ wake: (@Sendable () -> Void)?) {
        state.withLock { s in
            s.wake = wake
            if wake == nil { s.sleeping = false }
        }
    }

    /// For a consumer with no task that stopped the feed where no task can run (the runtime
    /// is stopping): true if no request is armed (the descriptor may be closed now);
    /// otherwise false, and the armed request's end calls `wake`.
    func endedOrWakeWhenEnded() -> Bool {
        state.withLock { s in
            if !s.armed { return true }
            s.sleeping = true
            return false
        }
    }

    /// Whether the consumer waiting in ``next(pool:)`` has something to look at. A function,
    /// not a closure literal: a literal's context is one more allocation in the waiting task.
    private static func changed(_ s: inout State) -> Bool {
        !s.events.isEmpty || !s.armed || s.refused != nil || s.stopped
    }

    /// What ``next(pool:)`` does next.
    private enum Turn {
        case ready(Next)
        case cancelled
        case wait
        case waitForBuffer
        case arm
    }

    /// One decision of ``next(pool:)`` (synchronous, so its work needs no room in the
    /// consumer's long-lived async frame).
    @inline(never)
    private func turn(pool: BufferPool?, sleepInsteadOfWaiting: Bool = false) -> Turn {
        if Task.isCancelled {
            pool?.passWakeOn()
            return .cancelled
        }
        let step = state.withLock { s -> Step in
            if let e = s.events.popFirst() {
                s.events.shrinkIfEmpty()
                return .event(e)
            }
            if let refused = s.refused { return .refused(refused) }
            if s.stopped { return .refused(.cancelled) }
            if s.armed {
                if sleepInsteadOfWaiting { s.sleeping = true }  // decided under the lock: no lost wake
                return .wait
            }
            return .arm(starved: s.starved)
        }
        switch step {
        case .event(let e):
            if let pool, e.final, e.result != -ENOBUFS, Completion(userData: 0, result: e.result, flags: e.flags).bufferID == nil {
                pool.passWakeOn()
            }
            return .ready(.event(e))
        case .refused(let outcome):
            pool?.passWakeOn()
            return .ready(.refused(outcome))
        case .wait:
            return .wait
        case .arm(let starved):
            if ring.lifecycle != .running {
                pool?.passWakeOn()
                return .ready(.refused(ring.refusal))
            }
            if starved, let pool, !pool.hasFreeBuffer { return .waitForBuffer }
            state.withLock { s in
                s.armed = true
                s.paused = false
                s.starved = false
            }
            return .arm
        }
    }

    /// Starts the request on the feed's ring (hopping there if needed).
    @inline(never) private nonisolated(nonsending) func arm() async {
        if RingExecutor.current === ring {
            ring.statistics.multishotArms += 1
            attach(ring.start(currentRequest(), consumer: self))
            return
        }
        let ring = self.ring
        let started: Bool = await withTaskExecutorPreference(ring.taskExecutor) {
            guard RingExecutor.current === ring else { return false }
            ring.statistics.multishotArms += 1
            self.attach(ring.start(self.currentRequest(), consumer: self))
            return true
        }
        if !started { ended(ring.refusal) }
    }

    /// Records the armed request's `user_data`; if the feed was stopped meanwhile, cancels it.
    private func attach(_ userData: UInt64?) {
        guard let userData else { return }
        let stopped = state.withLock { s -> Bool in
            if s.armed && s.userData == nil { s.userData = userData }  // not already ended
            return s.stopped
        }
        if stopped { ring.requestCancel(userData) }
    }

    /// Ends the feed like ``stop()``, then waits (not cancellably: the cancel's round trip
    /// is short) until the armed request has ended, so no entry naming the descriptor is
    /// left in the ring when the caller goes on to close it.
    nonisolated(nonsending) func stopAndWait() async {
        stop()
        while state.withLock({ $0.armed }) {
            await state.wait { s in !s.armed }
        }
    }

    /// Ends the feed (any thread): the armed request is cancelled, queued completions are
    /// disposed of now and later ones as they arrive, and ``next()`` reports `.refused(.cancelled)`.
    func stop() {
        var leftovers: [Event] = []
        var userData: UInt64? = nil
        let wakes = state.withLock { s -> Wakes in
            s.stopped = true
            leftovers = s.events.removeAll()
            userData = s.userData
            return s.waiters.takeAll()
        }
        for e in leftovers { dispose(e) }
        if let userData { ring.requestCancel(userData) }
        wakes.resume()
    }
}
