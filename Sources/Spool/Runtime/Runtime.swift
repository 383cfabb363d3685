import Dispatch
import SpoolRing
import Synchronization
import SystemPackage

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
/// from another executor ~12 µs): ``run(configuration:_:)`` runs its body there, ``spawn(_:)``
/// starts tasks there, and child tasks inherit it. I/O from any other task works too: the
/// operation hops onto a ring and back.
///
/// **Thread-safety:** every member may be used from any thread (`Sendable`).
/// **Lifetime:** ``shutdown()`` (or the end of ``run(configuration:_:)``) cancels what is in
/// flight, waits for the kernel's last completion, resumes every waiting caller with
/// ``RuntimeError/shutdown`` and closes the rings. Tasks that outlive it keep running on the
/// global executor; their I/O fails with ``RuntimeError/shutdown``.
public final class Runtime: Sendable {
    /// How to build a runtime. A plain value: `Sendable`.
    public struct Configuration: Sendable {
        /// Ring threads. Default 1 (each ring owns one thread).
        public var ringCount: Int
        /// Submission-queue entries per ring (1...32768, rounded up to a power of two).
        public var submissionEntries: UInt32
        /// Completion-queue entries per ring; `nil`: twice `submissionEntries`.
        public var completionEntries: UInt32?
        /// Operations one ring keeps in the kernel at once; callers past it wait FIFO.
        /// `nil`: the completion-queue size (so the CQ never overflows).
        public var inFlightLimit: Int?
        /// io_uring setup flags to ask for; rejected ones are dropped.
        public var flags: RingSetupFlags

        /// Creates a configuration.
        public init(
            ringCount: Int = 1, submissionEntries: UInt32 = 256, completionEntries: UInt32? = nil,
            inFlightLimit: Int? = nil, flags: RingSetupFlags = .recommended
        ) {
            self.ringCount = ringCount
            self.submissionEntries = submissionEntries
            self.completionEntries = completionEntries
            self.inFlightLimit = inFlightLimit
            self.flags = flags
        }
    }

    /// The configuration the runtime was built with.
    public let configuration: Configuration
    let rings: [RingExecutor]
    private let nextRing = Atomic<Int>(0)
    private let shutdownStarted = Atomic<Bool>(false)

