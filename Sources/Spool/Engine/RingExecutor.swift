internal import SpoolRing
internal import SpoolTimer
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Messages to a ring thread from other threads.
enum InboxItem: @unchecked Sendable {  // UnownedJob is safe to hand to the ring thread
    /// A job to run on the ring (a task or actor scheduled from another thread); `serial`
    /// when it came through the ``RingSerialExecutor`` face (actor isolation).
    case job(UnownedJob, serial: Bool)
    /// Cancel the operation with this `user_data` (from `onCancel`, which runs on the
    /// cancelling thread).
    case cancel(UInt64)
    /// Begin shutting down.
    case shutdown
    /// A graceful shutdown began: refuse new accepts, end the ones waiting.
    case drain
    /// Arm a scheduled action's timer.
    case schedule(ScheduledTimer)
    /// Remove a cancelled scheduled action's timer.
    case unschedule(ScheduledTimer)
    /// A closure to run on the ring thread (a backend's worker handing back a result; later a
    /// transport's `execute`). Dropped if the ring has stopped: nothing runs on it any more.
    case run(@Sendable () -> Void)
}

/// Every ring executor ever made: tasks may hold unowned references to one for as long as
/// they live, so executors are never freed (their backends and tables are emptied at shutdown).
/// (Behind a pthread mutex: runtimes are made on many threads at once, and ThreadSanitizer
/// does not see `Synchronization.Mutex`'s futex lock.)
let retiredExecutors = PosixLocked<[RingExecutor]>([])

/// A job waiting in a ring's local queue.
struct RingJob {
    var job: UnownedJob
    var serial: Bool
}

/// The thread-local slot in which a ring thread keeps its executor (made when the first
/// runtime starts). Rings cannot work without it (a ring thread would not know itself): a
/// process out of thread-local keys gets ``RuntimeError/unavailable(_:reason:)`` from
/// ``Runtime/init(configuration:)``.
let ringThreadSlot = ThreadLocalSlot()

