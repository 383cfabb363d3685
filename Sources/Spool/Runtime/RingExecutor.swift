import CSpoolURing
import SpoolRing
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
}

/// Every ring executor ever made: tasks may hold unowned references to one for as long as
/// they live, so executors are never freed (their rings and tables are, at shutdown).
let retiredExecutors = Mutex<[RingExecutor]>([])

/// A job waiting in a ring's local queue.
struct RingJob {
    var job: UnownedJob
    var serial: Bool
}

/// The thread-specific key under which a ring thread stores its executor.
let ringThreadKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// One ring thread: its io_uring, its job queue, and the loop that runs both.
///
/// The loop (DESIGN.md, *Execution model*): run ready jobs → submit the SQEs they prepared
/// → when no job is ready, submit and wait in **one** `io_uring_enter` → reap every CQE in a
/// batch, resuming the suspended callers on this same thread → repeat.
///
/// Jobs come from this thread (a resumed task, a child task) without a lock, or from other
/// threads through a lock-free ``Inbox`` that wakes the ring by writing an eventfd the ring
/// keeps a read armed on; only the transition from "parked" to "woken" writes the eventfd.
///
/// **Thread-safety:** ``enqueue(_:)`` and ``requestCancel(_:)`` may be called from any
/// thread; everything else runs on the ring thread. **Lifetime:** an executor is never freed
/// (tasks hold unowned references to their preferred executor); after shutdown it keeps no
/// ring and forwards late jobs to the global concurrent executor.
final class RingExecutor: @unchecked Sendable {
    enum Lifecycle: UInt8 {
        case starting = 0, running = 1, stopping = 2, stopped = 3
    }

    let index: Int
    /// The runtime this ring belongs to (set once, right after creation).
    weak var runtime: Runtime?
    let options: RingOptions
    let inFlightLimitSetting: Int?
    let taskExecutor: RingTaskExecutor
    let serialExecutor: RingSerialExecutor

    // Shared with other threads.
    let inbox = Inbox<InboxItem>()
    private let wakeArmed = Atomic<Bool>(false)
    private let lifecycleState = Atomic<UInt8>(Lifecycle.starting.rawValue)
    private let drainer = Atomic<Bool>(false)
    /// Producers between deciding to write the eventfd and writing it.
    private let wakers = Atomic<Int>(0)
    /// Eventfd writes made to wake this ring (diagnostics: wakes are coalesced).
    let wakeWrites = Atomic<Int>(0)
    private let eventFD: Int32
    private let started = Mutex<Result<Void, RuntimeError>?>(nil)
    private let stoppedWaiters = Mutex<[UnsafeContinuation<Void, Never>]>([])
    private let exitLatch = Latch()

    // Ring-thread state.
    @exclusivity(unchecked) private var ring: Ring?
    @exclusivity(unchecked) private var jobs = JobQueue<RingJob>(capacity: 256)
    @exclusivity(unchecked) var table = OperationTable()
    @exclusivity(unchecked) private var inFlightLimit = 0
    @exclusivity(unchecked) private var pendingCancels = JobQueue<UInt64>()
    @exclusivity(unchecked) private var wakeReadArmed = false
    /// Where the wake-up read lands: heap memory with a stable address for the kernel.
    private let wakeBuffer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
    @exclusivity(unchecked) private var internalInFlight = 0
    @exclusivity(unchecked) private var brokenErrno: Errno?

    private var thread = pthread_t()
    /// The ring thread's kernel thread id (for diagnostics: `/proc/self/task/<id>`).
    let threadID = Atomic<Int32>(0)

    static let wakeUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 1
    static let cancelUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 2

    /// Creates the executor and starts its thread; returns once the ring exists (or failed).
    init(index: Int, options: RingOptions, inFlightLimit: Int?) throws(RuntimeError) {
        self.index = index
        self.options = options
        self.inFlightLimitSetting = inFlightLimit
        let efd = spool_eventfd(0, SPOOL_EFD_CLOEXEC)  // the ring reads it asynchronously; writers never block on an eventfd
        if efd < 0 { throw .unavailable(Errno(rawValue: -efd), reason: "could not create the ring's wake-up eventfd") }
        eventFD = efd
        taskExecutor = RingTaskExecutor()
        serialExecutor = RingSerialExecutor()
        taskExecutor.loop = self
        serialExecutor.loop = self
        // Immortal: tasks keep unowned references to their preferred executor, so executors
        // are kept (a few hundred bytes each once stopped) in a process-wide list.
        retiredExecutors.withLock { $0.append(self) }
        try startThread()
    }