    /// Starts the ring threads.
    ///
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` for a bad configuration,
    ///   ``RuntimeError/unavailable(_:reason:)`` where io_uring cannot be used (with one
    ///   sentence saying what to change).
    public init(configuration: Configuration = Configuration()) throws(RuntimeError) {
        guard configuration.ringCount >= 1, configuration.ringCount <= 1024 else {
            throw .invalidArgument("ringCount must be in 1...1024 (got \(configuration.ringCount))")
        }
        if let limit = configuration.inFlightLimit, limit < 1 {
            throw .invalidArgument("inFlightLimit must be at least 1 (got \(limit))")
        }
        self.configuration = configuration
        let options = RingOptions(
            submissionEntries: configuration.submissionEntries,
            completionEntries: configuration.completionEntries,
            flags: configuration.flags)
        var made: [RingExecutor] = []
        do {
            for i in 0..<configuration.ringCount {
                made.append(try RingExecutor(index: i, options: options, inFlightLimit: configuration.inFlightLimit))
            }
        } catch {
            for r in made {
                r.requestShutdown()
                r.waitUntilStopped()
            }
            throw error
        }
        rings = made
        for r in rings { r.runtime = self }
    }

    /// The task executor of the first ring: prefer it for tasks that do I/O.
    public var executor: RingTaskExecutor { rings[0].taskExecutor }

    /// The task executors of all rings.
    public var executors: [RingTaskExecutor] { rings.map(\.taskExecutor) }

    /// The runtime whose ring runs the calling thread, if any.
    public static var current: Runtime? { RingExecutor.current?.runtime }

    /// Starts a task on a ring (round robin over the rings).
    @discardableResult
    public func spawn<T: Sendable>(_ body: sending @escaping @isolated(any) () async throws -> T) -> Task<T, any Error> {
        let ring = rings[nextRing.wrappingAdd(1, ordering: .relaxed).oldValue % rings.count]
        return Task(executorPreference: ring.taskExecutor, operation: body)
    }

    /// Creates a runtime, runs `body` as a task on its first ring, shuts the runtime down,
    /// and returns what `body` returned. Blocks the calling thread: call it from a
    /// synchronous `main`.
    public static func run<T: Sendable>(
        configuration: Configuration = Configuration(),
        _ body: @escaping @Sendable (Runtime) async throws -> T
    ) throws -> T {
        let runtime = try Runtime(configuration: configuration)
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: runtime.executor) {
            let r: Result<T, any Error>
            do { r = .success(try await body(runtime)) } catch { r = .failure(error) }
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
            result = .success(try await withTaskExecutorPreference(runtime.executor) { try await body(runtime) })
        } catch {
            result = .failure(error)
        }
        await runtime.shutdownAndWait()
        return try result.get()
    }

    /// Shuts the runtime down and blocks until every ring thread has exited: in-flight
    /// operations are cancelled and drained, waiting callers resume with
    /// ``RuntimeError/shutdown``, rings are closed. Idempotent.
    ///
    /// Must not be called from a ring thread of this runtime (it would wait for itself);
    /// from there, use ``shutdownAndWait()``.
    public func shutdown() {
        if let current = RingExecutor.current, rings.contains(where: { $0 === current }) {
            for r in rings { r.requestShutdown() }
            return
        }
        for r in rings { r.requestShutdown() }
        for r in rings { r.waitUntilStopped() }
    }

    /// Shuts the runtime down and suspends until every ring thread has exited.
    public nonisolated(nonsending) func shutdownAndWait() async {
        for r in rings { r.requestShutdown() }
        for r in rings { await r.stopped() }
    }

    // MARK: Diagnostics

    /// A snapshot of one ring's operation table, read on the ring's thread.
    struct RingSnapshot: Sendable {
        var slotsInUse: Int
        var slotCapacity: Int
        var inFlight: Int
        var peakInFlight: Int
        var waiting: Int
    }

    /// Snapshots of every ring's operation table (for tests and diagnostics).
    nonisolated(nonsending) func snapshots() async -> [RingSnapshot] {
        var out: [RingSnapshot] = []
        for ring in rings {
            let snap: RingSnapshot? = await withTaskExecutorPreference(ring.taskExecutor) {
                guard let here = RingExecutor.current else { return nil }
                let t = here.table
                return RingSnapshot(slotsInUse: t.used, slotCapacity: t.capacity, inFlight: t.inFlight,
                                    peakInFlight: t.peakInFlight, waiting: t.admission.count)
            }
            if let snap { out.append(snap) }
        }
        return out
    }

    // MARK: Operations

    /// Runs `request` on the calling thread's ring, or hops onto one of this runtime's rings.
    nonisolated(nonsending) func perform(_ request: OperationRequest) async -> OperationOutcome {
        if let ring = RingExecutor.current { return await ring.perform(request) }
        let ring = rings[nextRing.wrappingAdd(1, ordering: .relaxed).oldValue % rings.count]
        return await withTaskExecutorPreference(ring.taskExecutor) {
            await Runtime.performOnRing(ring, request)
        }
    }

    /// Runs a batch; see ``RingExecutor/performBatch(_:results:)``.
    nonisolated(nonsending) func performBatch(_ parts: [OperationRequest], results: UnsafeMutablePointer<Int32>) async -> OperationOutcome {
        if let ring = RingExecutor.current { return await ring.performBatch(parts, results: results) }
        let ring = rings[nextRing.wrappingAdd(1, ordering: .relaxed).oldValue % rings.count]
        nonisolated(unsafe) let results = results
        return await withTaskExecutorPreference(ring.taskExecutor) {
            guard let here = RingExecutor.current else { return .shutdown }
            return await here.performBatch(parts, results: results)
        }
    }

    private static func performOnRing(_ ring: RingExecutor, _ request: OperationRequest) async -> OperationOutcome {
        // After the runtime stopped, the preference no longer lands on a ring thread.
        guard let here = RingExecutor.current else { return .shutdown }
        return await here.perform(request)
    }
}