/// One ring thread: its backend (an io_uring, or the portable reactor), its job queue, and the
/// loop that runs both.
///
/// The executor is written once, against the backend seam (``ReactorBackend``, held as a
/// ``Reactor``): it never asks which backend it runs on. Its work is split by job, one file each:
/// - this file: its state, its thread's start, and entry points from any thread;
/// - `RingExecutor+Start.swift`: how the creator learns whether the backend started;
/// - `RingExecutor+Loop.swift`: the loop — a budget of jobs, the inbox, park and wake;
/// - `RingExecutor+Wakes.swift`: waking a parked ring from another thread;
/// - `Operations/RingExecutor+Admission.swift`: perform, admission and submission of operations;
/// - `Operations/RingExecutor+Completion.swift`: a completion → the suspended caller resumed;
/// - `Operations/RingExecutor+Cancellation.swift`: cancellation;
/// - `Operations/RingExecutor+Consumers.swift`: operations with a consumer (multishot, owned sends);
/// - `RingExecutor+Lifecycle.swift`: the shutdown / broken-ring state machine;
/// - `RingExecutor+Timers.swift`: sleeps and scheduled actions on the ring's timing wheel.
///
/// **The package seam** (for sibling targets such as a SwiftNIO transport; `package`, not
/// `public`): ``current`` (the ring of the calling thread), ``execute(_:)`` (a closure job),
/// ``start(_:consumer:)`` (an operation whose completions go to a ``CompletionConsumer``),
/// ``perform(_:cancellable:linkTimeout:isolation:)`` (an awaited operation),
/// ``requestCancel(_:)``, ``schedule(_:)`` / ``unschedule(_:)`` (a ``ScheduledTimer`` on this
/// ring's wheel), ``index``, ``lifecycle``, ``refusal`` and ``taskExecutor``; with
/// ``OperationRequest``, ``OperationOutcome`` and ``Runtime``'s `rings`.
///
/// **Thread-safety:** ``enqueue(_:serial:)``, ``post(_:)``, ``execute(_:)``, ``requestCancel(_:)``,
/// ``schedule(_:)``, ``unschedule(_:)`` and ``requestShutdown()`` may be called from any
/// thread; ``start(_:consumer:)`` and ``perform(_:cancellable:linkTimeout:isolation:)`` on the
/// ring thread; everything else runs on the ring thread. **Lifetime:** an executor is never freed (tasks hold unowned references to their
/// preferred executor); after it stops it keeps no ring and forwards late jobs to the
/// global concurrent executor.
@usableFromInline package final class RingExecutor: @unchecked Sendable {  // shared state is atomic; the rest is ring-thread only
    /// Where the ring is in its life (see `RingExecutor+Lifecycle.swift`).
    package enum Lifecycle: UInt8 {
        case starting = 0, running = 1, stopping = 2, broken = 3, stopped = 4
    }

    /// Jobs one pass of the loop runs before it serves the inbox, cancellations and
    /// completions again (DESIGN.md: the loop is fair).
    static let jobBudget = 64

    /// Calls one pass of the loop lets finish without suspending (cached reads, requests
    /// completed inside their submit) before the rest take the suspending path, so a task
    /// whose I/O always completes at once still gives the loop back its turn.
    static let inlineBudget = 256

    /// How long a broken ring waits for the kernel to confirm it released the ring before it
    /// gives up on the callers the kernel still held (they are then never resumed).
    static let brokenRingReleaseLimit: Duration = .seconds(5)

    /// The ring's number in its runtime (0..<ringCount).
    package let index: Int
    /// The runtime's rings, as siblings see them (`MSG_RING` wakes, reserved descriptors).
    let group: RingGroup
    /// The core this ring's thread is pinned to, if any.
    let pinnedCore: Int?
    /// The runtime this ring belongs to (set once, right after creation, before any job).
    weak var runtime: Runtime?
    let options: RingOptions
    let inFlightLimitSetting: Int?
    /// Whether calls may complete without suspending (``Runtime/Configuration/inlineCompletion``).
    let inlineCompletion: Bool
    let faults: SubmitFaultInjector?
    let logger: Logger
    /// The task-executor face: tasks that prefer it run on this ring's thread.
    @usableFromInline package let taskExecutor: RingTaskExecutor
    let serialExecutor: RingSerialExecutor

    // Shared with other threads.
    let inbox = Inbox<InboxItem>()
    let wakeSignal: WakeSignal
    let lifecycleState = Atomic<UInt8>(Lifecycle.starting.rawValue)
    /// Set once the kernel has released a broken ring (diagnostics and tests: callers whose
    /// requests were in the kernel resume only after this).
    let kernelReleasedBrokenRing = Atomic<Bool>(false)
    /// The errno the ring broke with (0: not broken); readable from any thread.
    let brokenErrnoValue = Atomic<Int32>(0)
    private let drainer = Atomic<Bool>(false)
    let startOutcome = PosixLocked<Result<Void, RuntimeError>?>(nil)
    let thread = RingThread()
    /// Whether the kernel has `IORING_OP_SEND_ZC` (Linux 6.0), from the ring's probe.
    let zeroCopySendSupported = Atomic<Bool>(false)
    /// The ring thread's kernel thread id (for diagnostics: `/proc/self/task/<id>`).
    let threadID = Atomic<Int32>(0)
    /// The ring's descriptor, for siblings' `MSG_RING` wakes (-1 until the ring exists and
    /// after it closed). The number stays taken while a sibling may name it (``RingGroup``).
    let ringDescriptor = Atomic<Int32>(-1)
    /// Operations (sleeps included) holding a slot, published by the loop before each wait, so
    /// a graceful shutdown sees when nothing is left (``Runtime/isQuiescent``).
    let activeOperations = Atomic<Int>(0)
    /// Loop passes so far, and whether the loop is blocked in the kernel now: what the stall
    /// detector watches (``StallDetector``).
    let loopPasses = Atomic<UInt64>(0)
    let parkedInKernel = Atomic<Bool>(false)
    /// Stalls the detector reported for this ring.
    let stallsReported = Atomic<Int>(0)
    /// Accept back-off episodes begun by accept loops on this ring (`AcceptBackoff`).
    let acceptBackoffEpisodes = Atomic<Int>(0)
    /// Waits those accept loops began (every failed attempt during an episode: a spin would
    /// show here).
    let acceptBackoffWaits = Atomic<Int>(0)
    /// Where the ring publishes its counters (nil: metrics off), and how often.
    let metrics: RingMetrics?
    let metricsInterval: Duration
    @exclusivity(unchecked) var lastMetricsPublication = ContinuousClock.now
    @exclusivity(unchecked) var passesSincePublication = 0
    @exclusivity(unchecked) var publishedMetrics = MetricsState()
    /// Whether siblings may wake this ring with `MSG_RING` (the probe found it, and the
    /// configuration allows it); otherwise they write its eventfd.
    let acceptsMessageRingWakes = Atomic<Bool>(false)

    // Ring-thread state.
    /// The backend beneath the executor (a `let`: the hot path reaches it without a check).
    let reactor: Reactor
    /// The same backend as a plain reference. The enum keeps its case in the pointer's spare
    /// bits, which LeakSanitizer cannot follow: without this, every portable reactor (kept for
    /// the executor's whole life) would be reported as leaked.
    private let reactorObject: AnyObject
    @exclusivity(unchecked) var jobs = FIFOQueue<RingJob>(capacity: 256)
    /// A `let`: the hot path reaches it without retaining it.
    let table = OperationTable()
    @exclusivity(unchecked) var inFlightLimit = 0
    /// `user_data` of operations to cancel, oldest first, waiting for the backend to take them
    /// (``flushInternalRequests()``).
    @exclusivity(unchecked) var pendingCancels = FIFOQueue<UInt64>(capacity: 16)
    /// Shutdown's cancel-everything must still go to the backend.
    @exclusivity(unchecked) var cancelAllWanted = false
    @exclusivity(unchecked) var brokenErrno: Errno?
    @exclusivity(unchecked) var shutdownRequested = false
    @exclusivity(unchecked) var statistics = LoopStatistics()
    /// What is left of this pass's ``inlineBudget``.
    @exclusivity(unchecked) var inlineBudgetLeft = RingExecutor.inlineBudget
    /// The operation being submitted eagerly (its completion is taken without a
    /// continuation; see `Operations/RingExecutor+Admission.swift`), or -1.
    @exclusivity(unchecked) var eagerSlot: Int32 = -1
    /// The eager operation's outcome, if it completed inside its submit.
    @exclusivity(unchecked) var eagerOutcome: OperationOutcome?
    /// The provided-buffer group id the next ``BufferPool`` on this ring tries first.
    @exclusivity(unchecked) var nextBufferGroup: UInt16 = 0
    /// A graceful shutdown is draining the runtime: accepts are refused (ring thread).
    @exclusivity(unchecked) var refusesAccepts = false
    /// The pools on this ring, whose waiting receivers are woken when it stops.
    let pools = PosixLocked<[PoolState]>([])
    /// Sleeping callers, by deadline tick; each timer carries its slot's `user_data`.
    @exclusivity(unchecked) var timers = TimingWheel()
    /// Scheduled actions (``ScheduledTimer``), by deadline tick; payload: index in `scheduled`.
    @exclusivity(unchecked) var scheduledTimers = TimingWheel()
    @exclusivity(unchecked) var scheduled = ScheduledTable()
    /// The wheel's time: ticks of ``timerScale`` since ``timerOrigin``.
    let timerScale: TickScale
    let timerOrigin = ContinuousClock.now

    /// Creates the executor and starts its thread; returns once the ring exists (or failed).
    init(
        index: Int, options: RingOptions, inFlightLimit: Int?, timerScale: TickScale = .milliseconds,
        inlineCompletion: Bool = true, messageRingWakes: Bool = true, pinnedCore: Int? = nil,
        metrics: RingMetrics? = nil, metricsInterval: Duration = .seconds(1), group: RingGroup = RingGroup(),
        fileWorkers: PortableWorkers? = nil, faults: SubmitFaultInjector?, logger: Logger
    ) throws(RuntimeError) {
        self.group = group
        self.metrics = metrics
        self.metricsInterval = metricsInterval
        self.index = index
        self.pinnedCore = pinnedCore
        self.timerScale = timerScale
        self.inlineCompletion = inlineCompletion
        self.options = options
        self.inFlightLimitSetting = inFlightLimit
        self.faults = faults
        self.logger = logger
        let wake = try WakeSignal()
        do throws(RuntimeError) {
            reactor = try Reactor.make(
                index: index, options: options, messageRingWakes: messageRingWakes, wakeDescriptor: wake.descriptor.rawValue,
                fileWorkers: fileWorkers, faults: faults)
        } catch {
            wake.close(freeBuffer: true)
            throw error
        }
        wakeSignal = wake
        reactorObject = reactor.object
        taskExecutor = RingTaskExecutor()
        serialExecutor = RingSerialExecutor()
        taskExecutor.loop = self
        serialExecutor.loop = self
        reactor.attach(self)
        // Immortal: tasks keep unowned references to their preferred executor, so executors
        // are kept (about a kilobyte each once stopped: the backend closes its ring or epoll and
        // drops its buffers) in a process-wide list.
        retiredExecutors.withLock { $0.append(self) }
        group.ringStarted()
        do {
            try thread.start { [self] in threadMain() }
        } catch {
            group.ringFinished(reserved: nil)
            _ = reactor.close()  // a backend may hold a descriptor already (an epoll)
            wakeSignal.close(freeBuffer: true)
            lifecycleState.store(Lifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
            throw error
        }
        thread.waitUntilStarted()
        if case .failure(let e) = startOutcome.withLock({ $0 }) ?? .failure(.shutdown) {
            throw e
        }
    }

    private func threadMain() {
        ringThreadSlot.set(Unmanaged.passUnretained(self).toOpaque())
        threadID.store(CurrentThread.kernelID, ordering: .releasing)
        CurrentThread.setName("spool-ring-\(index)")
        if let pinnedCore, let e = CPUAffinity.pinCurrentThread(to: pinnedCore) {
            logger.warning("Spool ring \(index): could not pin its thread to core \(pinnedCore) (\(Errno(rawValue: e))); it runs unpinned")
        }
        do throws(RuntimeError) {
            try reactor.open()
        } catch {
            failStart(error)
            return
        }
        markStarted()
        runLoop()
        finish()
    }

    /// Whether the calling thread is this ring's thread.
    @inline(__always)
    var isCurrent: Bool {
        ringThreadSlot.value == UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
    }

    /// The ring executor of the calling thread, if it is a ring thread.
    @inline(__always)
    package static var current: RingExecutor? {
        guard let p = ringThreadSlot.value else { return nil }
        return Unmanaged<RingExecutor>.fromOpaque(p).takeUnretainedValue()
    }

    package var lifecycle: Lifecycle { Lifecycle(rawValue: lifecycleState.load(ordering: .sequentiallyConsistent)) ?? .stopped }

    /// The errno the ring broke with, from any thread.
    var brokenWith: Errno? {
        let e = brokenErrnoValue.load(ordering: .acquiring)
        return e == 0 ? nil : Errno(rawValue: e)
    }

    /// What an operation refused by this ring resumes with: broken or shut down.
    package var refusal: OperationOutcome { brokenWith.map { .broken($0) } ?? .shutdown }

    // MARK: Entry points (any thread)

    /// Schedules a job on this ring. `serial`: it came through the serial-executor face and
    /// must run with the ring's serial isolation; otherwise it runs on the task-executor face
    /// alone, so nonisolated code needs no executor switch.
    func enqueue(_ job: UnownedJob, serial: Bool) {
        if isCurrent && lifecycle != .stopped {
            jobs.append(RingJob(job: job, serial: serial))
            return
        }
        post(.job(job, serial: serial))
    }

    /// Sends an item to the ring thread, waking it if it is parked.
    func post(_ item: InboxItem) {
        if lifecycle == .stopped {
            handleAfterStop(item)
            return
        }
        inbox.push(item)
        if lifecycle == .stopped {
            // The ring thread may have finished its last drain before our push.
            drainAfterStop()
            return
        }
        wake(from: RingExecutor.current)
    }

    /// Runs `body` on this ring's thread, after what is already queued there: from any thread;
    /// from the ring's own thread it runs at the loop's next pass, never inside the caller (an
    /// `EventLoop.execute`). A closure posted after the ring stopped is dropped unrun: nothing
    /// runs on a stopped ring (check ``lifecycle`` first where that matters).
    package func execute(_ body: @escaping @Sendable () -> Void) {
        if isCurrent && lifecycle != .stopped {
            inbox.push(.run(body))  // the loop takes the inbox before it parks: no wake needed
            return
        }
        post(.run(body))
    }

    /// Asks the ring to cancel the operation `userData` names. From any thread.
    package func requestCancel(_ userData: UInt64) {
        if isCurrent {
            processCancel(userData)
        } else {
            post(.cancel(userData))
        }
    }

    /// Asks the ring to shut down (any thread). Returns at once.
    func requestShutdown() {
        if isCurrent {
            shutdownRequested = true  // seen by the loop right after the running job
        } else {
            post(.shutdown)
        }
    }

    private func handleAfterStop(_ item: InboxItem) {
        switch item {
        case .job(let job, _):
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        case .cancel, .shutdown, .drain, .unschedule, .run:
            break  // nothing is in flight any more, and nothing runs on the ring
        case .schedule(let timer):
            let error: RuntimeError = brokenWith.map { .broken($0) } ?? .shutdown
            Task.detached { timer.fire(.failure(error)) }  // never on the poster's stack
        }
    }

    /// After the ring thread stopped, whoever finds items in the inbox forwards them; the
    /// `drainer` flag keeps a single consumer at a time.
    func drainAfterStop() {
        repeat {
            guard drainer.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
            inbox.takeAll { handleAfterStop($0) }
            drainer.store(false, ordering: .releasing)
        } while !inbox.isEmpty
    }

    /// Blocks the calling thread until the ring thread has finished (any number of callers).
    func waitUntilStopped() {
        thread.waitUntilExited()
    }

    /// Suspends until the ring thread has exited.
    nonisolated(nonsending) func stopped() async {
        await thread.exited()
    }
}

/// Counters of the loop (ring thread; read through ``Runtime/snapshots()``).
struct LoopStatistics: Sendable {
    /// Passes that ended because the job budget ran out while jobs were still ready.
    var budgetExhausted = 0
    /// Blocking waits, and those that had to use a timeout because the wake read was not
    /// in the kernel (the SQ stayed full).
    var parks = 0, timedParks = 0
    /// Submissions that stalled (`EAGAIN`/`EBUSY` with nothing to reap, 16 times).
    var stalls = 0
    /// Calls that finished without suspending: completed inside an eager submit, or read
    /// from the page cache on this thread.
    var inlineCompletions = 0
    /// Eager submits whose request was still in flight afterwards (the caller suspended).
    var eagerInFlight = 0
    /// Zero-copy sends whose notification arrived (the kernel released the buffer).
    var zeroCopyNotifications = 0
    /// Multishot requests started (each arm and re-arm).
    var multishotArms = 0
    /// Multishot requests cancelled because their consumer had `bound` completions queued.
    var multishotPauses = 0
    /// Operations whose entry went into the SQ, and whose final completion was reaped.
    var submitted = 0, completed = 0
    /// Times an entry found the SQ full (it was flushed to make room).
    var submissionQueueFull = 0
    /// Sibling rings this ring woke (`MSG_RING`, or their eventfd when that was not possible).
    var wakesSent = 0
}

extension RuntimeError {
    /// The runtime's view of a ring that could not be set up.
    init(_ error: RingError) {
        switch error {
        case .unavailable(let errno, let advice): self = .unavailable(errno, reason: advice)
        case .invalidArgument(let what): self = .invalidArgument(what)
        default: self = .unavailable(error.errno, reason: "\(error)")
        }
    }
}