    // MARK: Thread

    private func startThread() throws(RuntimeError) {
        let box = Unmanaged.passRetained(self).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 1 << 20)
        let r = pthread_create(&thread, &attributes, { arg in
            let executor = Unmanaged<RingExecutor>.fromOpaque(arg!).takeRetainedValue()
            executor.threadMain()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        // Detached: `waitUntilStopped` and `stopped()` wait on the exit latch instead of a join,
        // so any number of callers may wait, and no thread is left unjoined.
        if r == 0 { pthread_detach(thread) }
        if r != 0 {
            Unmanaged<RingExecutor>.fromOpaque(box).release()
            throw .unavailable(Errno(rawValue: r), reason: "could not start the ring thread")
        }
        // Wait for the ring to be set up on its own thread (SINGLE_ISSUER binds it there).
        var outcome: Result<Void, RuntimeError>?
        while true {
            outcome = started.withLock { $0 }
            if outcome != nil { break }
            exitLatch.waitForStart()
        }
        if case .failure(let e) = outcome! {
            throw e
        }
    }

    private func threadMain() {
        pthread_setspecific(ringThreadKey, Unmanaged.passUnretained(self).toOpaque())
        threadID.store(spool_thread_id(), ordering: .releasing)
        _ = spool_set_thread_name("spool-ring-\(index)")
        do {
            var ringOptions = options
            ringOptions.registerRingDescriptor = true  // this thread owns the ring for its whole life
            let r = try Ring(options: ringOptions)
            ring = r
            inFlightLimit = max(1, inFlightLimitSetting ?? r.completionQueueCapacity)
        } catch {
            let e: RuntimeError
            if case .unavailable(let errno, let advice) = error { e = .unavailable(errno, reason: advice) }
            else if case .invalidArgument(let what) = error { e = .invalidArgument(what) }
            else { e = .unavailable(error.errno, reason: "\(error)") }
            started.withLock { $0 = .failure(e) }
            exitLatch.signalStart()
            return
        }
        lifecycleState.store(Lifecycle.running.rawValue, ordering: .sequentiallyConsistent)
        armWakeRead()
        started.withLock { $0 = .success(()) }
        exitLatch.signalStart()

        runLoop()
        finish()
    }

    /// Whether the calling thread is this ring's thread.
    @inline(__always)
    var isCurrent: Bool {
        pthread_getspecific(ringThreadKey) == Unmanaged.passUnretained(self).toOpaque()
    }

    /// The ring executor of the calling thread, if it is a ring thread.
    @inline(__always)
    static var current: RingExecutor? {
        guard let p = pthread_getspecific(ringThreadKey) else { return nil }
        return Unmanaged<RingExecutor>.fromOpaque(p).takeUnretainedValue()
    }

    var lifecycle: Lifecycle { Lifecycle(rawValue: lifecycleState.load(ordering: .acquiring))! }

    // MARK: Enqueueing (any thread)

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
        // `wakers` keeps the eventfd open while a producer may still write it (see `finish`).
        wakers.add(1, ordering: .sequentiallyConsistent)
        if lifecycle != .stopped && wakeArmed.exchange(false, ordering: .sequentiallyConsistent) {
            var one: UInt64 = 1
            _ = write(eventFD, &one, 8)
            wakeWrites.add(1, ordering: .relaxed)
        }
        wakers.subtract(1, ordering: .sequentiallyConsistent)
    }

    private func handleAfterStop(_ item: InboxItem) {
        switch item {
        case .job(let job, _):
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        case .cancel, .shutdown:
            break  // nothing is in flight any more
        }
    }

    /// After the ring thread stopped, whoever finds items in the inbox forwards them; the
    /// `drainer` flag keeps a single consumer at a time.
    private func drainAfterStop() {
        repeat {
            guard drainer.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
            inbox.takeAll { handleAfterStop($0) }
            drainer.store(false, ordering: .releasing)
        } while !inbox.isEmpty
    }

