import CoreMetrics
import Dispatch
internal import SpoolRing
internal import SpoolTimer
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A Spool runtime: ring threads, each owning one io_uring and running the tasks that prefer it.
///
/// ```swift
/// try Runtime.run { runtime in
///     let file = try await File.open("/etc/hostname")
///     let bytes = try await file.read(upToCount: 4096, at: 0)
///     try await file.close()
/// }
/// ```
///
/// Tasks doing I/O should run on a ring (DESIGN.md: a resume on the ring costs ~1 µs, a hop
/// from another executor ~12 µs): ``run(configuration:_:)`` runs its body there, ``spawn(on:_:)``
/// starts tasks there, and child tasks inherit it. I/O from any other task — a plain
/// `Task { }`, a detached task, an actor — works too: the operation hops onto a ring and back.
///
/// **Thread-safety:** every member may be used from any thread (`Sendable`).
/// **Lifetime:** ``shutdown(gracePeriod:)`` (or the end of ``run(configuration:_:)``) stops
/// admitting work, lets running work finish for the grace period, cancels the rest, waits for
/// the kernel's last completion, resumes every waiting caller with ``RuntimeError/shutdown``
/// and closes the rings (``ShutdownPhase``). Tasks that outlive it keep running on the global
/// executor; their I/O fails with ``RuntimeError/shutdown``.
public final class Runtime: Sendable {