    /// Asks the ring to cancel the operation `userData` names. From any thread.
    func requestCancel(_ userData: UInt64) {
        if isCurrent {
            processCancel(userData)
        } else {
            post(.cancel(userData))
        }
    }

    // MARK: The loop (ring thread)

    private func runLoop() {
        var shutdownRequested = false
        while true {
            inbox.takeAll { item in
                switch item {
                case .job(let job, let serial): jobs.append(RingJob(job: job, serial: serial))
                case .cancel(let userData): processCancel(userData)
                case .shutdown: shutdownRequested = true
                }
            }
            if shutdownRequested && lifecycle == .running { beginShutdown() }

            // Run every ready job; jobs enqueued meanwhile run in this pass too.
            var ran = 0
            while let next = jobs.popFirst() {
                if next.serial {
                    next.job.runSynchronously(
                        isolatedTo: serialExecutor.asUnownedSerialExecutor(),
                        taskExecutor: taskExecutor.asUnownedTaskExecutor())
                } else {
                    next.job.runSynchronously(on: taskExecutor.asUnownedTaskExecutor())
                }
                ran += 1
                if ran & 63 == 0 { flushPendingCancels() }
            }
            flushPendingCancels()

            if lifecycle == .stopping && table.inFlight == 0 && internalInFlight == 0 && jobs.isEmpty && table.admission.isEmpty {
                return
            }

            // Park: submit what the jobs prepared and wait for a completion, in one enter.
            wakeArmed.store(true, ordering: .sequentiallyConsistent)
            let mustWait = inbox.isEmpty && jobs.isEmpty
            if !mustWait { wakeArmed.store(false, ordering: .relaxed) }
            enterRing(wait: mustWait)
            wakeArmed.store(false, ordering: .relaxed)
            reapCompletions()
            admitWaiting()
        }
    }

    /// The runtime's only use of the ring's submit path.
    private func enterRing(wait: Bool) {
        guard let ring, brokenErrno == nil else { return }
        if !wait && ring.pendingSubmissions == 0 && ring.readyCompletions == 0 { return }
        do {
            try ring.submit(waitingFor: wait ? 1 : 0)
        } catch .broken(let errno) {
            fail(brokenWith: errno)
        } catch {
            // submissionStalled: the ring is healthy; the next pass retries.
        }
    }

    private func reapCompletions() {
        guard let ring else { return }
        ring.reapCompletions { completion in
            self.complete(completion)
        }
    }

    // MARK: Operations (ring thread)