    /// The default logger: discards everything.
    public static let quietLogger = Logger(label: "spool", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The state of one ring. A plain value: `Sendable`.
    public enum RingHealth: Sendable, Equatable, CustomStringConvertible {
        /// Running and accepting work.
        case healthy
        /// Shutting down or shut down.
        case stopped
        /// `io_uring_enter` failed with this errno: the ring takes no more work (see the README,
        /// *When a ring breaks*).
        case broken(Errno)

        public var description: String {
            switch self {
            case .healthy: return "healthy"
            case .stopped: return "stopped"
            case .broken(let e): return "broken (\(e))"
            }
        }
    }

    /// The configuration the runtime was built with.
    public let configuration: Configuration
    /// Threads for blocking calls (``spawnBlocking(_:)``).
    let blockingPool: BlockingPool
    /// Callers waiting for a blocking job, resumed with the shutdown error at shutdown.
    let blockingCalls = PosixLocked<[ObjectIdentifier: any BlockingCallWaiter]>([:])
    package let rings: [RingExecutor]
    /// `configuration.inlineCompletion`, read on every read call.
    let inlineCompletion: Bool
    let nextRing = Atomic<Int>(0)  // the round robin of pickRing()
    /// Tasks started with ``spawn(on:_:)`` and not yet ended.
    let taskTracker = TaskTracker()
    /// The shutdown state machine.
    let shutdownCoordinator = ShutdownCoordinator()
    /// The stall detector, when configured.
    let stallDetector: StallDetector?
    /// The backend the rings use, and why it was chosen (logged once, at `info` level, when the
    /// runtime starts). Fixed for the runtime's life; readable from any thread.
    public let backend: BackendChoice
    /// The portable backend's worker threads for file and path calls, and for calls that wait
    /// on a peer (nil on io_uring).
    let fileWorkers: PortableWorkers?

    /// Starts the ring threads.
    ///
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` for a bad configuration,
    ///   ``RuntimeError/unavailable(_:reason:)`` where io_uring cannot be used (with one
    ///   sentence saying what to change).
    public init(configuration: Configuration = Configuration()) throws(RuntimeError) {
        guard ringThreadSlot.isAvailable else {
            throw .unavailable(.resourceTemporarilyUnavailable, reason: "the process has no thread-local key left (pthread_key_create failed): a ring thread could not know its ring")
        }
        guard configuration.ringCount >= 1, configuration.ringCount <= 1024 else {
            throw .invalidArgument("ringCount must be in 1...1024 (got \(configuration.ringCount))")
        }
        if configuration.submissionEntries < 2 {
            throw .invalidArgument("submissionEntries must be at least 2 (got \(configuration.submissionEntries)): an operation with a timeout takes two entries")
        }
        if let limit = configuration.inFlightLimit, limit < 1 {
            throw .invalidArgument("inFlightLimit must be at least 1 (got \(limit))")
        }
        guard (1...4096).contains(configuration.blockingThreads) else {
            throw .invalidArgument("blockingThreads must be in 1...4096 (got \(configuration.blockingThreads))")
        }
        guard (0...1_000_000).contains(configuration.blockingQueueLimit) else {
            throw .invalidArgument("blockingQueueLimit must be in 0...1000000 (got \(configuration.blockingQueueLimit))")
        }
        if let interval = configuration.metricsInterval, interval <= .zero {
            throw .invalidArgument("metricsInterval must be positive (got \(interval)); nil turns metrics off")
        }
        if let clash = configuration.metricsDimensions.first(where: { $0.0 == "ring" }) {
            throw .invalidArgument("metricsDimensions may not use the key \"ring\" (got \(clash)): every ring metric already carries it")
        }
        if let t = configuration.stallThreshold, t < .milliseconds(1) || t > .seconds(3600) {
            throw .invalidArgument("stallThreshold must be in 1 ms ... 1 hour (got \(t)); nil turns the detector off")
        }
        if configuration.shutdownDrainLimit < .zero || configuration.shutdownDrainLimit > .seconds(3600) {
            throw .invalidArgument("shutdownDrainLimit must be in 0 ... 1 hour (got \(configuration.shutdownDrainLimit))")
        }
        let timerScale: TickScale
        do { timerScale = try TickScale(tick: configuration.timerTick) } catch {
            throw .invalidArgument("timerTick: \(error)")
        }
        // The fault injector fails io_uring_enter calls (tests only): it implies io_uring.
        let choice = try BackendChoice.resolve(configuration.faults != nil && configuration.backend == .automatic ? .ioUring : configuration.backend)
        backend = choice
        self.configuration = configuration
        inlineCompletion = configuration.inlineCompletion
        // The portable backend's file calls: as many threads as the blocking pool, and a queue
        // that holds every request the rings can admit (they never see it full).
        let workers = choice.backend == .portable
            ? PortableWorkers(threads: configuration.blockingThreads, queueLimit: configuration.ringCount * (configuration.inFlightLimit ?? 2 * Int(configuration.submissionEntries)) + 64)
            : nil
        fileWorkers = workers
        let metricsFactory = configuration.metricsInterval == nil ? nil : (configuration.metricsFactory ?? MetricsSystem.factory)
        blockingPool = BlockingPool(
            threads: configuration.blockingThreads, queueLimit: configuration.blockingQueueLimit,
            metrics: metricsFactory.map { BlockingPoolMetrics(factory: $0, dimensions: configuration.metricsDimensions) })
        let options = RingOptions(
            submissionEntries: configuration.submissionEntries,
            completionEntries: configuration.completionEntries)
        do throws(RingError) { try options.validate() } catch { throw RuntimeError(error) }  // on both backends
        var made: [RingExecutor] = []
        let group = RingGroup()
        group.ringStarted()  // held until every ring has started: a ring that stops early cannot close the group
        defer { group.ringFinished(reserved: nil) }
        let cores = configuration.pinsRingsToCores ? CPUAffinity.allowedCores() : []
        do {
            for i in 0..<configuration.ringCount {
                made.append(try RingExecutor(
                    index: i, options: options, inFlightLimit: configuration.inFlightLimit, timerScale: timerScale,
                    inlineCompletion: configuration.inlineCompletion, messageRingWakes: configuration.wakesSiblingsWithMessageRing,
                    pinnedCore: cores.isEmpty ? nil : cores[i % cores.count],
                    metrics: metricsFactory.map { RingMetrics(ring: i, factory: $0, dimensions: configuration.metricsDimensions) },
                    metricsInterval: configuration.metricsInterval ?? .seconds(1), group: group,
                    fileWorkers: workers, faults: configuration.faults, logger: configuration.logger))
            }
        } catch {
            for r in made {
                r.requestShutdown()
                r.waitUntilStopped()
            }
            _ = workers?.stop()
            throw error
        }
        rings = made
        group.members.withLock { $0 = made }
        stallDetector = configuration.stallThreshold.map { StallDetector(threshold: $0, rings: made, logger: configuration.logger) }
        for r in rings { r.runtime = self }
        stallDetector?.start()
        configuration.logger.info("Spool runtime started on the \(choice.backend) backend with \(made.count) ring(s): \(choice.reason)", metadata: [
            "backend": "\(choice.backend)", "reason": "\(choice.reason)",
        ])
        Runtime.live.withLock { $0.append(WeakRuntime(self)) }
    }

    /// The task executor of the first ring: prefer it for tasks that do I/O.
    public var executor: RingTaskExecutor { rings[0].taskExecutor }

    /// The task executors of all rings.
    public var executors: [RingTaskExecutor] { rings.map(\.taskExecutor) }

    /// Each ring's state, in ring order.
    public var health: [RingHealth] {
        rings.map { ring in
            if let e = ring.brokenWith { return .broken(e) }
            return ring.lifecycle == .running ? .healthy : .stopped
        }
    }

    /// Whether every ring is running.
    public var isHealthy: Bool { health.allSatisfy { $0 == .healthy } }

    // MARK: Finding the runtime

    /// The runtime of the calling context: the one whose ring runs the calling thread; else
    /// the one bound to the calling task (``run(configuration:_:)``, ``withRuntime(configuration:_:)``
    /// and ``spawn(on:_:)`` bind theirs, and every `Task { }` started inside inherits it), even
    /// if it has stopped (its I/O then fails with its shutdown or broken-ring error); else the
    /// most recently created runtime that is still running. `nil` if there is none.
    public static var current: Runtime? {
        if let r = RingExecutor.current?.runtime { return r }
        let running = live.withLock { list -> [Runtime] in
            list.removeAll { $0.runtime == nil }
            return list.compactMap(\.runtime)
        }
        return resolve(ring: nil, task: Runtime.taskRuntime, live: running)
    }

    /// The order ``current`` looks in: the calling ring's runtime, the task's, the most
    /// recent running one.
    static func resolve(ring: Runtime?, task: Runtime?, live: [Runtime]) -> Runtime? {
        ring ?? task ?? live.last(where: \.isRunning)
    }

    /// The runtime bound to the current task.
    static var taskRuntime: Runtime? { spawnToken?.runtime }

    /// The current task's binding: its runtime, and the count it holds as a task
    /// ``spawn(on:_:)`` started (running work for a graceful shutdown); inherited by child
    /// tasks, who may only lend it once. One task-local for both: each `withValue` is an async
    /// frame the task keeps for its whole life (a connection task's idle memory).
    @TaskLocal static var spawnToken: SpawnToken?

    /// Runs `body` (which creates a task) with `token` bound: the task copies the binding.
    @usableFromInline static func binding<R>(_ token: SpawnToken, _ body: () throws -> R) rethrows -> R {
        try $spawnToken.withValue(token, operation: body)
    }

    /// Every runtime created and not yet shut down, oldest first (weakly held).
    static let live = PosixLocked<[WeakRuntime]>([])  // a pthread lock: TSan does not see Mutex's futex

    /// Whether any ring still accepts work.
    var isRunning: Bool { rings.contains { $0.lifecycle == .running } }

    /// The runtime of the calling context, or an error that says how to get one.
    static func requireCurrent() throws(RuntimeError) -> Runtime {
        try require(Runtime.current)
    }

    /// `runtime`, or the error that says there is none.
    static func require(_ runtime: Runtime?) throws(RuntimeError) -> Runtime {
        guard let r = runtime else {
            throw .invalidArgument("no Spool runtime is running: create one (Runtime.run, Runtime.withRuntime or Runtime(configuration:)) or pass `runtime:`")
        }
        return r
    }

    // MARK: Tasks

    /// Starts a task on a ring: by default the next running one (round robin); see
    /// ``RingPlacement``. The task and the tasks it starts find this runtime as ``current``.
    ///
    /// A task that cannot be placed (the runtime is shutting down, the chosen ring stopped or
    /// broke, an index out of range) throws that error without running `body`.
    @discardableResult
    public func spawn<T: Sendable>(
        on placement: RingPlacement = .next, _ body: sending @escaping @isolated(any) () async throws -> T
    ) -> Task<T, any Error> {
        let (ring, refusal) = place(placement)
        if let refusal { return Task { throw refusal } }
        let token = SpawnToken(counting: self)
        nonisolated(unsafe) let body = body  // `sending`: no one else holds it
        // Bound around the task's creation, which copies the binding into the task: no
        // `withValue` frame stays in the task for its life.
        return Runtime.$spawnToken.withValue(token) {
            Task(executorPreference: ring.taskExecutor) {
                defer { token.end() }
                return try await body()
            }
        }
    }

    /// Starts a task on a ring that owns `value`: a `~Copyable` handle (a ``File``, a
    /// ``StreamSocket``, a ``StreamListener``) moves
    /// into the task, and `body` receives it as its own, so it can close it (`consuming`). A
    /// value `body` did not consume is dropped when it returns (a handle then closes its
    /// descriptor in `deinit`). (A `~Copyable` value captured with `[x = consume x]` can be
    /// used in a task but not consumed there: this is the way to hand one over.)
    ///
    /// ```swift
    /// let file = try await File.open("/var/log/app.log")
    /// runtime.spawn(taking: file) { file in
    ///     let head = try await file.read(upToCount: 4096, at: 0)
    ///     try await file.close()
    ///     return head
    /// }
    /// ```
    ///
    /// A task that cannot be placed throws without running `body`; `value` is then dropped.
    @discardableResult @inlinable
    public func spawn<Value: ~Copyable & Sendable, T: Sendable>(
        taking value: consuming Value, on placement: RingPlacement = .next,
        _ body: sending @escaping (consuming Value) async throws -> T
    ) -> Task<T, any Error> {
        let (ring, refusal) = place(placement)
        if let refusal {
            _ = consume value
            return Task { throw refusal }
        }
        let handoff = Handoff(value)
        let token = SpawnToken(counting: self)
        nonisolated(unsafe) let body = body  // `sending`: no one else holds it
        // Bound around the task's creation, which copies the binding into the task: no
        // `withValue` frame stays with a connection's task for its life. Inlinable, so that a
        // caller's closure is called without generic thunks (each an async frame the idle
        // task keeps).
        return Runtime.binding(token) {
            Task(executorPreference: ring.taskExecutor) {
                defer { token.end() }
                guard let value = handoff.take() else {
                    throw RuntimeError.invalidArgument("a handed-off value was taken twice")  // unreachable: one task, one take
                }
                return try await body(value)
            }
        }
    }

    /// Creates a runtime, runs `body` as a task on its first ring, shuts the runtime down,
    /// and returns what `body` returned. Blocks the calling thread: call it from a
    /// synchronous `main`.
    public static func run<T: Sendable>(
        configuration: Configuration = Configuration(),
        _ body: @escaping @Sendable (Runtime) async throws -> T
    ) throws -> T {
        let runtime = try Runtime(configuration: configuration)
        let outcome = PosixLocked<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: runtime.executor) {
            let r: Result<T, any Error>
            do {
                r = .success(try await Runtime.$spawnToken.withValue(SpawnToken(binding: runtime, outer: Runtime.spawnToken)) { try await body(runtime) })
            } catch {
                r = .failure(error)
            }
            outcome.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        runtime.shutdown()
        return try outcome.withLock { $0! }.get()
    }

    /// Creates a runtime, runs `body` on its first ring, then shuts the runtime down
    /// (awaiting, not blocking) and returns what `body` returned.
    public static func withRuntime<T: Sendable>(
        configuration: Configuration = Configuration(),
        _ body: @Sendable (Runtime) async throws -> T
    ) async throws -> T {
        let runtime = try Runtime(configuration: configuration)
        let result: Result<T, any Error>
        do {
            result = .success(try await Runtime.$spawnToken.withValue(SpawnToken(binding: runtime, outer: Runtime.spawnToken)) {
                try await withTaskExecutorPreference(runtime.executor) { try await body(runtime) }
            })
        } catch {
            result = .failure(error)
        }
        await runtime.shutdownAndWait()
        return try result.get()
    }

    // MARK: Diagnostics

    /// A snapshot of one ring's state, read on the ring's thread.
    struct RingSnapshot: Sendable {
        var slotsInUse: Int
        var slotCapacity: Int
        var peakSlotCapacity: Int
        var slabBytes: Int
        var inFlight: Int
        var peakInFlight: Int
        var waiting: Int
        var jobQueueCapacity: Int
        var statistics: LoopStatistics
    }

    /// Snapshots of every running ring (for tests and diagnostics).
    nonisolated(nonsending) func snapshots() async -> [RingSnapshot] {
        var out: [RingSnapshot] = []
        for ring in rings {
            let snap: RingSnapshot? = await withTaskExecutorPreference(ring.taskExecutor) {
                guard let here = RingExecutor.current else { return nil }
                let t = here.table
                return RingSnapshot(slotsInUse: t.used, slotCapacity: t.capacity, peakSlotCapacity: t.peakCapacity, slabBytes: t.slabBytes, inFlight: t.inFlight,
                                    peakInFlight: t.peakInFlight, waiting: t.waitingCount,
                                    jobQueueCapacity: here.jobs.capacity, statistics: here.statistics)
            }
            if let snap { out.append(snap) }
        }
        return out
    }

    // MARK: Operations

    /// The smallest stream send that goes zero-copy, where the kernel supports it.
    var zeroCopySendThreshold: Int? {
        guard let threshold = configuration.zeroCopySendThreshold, rings[0].zeroCopySendSupported.load(ordering: .relaxed) else { return nil }
        return threshold
    }

    /// Why no ring of this runtime takes work: a broken ring's errno, else shutdown.
    var refusal: OperationOutcome {
        for r in rings { if let e = r.brokenWith { return .broken(e) } }
        return .shutdown
    }

    /// Runs `request` on the calling thread's ring (any runtime's: it is the fast path) while
    /// that ring runs; otherwise hops onto a running ring of this runtime. Accepts always run on
    /// this runtime's rings, so its graceful shutdown can refuse and end them.
    nonisolated(nonsending) func perform(
        _ request: OperationRequest, cancellable: Bool = true, linkTimeout: UnsafeMutableRawPointer? = nil
    ) async -> OperationOutcome {
        if request.isAccept {
            // Accepts run on this runtime's own rings, so its graceful shutdown can refuse and
            // end them (a calling ring of another runtime does not take them).
            if shutdownCoordinator.hasBegun { return .shutdown }
            if let ring = RingExecutor.current, ring.lifecycle == .running, ring.group === rings[0].group {
                return await ring.perform(request, cancellable: cancellable, linkTimeout: linkTimeout)
            }
        } else if let ring = RingExecutor.current, ring.lifecycle == .running {
            return await ring.perform(request, cancellable: cancellable, linkTimeout: linkTimeout)
        }
        guard let ring = pickRing() else { return refusal }
        nonisolated(unsafe) let linkTimeout = linkTimeout
        return await withTaskExecutorPreference(ring.taskExecutor) {
            await Runtime.performOnRing(ring, request, cancellable: cancellable, linkTimeout: linkTimeout)
        }
    }

    /// Runs a batch; see ``RingExecutor/performBatch(_:results:isolation:)``.
    nonisolated(nonsending) func performBatch(_ parts: [OperationRequest], results: UnsafeMutablePointer<Int32>) async -> OperationOutcome {
        if let ring = RingExecutor.current, ring.lifecycle == .running {
            return await ring.performBatch(parts, results: results)
        }
        guard let ring = pickRing() else { return refusal }
        nonisolated(unsafe) let results = results
        return await withTaskExecutorPreference(ring.taskExecutor) {
            guard let here = RingExecutor.current else { return ring.refusal }
            return await here.performBatch(parts, results: results)
        }
    }

    private static func performOnRing(
        _ ring: RingExecutor, _ request: OperationRequest, cancellable: Bool, linkTimeout: UnsafeMutableRawPointer?
    ) async -> OperationOutcome {
        // If the ring stopped meanwhile, the preference no longer lands on its thread.
        guard let here = RingExecutor.current else { return ring.refusal }
        return await here.perform(request, cancellable: cancellable, linkTimeout: linkTimeout)
    }
}