    /// Runs one operation on this ring and suspends until its final completion.
    /// Must be called on the ring thread, from a task whose executor is this ring.
    ///
    /// `isolation` is the caller's: the cancellation handler's operation closure must inherit
    /// it, or (for an actor on the ring whose task prefers no executor) it would run on the
    /// global executor and touch ring state from another thread.
    func perform(_ request: OperationRequest, isolation: isolated (any Actor)? = #isolation) async -> OperationOutcome {
        if lifecycle != .running { return brokenErrno.map { .broken($0) } ?? .shutdown }
        if let brokenErrno { return .broken(brokenErrno) }
        if Task.isCancelled { return .cancelled }
        let slot = table.allocate(request)
        let userData = table.userData(slot)
        if isolation == nil {
            // A nonisolated caller on this ring thread is a task that prefers the ring, so the
            // nonisolated closure below runs here too, with no executor check.
            return await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                    self.start(slot, continuation)
                }
            } onCancel: {
                self.requestCancel(userData)
            }
        }
        return await withTaskCancellationHandler {
            // An actor on the ring (whose task may prefer no executor): capturing `isolation`
            // keeps the closure on the actor's executor, the ring, instead of the global one.
            _ = isolation
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                self.start(slot, continuation)
            }
        } onCancel: {
            self.requestCancel(userData)
        }
    }

    /// Runs many reads or writes as one batch: the caller resumes once, when every part has
    /// its final completion. `results[i]` receives part `i`'s result.
    func performBatch(
        _ parts: [OperationRequest], results: UnsafeMutablePointer<Int32>, isolation: isolated (any Actor)? = #isolation
    ) async -> OperationOutcome {
        if lifecycle != .running { return brokenErrno.map { .broken($0) } ?? .shutdown }
        if let brokenErrno { return .broken(brokenErrno) }
        if Task.isCancelled { return .cancelled }
        if parts.isEmpty { return .completed(0) }
        let parent = table.allocate(.batch)
        let userData = table.userData(parent)
        return await withTaskCancellationHandler {
            _ = isolation  // run on the caller's executor (see `perform`)
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<OperationOutcome, Never>) in
                self.startBatch(parent, parts, results, continuation)
            }
        } onCancel: {
            self.requestCancel(userData)
        }
    }

    private func start(_ slot: Int32, _ continuation: UnsafeContinuation<OperationOutcome, Never>) {
        let s = table.slots + Int(slot)
        s.pointee.continuation = continuation
        if s.pointee.cancelRequested {
            finishSlot(slot, .cancelled)
            return
        }
        admitOrQueue(slot)
    }

    private func startBatch(
        _ parent: Int32, _ parts: [OperationRequest], _ results: UnsafeMutablePointer<Int32>,
        _ continuation: UnsafeContinuation<OperationOutcome, Never>
    ) {
        let p = table.slots + Int(parent)
        p.pointee.state = .batchParent
        p.pointee.continuation = continuation
        p.pointee.results = results
        p.pointee.remainingParts = Int32(parts.count)
        p.pointee.cancelledParts = 0
        if p.pointee.cancelRequested {
            finishSlot(parent, .cancelled)
            return
        }
        var previous: Int32 = -1
        for (i, request) in parts.enumerated() {
            let part = table.allocate(request)
            let ps = table.slots + Int(part)
            ps.pointee.parent = parent
            ps.pointee.partIndex = Int32(i)
            if previous < 0 { table.slots[Int(parent)].firstPart = part } else { table.slots[Int(previous)].nextSibling = part }
            previous = part
            admitOrQueue(part)
        }
    }

    /// Submits `slot` if the in-flight cap and the SQ allow, else queues it FIFO.
    private func admitOrQueue(_ slot: Int32) {
        if table.admission.isEmpty && table.inFlight < inFlightLimit && submit(slot) { return }
        table.slots[Int(slot)].state = .waiting
        table.admission.append(slot)
    }

    /// Prepares `slot`'s SQE; false when the SQ is full even after flushing it.
    private func submit(_ slot: Int32) -> Bool {
        guard let sqe = nextSubmission() else { return false }
        let s = table.slots + Int(slot)
        s.pointee.request.prepare(sqe)
        sqe.userData = table.userData(slot)
        s.pointee.state = .submitted
        table.inFlight += 1
        return true
    }

    private func nextSubmission() -> SubmissionQueueEntry? {
        guard let ring else { return nil }
        if let sqe = ring.nextSubmission() { return sqe }
        // SQ full: hand what is there to the kernel (frees the slots it consumes), then retry.
        enterRing(wait: false)
        return ring.nextSubmission()
    }

    /// Admits waiting operations, oldest first, while the cap and the SQ allow.
    private func admitWaiting() {
        while table.inFlight < inFlightLimit, let slot = table.admission.popFirst() {
            let s = table.slots + Int(slot)
            if s.pointee.state != .waiting { continue }  // cancelled while waiting
            if !submit(slot) {
                // Still no SQ space: put it back at the front by re-queuing everything after it.
                requeueAtFront(slot)
                return
            }
        }
    }

    private func requeueAtFront(_ slot: Int32) {
        var rest: [Int32] = [slot]
        while let s = table.admission.popFirst() { rest.append(s) }
        for s in rest { table.admission.append(s) }
    }

    /// Handles one CQE.
    private func complete(_ completion: Completion) {
        if UInt32(truncatingIfNeeded: completion.userData >> 32) == OperationTable.internalGeneration {
            internalCompletion(completion)
            return
        }
        guard let slot = table.slot(for: completion.userData) else { return }  // stale: ignore
        let s = table.slots + Int(slot)
        guard s.pointee.state == .submitted else { return }
        if completion.hasMore { return }  // not final (not used by single-shot operations)
        table.inFlight -= 1
        let outcome: OperationOutcome
        if completion.result == -ECANCELED && (s.pointee.cancelRequested || lifecycle == .stopping) {
            outcome = lifecycle == .stopping && !s.pointee.cancelRequested ? .shutdown : .cancelled
        } else {
            outcome = .completed(completion.result)
        }
        finishSlot(slot, outcome)
    }

    /// Ends an operation: resumes its caller (or reports to its batch) and frees the slot.
    private func finishSlot(_ slot: Int32, _ outcome: OperationOutcome) {
        let s = table.slots + Int(slot)
        let parent = s.pointee.parent
        if parent >= 0 {
            let p = table.slots + Int(parent)
            switch outcome {
            case .completed(let r): p.pointee.results?[Int(s.pointee.partIndex)] = r
            default:
                p.pointee.results?[Int(s.pointee.partIndex)] = -ECANCELED
                p.pointee.cancelledParts += 1
            }
            // Unlink from the parent's list.
            if p.pointee.firstPart == slot {
                p.pointee.firstPart = s.pointee.nextSibling
            } else {
                var cursor = p.pointee.firstPart
                while cursor >= 0 {
                    if table.slots[Int(cursor)].nextSibling == slot {
                        table.slots[Int(cursor)].nextSibling = s.pointee.nextSibling
                        break
                    }
                    cursor = table.slots[Int(cursor)].nextSibling
                }
            }
            table.release(slot)
            p.pointee.remainingParts -= 1
            if p.pointee.remainingParts == 0 {
                let parentOutcome: OperationOutcome
                if p.pointee.cancelRequested && p.pointee.cancelledParts > 0 {
                    parentOutcome = .cancelled
                } else if p.pointee.cancelledParts > 0 {
                    parentOutcome = brokenErrno.map { .broken($0) } ?? .shutdown
                } else {
                    parentOutcome = .completed(0)
                }
                let c = p.pointee.continuation
                table.release(parent)
                c?.resume(returning: parentOutcome)
            }
            return
        }
        let c = s.pointee.continuation
        table.release(slot)
        c?.resume(returning: outcome)
    }

    /// Cancels the operation named by `userData` (ring thread).
    private func processCancel(_ userData: UInt64) {
        guard let slot = table.slot(for: userData) else { return }  // finished already: no effect
        let s = table.slots + Int(slot)
        if s.pointee.cancelRequested { return }
        s.pointee.cancelRequested = true
        switch s.pointee.state {
        case .reserved:
            break  // `start` sees the flag and resumes at once
        case .waiting:
            finishSlot(slot, .cancelled)  // still in the admission queue: skipped when popped
        case .submitted:
            pendingCancels.append(userData)
        case .batchParent:
            var part = s.pointee.firstPart
            while part >= 0 {
                let next = table.slots[Int(part)].nextSibling
                table.slots[Int(part)].cancelRequested = true
                switch table.slots[Int(part)].state {
                case .waiting: finishSlot(part, .cancelled)
                case .submitted: pendingCancels.append(table.userData(part))
                default: break
                }
                part = next
            }
        case .free:
            break
        }
    }

    /// Submits the ASYNC_CANCEL requests that are waiting for SQ space.
    private func flushPendingCancels() {
        while let target = pendingCancels.popFirst() {
            guard table.slot(for: target) != nil else { continue }
            guard let sqe = nextSubmission() else {
                pendingCancels.append(target)
                return
            }
            sqe.prepareAsyncCancel(userData: target)
            sqe.userData = Self.cancelUserData
            internalInFlight += 1
        }
    }

    // MARK: Wake-up read

    private func armWakeRead() {
        guard lifecycle != .stopped, !wakeReadArmed, let sqe = ring?.nextSubmission() else { return }
        sqe.prepareRead(FileDescriptor(rawValue: eventFD), into: UnsafeMutableRawBufferPointer(start: wakeBuffer, count: 8),
                        offset: SubmissionQueueEntry.currentPosition)
        sqe.userData = Self.wakeUserData
        wakeReadArmed = true
        internalInFlight += 1
    }

    private func internalCompletion(_ completion: Completion) {
        if completion.userData == Self.wakeUserData {
            wakeReadArmed = false
            internalInFlight -= 1
            if lifecycle == .running { armWakeRead() }
        } else if completion.userData == Self.cancelUserData {
            internalInFlight -= 1
        }
    }

    // MARK: Shutdown

    /// Asks the ring to shut down (any thread). Returns at once.
    func requestShutdown() {
        post(.shutdown)
    }

    /// Stop admitting, fail waiters, cancel everything in flight (ring thread).
    private func beginShutdown() {
        lifecycleState.store(Lifecycle.stopping.rawValue, ordering: .sequentiallyConsistent)
        // Callers still waiting for admission never reached the kernel.
        while let slot = table.admission.popFirst() {
            if table.slots[Int(slot)].state == .waiting { finishSlot(slot, brokenErrno.map { .broken($0) } ?? .shutdown) }
        }
        // Everything the kernel holds, including the wake-up read, is cancelled; the loop keeps
        // reaping until every final completion is in, so no memory the kernel may write is freed.
        if let sqe = nextSubmission() {
            sqe.prepareAsyncCancelEverything()
            sqe.userData = Self.cancelUserData
            internalInFlight += 1
        }
        if brokenErrno != nil {
            // A broken ring cannot be entered again: resume everyone now.
            abandonInFlight()
        }
    }

    /// A fatal ring error: callers waiting or in flight resume with it; new work fails fast.
    private func fail(brokenWith errno: Errno) {
        brokenErrno = errno
        if lifecycle == .running { lifecycleState.store(Lifecycle.stopping.rawValue, ordering: .sequentiallyConsistent) }
        while let slot = table.admission.popFirst() {
            if table.slots[Int(slot)].state == .waiting { finishSlot(slot, .broken(errno)) }
        }
        abandonInFlight()
    }

    private func abandonInFlight() {
        guard let errno = brokenErrno else { return }
        for i in 0..<table.capacity where table.slots[i].state == .submitted {
            table.inFlight -= 1
            finishSlot(Int32(i), .broken(errno))
        }
        internalInFlight = 0
    }

    private func finish() {
        // Close the ring: nothing is in flight (or the ring is broken).
        ring = nil
        // A broken ring may have left the wake-up read in the kernel: keep its 8 bytes then.
        if brokenErrno == nil { wakeBuffer.deallocate() }
        // No producer may write the eventfd once it is closed (its number could be reused):
        // stop new wakers, then wait out any that already decided to write.
        lifecycleState.store(Lifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        while wakers.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
        // Nothing touches the operation table once stopped: give its memory back.
        table = OperationTable(initialCapacity: 1)
        close(eventFD)
        // Jobs that arrived meanwhile run elsewhere from now on.
        while let next = jobs.popFirst() { globalConcurrentExecutor.enqueue(ExecutorJob(next.job)) }
        jobs.destroy()
        jobs = JobQueue(capacity: 2)
        drainAfterStop()
        let waiters = stoppedWaiters.withLock { w -> [UnsafeContinuation<Void, Never>] in
            let all = w
            w.removeAll()
            return all
        }
        exitLatch.signalExit()
        for w in waiters { w.resume() }
    }

    /// Blocks the calling thread until the ring thread has finished (any number of callers).
    func waitUntilStopped() {
        exitLatch.waitForExit()
    }

    /// Suspends until the ring thread has exited.
    nonisolated(nonsending) func stopped() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            let already = stoppedWaiters.withLock { w -> Bool in
                if lifecycle == .stopped { return true }
                w.append(c)
                return false
            }
            if already { c.resume() }
        }
    }
}

/// A one-shot start signal and exit signal for a ring thread (a mutex and a condition variable).
final class Latch: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var startSignalled = false
    private var exitSignalled = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func signalStart() { set { $0.startSignalled = true } }
    func signalExit() { set { $0.exitSignalled = true } }
    func waitForStart() { wait { $0.startSignalled } }
    func waitForExit() { wait { $0.exitSignalled } }

    private func set(_ body: (Latch) -> Void) {
        pthread_mutex_lock(&mutex)
        body(self)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    private func wait(_ done: (Latch) -> Bool) {
        pthread_mutex_lock(&mutex)
        while !done(self) { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}
