import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One io_uring: its shared submission and completion queues, the one submit path,
/// and batched completion reaping.
///
/// **Thread-safety:** none, by design. A ring belongs to the thread that created it
/// (with ``RingSetupFlags/singleIssuer`` the kernel enforces this and answers
/// `EEXIST` to any other thread). It is not `Sendable`.
///
/// **Lifetime:** the ring's descriptor and mappings are released in `deinit`. Memory
/// that in-flight requests point at (buffers, paths, iovecs) belongs to the caller,
/// who must keep it alive until the request's final completion has been reaped;
/// dropping a ring with requests in flight lets the kernel cancel them asynchronously.
///
/// The life of a request: ``nextSubmission()`` hands out a zeroed entry, one of the
/// `prepare…` functions of ``SubmissionQueueEntry`` fills it, ``submit(waitingFor:timeout:)``
/// (the only caller of `io_uring_enter`) passes it to the kernel, and
/// ``reapCompletions(maximum:_:)`` delivers its ``Completion``.
public final class Ring {
    // MARK: Submission queue (kernel memory)
    @usableFromInline let sqHead: UnsafeMutablePointer<UInt32>
    @usableFromInline let sqTail: UnsafeMutablePointer<UInt32>
    @usableFromInline let sqFlags: UnsafeMutablePointer<UInt32>
    @usableFromInline let sqMask: UInt32
    @usableFromInline let sqEntryCount: UInt32
    @usableFromInline let sqes: UnsafeMutablePointer<spool_uring_sqe>
    /// The next entry ``nextSubmission()`` hands out; published to the kernel at submit.
    @exclusivity(unchecked) @usableFromInline var localSQTail: UInt32

    // MARK: Completion queue (kernel memory)
    @usableFromInline let cqHead: UnsafeMutablePointer<UInt32>
    @usableFromInline let cqTail: UnsafeMutablePointer<UInt32>
    @usableFromInline let cqMask: UInt32
    @usableFromInline let cqEntryCount: UInt32
    @usableFromInline let cqes: UnsafeMutablePointer<spool_uring_cqe>
    let cqOverflow: UnsafeMutablePointer<UInt32>
    /// Our copy of the CQ head: advanced per completion, published once per batch.
    @exclusivity(unchecked) @usableFromInline var localCQHead: UInt32

    /// Completions taken out of the CQ by the submit path while it recovered from
    /// `EBUSY`/`EAGAIN`, waiting to be delivered by the next reap. Capacity: the CQ size.
    @exclusivity(unchecked) @usableFromInline var spill: Spill

    // MARK: Setup facts
    /// The ring's descriptor.
    public let descriptor: FileDescriptor
    /// The setup flags the kernel accepted.
    public let activeFlags: RingSetupFlags
    /// The features the kernel reported.
    public let features: RingFeatures
    /// What was asked for (before flags the kernel rejected were dropped).
    public let requestedOptions: RingOptions

    @exclusivity(unchecked) @usableFromInline var enterDescriptor: Int32
    @exclusivity(unchecked) @usableFromInline var enterFlagsBase: UInt32
    @usableFromInline let alwaysGetEvents: Bool
    @usableFromInline let usesSQPoll: Bool
    let systemCalls: RingSystemCalls
    /// `io_uring_enter` is the kernel's own: call it without the indirection.
    let directEnter: Bool
    private let mappings: [(UnsafeMutableRawPointer, Int)]
    private(set) var supportedOpcodes: [Bool]
    /// The registered index of the ring descriptor, when registered.
    public private(set) var registeredRingIndex: UInt32?

    /// Health: a ring that failed fatally in `io_uring_enter` stays broken.
    @exclusivity(unchecked) public internal(set) var state: State = .healthy

    /// A ring's health.
    public enum State: Equatable, Sendable {
        /// Accepting and completing work.
        case healthy
        /// `io_uring_enter` failed with a fatal errno; every later submit fails fast with it.
        case broken(Errno)
    }

    /// After this many consecutive `EAGAIN`/`EBUSY` answers with nothing reaped, the submit
    /// path gives up with ``RingError/submissionStalled(_:)`` (each attempt first blocks up to
    /// ``stallWait`` in the kernel waiting for a completion, so this never spins).
    public static let maximumStalledAttempts = 16
    /// How long one stalled attempt waits in the kernel for a completion.
    public static let stallWait: Duration = .milliseconds(1)

    /// Counts, for diagnostics and tests.
    @exclusivity(unchecked) var counters = Statistics()
    /// Enters made by the inlined fast path of ``submit(waitingFor:timeout:)``.
    @exclusivity(unchecked) @usableFromInline var fastEnterCalls = 0
    /// Whether ``submit(waitingFor:timeout:)`` may try its inlined fast path: the kernel's own
    /// `io_uring_enter`, no SQ polling thread, a healthy ring.
    @exclusivity(unchecked) @usableFromInline var fastEnter = false

    /// The ring's counters so far (a copy).
    public var statistics: Statistics {
        var s = counters
        s.enterCalls += fastEnterCalls
        return s
    }

    /// Creates a ring.
    ///
    /// Flags the kernel rejects with `EINVAL` (or `EPERM`, for SQ polling) are dropped one at
    /// a time and setup is retried; ``activeFlags`` tells what took effect.
    ///
    /// - Throws: ``RingError/invalidArgument(_:)`` for sizes out of range;
    ///   ``RingError/unavailable(_:advice:)`` when io_uring is refused here;
    ///   ``RingError/setupFailed(_:)`` or ``RingError/mappingFailed(_:)`` otherwise.
    public init(options: RingOptions = RingOptions(), systemCalls: RingSystemCalls = .kernel) throws(RingError) {
        try options.validate()
        self.requestedOptions = options
        self.systemCalls = systemCalls
        self.directEnter = systemCalls.enterIsKernel

        var flags = options.flags
        if options.completionEntries != nil { flags.insert(.completionQueueSize) }
        if flags.contains(.deferTaskRun) { flags.insert(.singleIssuer) }
        var params = spool_uring_params()
        var fd: Int32 = -1
        while true {
            params = spool_uring_params()
            params.flags = flags.rawValue
            if let cq = options.completionEntries { params.cq_entries = cq }
            if flags.contains(.submissionQueuePolling) {
                let ms = options.submissionPollIdle.components.seconds * 1000
                    + options.submissionPollIdle.components.attoseconds / 1_000_000_000_000_000
                params.sq_thread_idle = UInt32(clamping: ms)
            }
            fd = systemCalls.setup(options.submissionEntries, &params)
            if fd >= 0 { break }
            let errno = Errno(rawValue: -fd)
            if errno == .invalidArgument || (errno == .notPermitted && flags.contains(.submissionQueuePolling)) {
                // Drop the least essential flag still set and try again.
                let droppable = errno == .notPermitted ? [.submissionQueuePolling] : RingSetupFlags.dropOrder
                if let next = droppable.first(where: { flags.contains($0) }) {
                    flags.remove(next)
                    if next == .singleIssuer { flags.remove(.deferTaskRun) }
                    continue
                }
                throw .setupFailed(errno)
            }
            if errno == .noFunction || errno == .notPermitted {
                throw RingError.refused(errno)
            }
            throw .setupFailed(errno)
        }
        let ringFD = fd
        self.descriptor = FileDescriptor(rawValue: ringFD)
        self.activeFlags = RingSetupFlags(rawValue: params.flags)
        self.features = RingFeatures(rawValue: params.features)

        // Map the rings: one mapping for both queues where the kernel allows it.
        let sqRingSize = Int(params.sq_off.array) + Int(params.sq_entries) * MemoryLayout<UInt32>.stride
        let cqRingSize = Int(params.cq_off.cqes) + Int(params.cq_entries) * MemoryLayout<spool_uring_cqe>.stride
        let singleMap = params.features & IORING_FEAT_SINGLE_MMAP != 0
        var maps: [(UnsafeMutableRawPointer, Int)] = []
        func map(_ size: Int, _ offset: UInt64) throws(RingError) -> UnsafeMutableRawPointer {
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFD, off_t(Int64(bitPattern: offset)))
            guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
                let e = Errno(rawValue: Glibc.errno)
                for (m, len) in maps { munmap(m, len) }
                close(ringFD)
                throw .mappingFailed(e)
            }
            maps.append((p, size))
            return p
        }
        let sqRing = try map(singleMap ? max(sqRingSize, cqRingSize) : sqRingSize, IORING_OFF_SQ_RING)
        let cqRing = singleMap ? sqRing : try map(cqRingSize, IORING_OFF_CQ_RING)
        let sqeMemory = try map(Int(params.sq_entries) * MemoryLayout<spool_uring_sqe>.stride, IORING_OFF_SQES)
        self.mappings = maps

        func u32(_ base: UnsafeMutableRawPointer, _ offset: UInt32) -> UnsafeMutablePointer<UInt32> {
            (base + Int(offset)).assumingMemoryBound(to: UInt32.self)
        }
        sqHead = u32(sqRing, params.sq_off.head)
        sqTail = u32(sqRing, params.sq_off.tail)
        sqFlags = u32(sqRing, params.sq_off.flags)
        sqMask = u32(sqRing, params.sq_off.ring_mask).pointee
        sqEntryCount = u32(sqRing, params.sq_off.ring_entries).pointee
        sqes = sqeMemory.bindMemory(to: spool_uring_sqe.self, capacity: Int(params.sq_entries))
        cqHead = u32(cqRing, params.cq_off.head)
        cqTail = u32(cqRing, params.cq_off.tail)
        cqMask = u32(cqRing, params.cq_off.ring_mask).pointee
        cqEntryCount = u32(cqRing, params.cq_off.ring_entries).pointee
        cqOverflow = u32(cqRing, params.cq_off.overflow)
        cqes = (cqRing + Int(params.cq_off.cqes)).bindMemory(to: spool_uring_cqe.self, capacity: Int(params.cq_entries))

        // The SQ index array maps slot i to entry i once and for all, so submitting
        // only ever moves the tail.
        let array = u32(sqRing, params.sq_off.array)
        for i in 0..<sqEntryCount { array[Int(i)] = i }
        localSQTail = sqTail.pointee
        localCQHead = cqHead.pointee
        spill = Spill(capacity: Int(cqEntryCount))

        enterDescriptor = ringFD
        enterFlagsBase = 0
        usesSQPoll = activeFlags.contains(.submissionQueuePolling)
        alwaysGetEvents = activeFlags.contains(.deferTaskRun)
        supportedOpcodes = []

        supportedOpcodes = probeOpcodes()
        if options.registerRingDescriptor {
            registeredRingIndex = try? registerRingDescriptor()
            if let index = registeredRingIndex {
                enterDescriptor = Int32(bitPattern: index)
                enterFlagsBase = IORING_ENTER_REGISTERED_RING
            }
        }
        fastEnter = directEnter && !usesSQPoll
    }

    deinit {
        if let index = registeredRingIndex {
            // Registrations are per thread: this succeeds on the owner thread (the contract);
            // elsewhere the kernel drops the registration when the owner thread exits.
            var update = spool_uring_rsrc_update()
            update.offset = index
            _ = systemCalls.register(descriptor.rawValue, UInt32(IORING_UNREGISTER_RING_FDS), &update, 1)
        }
        spill.deallocate()
        for (p, len) in mappings { munmap(p, len) }
        if let reservation = descriptorReservation, spool_dup3_cloexec(reservation.placeholder.rawValue, descriptor.rawValue) == 0 {
            reservation.isReserved = true  // the ring's file is released; its number names the placeholder
            return
        }
        close(descriptor.rawValue)
    }

    /// When set, `deinit` does not free the ring's descriptor number: it makes the number a
    /// close-on-exec duplicate of the reservation's placeholder (`dup3`), which releases the
    /// ring just as `close` would, and records that it did. The owner closes the number later.
    /// For rings that other rings wake with `MSG_RING` naming that number: a late request then
    /// fails with `EBADFD` instead of reaching whatever file reused the number.
    public var descriptorReservation: DescriptorReservation?

    // MARK: Sizes

    /// Entries in the submission queue (a power of two).
    public var submissionQueueCapacity: Int { Int(sqEntryCount) }
    /// Entries in the completion queue (a power of two).
    public var completionQueueCapacity: Int { Int(cqEntryCount) }

    /// Entries handed out by ``nextSubmission()`` or submitted but not yet consumed by the kernel.
    @inlinable
    public var pendingSubmissions: Int {
        Int(localSQTail &- (usesSQPoll ? spool_load_acquire_u32(sqHead) : sqHead.pointee))
    }

    /// Free submission entries right now.
    @inlinable
    public var freeSubmissionSlots: Int { Int(sqEntryCount) - pendingSubmissions }

    /// Completions the kernel has posted (plus any held by the submit path) that have not been reaped.
    public var readyCompletions: Int {
        spill.count + Int(spool_load_acquire_u32(cqTail) &- localCQHead)
    }

    /// Completions the kernel had to drop because the CQ was full (only without ``RingFeatures/noDrop``).
    public var droppedCompletions: UInt32 { spool_load_acquire_u32(cqOverflow) }

    /// Whether the kernel holds completions in its overflow backlog, waiting for CQ room.
    public var hasOverflowBacklog: Bool { spool_load_acquire_u32(sqFlags) & IORING_SQ_CQ_OVERFLOW != 0 }

    // MARK: Submission

    /// A zeroed submission entry to prepare, or `nil` when the submission queue is full.
    ///
    /// The entry reaches the kernel at the next ``submit(waitingFor:timeout:)``. When this
    /// returns `nil`, submit (which frees every slot the kernel consumes) and try again, or
    /// queue the request: the ring never spins waiting for space.
    @inlinable
    public func nextSubmission() -> SubmissionQueueEntry? {
        let head = usesSQPoll ? spool_load_acquire_u32(sqHead) : sqHead.pointee
        if localSQTail &- head >= sqEntryCount { return nil }
        let sqe = sqes + Int(localSQTail & sqMask)
        localSQTail &+= 1
        sqe.initialize(to: spool_uring_sqe())
        return SubmissionQueueEntry(sqe)
    }

    /// Submits every prepared entry and optionally waits for completions: the only function
    /// that calls `io_uring_enter` (its inlined fast path makes one enter; any failure, and
    /// everything it does not cover, goes through the retry policy below, in
    /// `submitWithRetries` and `enterOnce`, which nothing else calls).
    ///
    /// Retry policy (DESIGN.md contract 4):
    /// - `EINTR`: retried at once (a wait with a timeout returns instead, like `ETIME`).
    /// - `EAGAIN`/`EBUSY`: completions are reaped into a bounded holding buffer (delivered
    ///   by the next ``reapCompletions(maximum:_:)``, nothing lost), then retried. With
    ///   nothing to reap it first blocks up to ``stallWait`` in the kernel for a completion;
    ///   after ``maximumStalledAttempts`` such attempts it throws
    ///   ``RingError/submissionStalled(_:)`` and the ring stays healthy.
    /// - `ETIME`: the wait timed out; not an error.
    /// - anything else: the ring becomes ``State/broken(_:)``; this and every later call
    ///   throws ``RingError/broken(_:)``.
    ///
    /// - Parameters:
    ///   - minimumCompletions: block until at least this many completions are ready (0: don't block).
    ///   - timeout: the longest to block; `nil` waits without limit. Needs ``RingFeatures/extendedArgument``.
    /// - Returns: the number of entries the kernel consumed.
    @inlinable
    @discardableResult
    public func submit(waitingFor minimumCompletions: UInt32 = 0, timeout: Duration? = nil) throws(RingError) -> Int {
        // The common case, inlined into the caller: one enter without a timeout that succeeds.
        // Anything else (an error, a timeout, SQ polling, a broken or injected ring) goes
        // through the full path below, which owns the retry policy; an enter that failed here
        // consumed nothing, so the full path simply starts over.
        if fastEnter && timeout == nil {
            spool_store_release_u32(sqTail, localSQTail)
            let toSubmit = localSQTail &- sqHead.pointee
            var flags = enterFlagsBase
            if minimumCompletions > 0 || alwaysGetEvents
                || spool_load_relaxed_u32(sqFlags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN) != 0
            {
                flags |= IORING_ENTER_GETEVENTS
            }
            if toSubmit == 0 && flags & IORING_ENTER_GETEVENTS == 0 { return 0 }
            fastEnterCalls &+= 1
            let result = spool_io_uring_enter(enterDescriptor, toSubmit, minimumCompletions, flags, nil, 0)
            if result >= 0 { return Int(result) }
            // Failed: the enter consumed nothing (the kernel reports entries it took even when
            // the wait then fails). The full path classifies this result first, with no
            // second enter.
            return try submitWithRetries(waitingFor: minimumCompletions, timeout: nil, firstResult: result)
        }
        return try submitWithRetries(waitingFor: minimumCompletions, timeout: timeout)
    }

    // MARK: Completion

    /// Delivers up to `maximum` ready completions to `body`, oldest first, and returns
    /// how many it delivered.
    ///
    /// The CQ head is published to the kernel once per batch, not per entry. If the kernel
    /// holds completions in its overflow backlog (the CQ was full), the backlog is flushed
    /// through ``submit(waitingFor:timeout:)`` and delivered in the same call.
    ///
    /// `body` may prepare and submit new entries; it must not call `reapCompletions` itself.
    @inlinable
    @discardableResult
    public func reapCompletions(maximum: Int = .max, _ body: (Completion) -> Void) -> Int {
        var delivered = 0
        var flushedOverflow = false
        while delivered < maximum {
            if !spill.isEmpty {
                body(spill.removeFirst())
                delivered += 1
                continue
            }
            var tail = spool_load_acquire_u32(cqTail)
            if localCQHead == tail {
                spool_store_release_u32(cqHead, localCQHead)
                // The CQ is drained; the kernel may still hold a backlog of overflowed entries.
                guard !flushedOverflow, hasOverflowBacklog else { break }
                flushedOverflow = true
                flushOverflowBacklog()
                tail = spool_load_acquire_u32(cqTail)
                if localCQHead == tail && spill.isEmpty { break }
                continue
            }
            // A signed distance: `body` may submit, and a submit that meets EBUSY moves
            // completions to the holding buffer, advancing `localCQHead` past this `tail`.
            while Int32(bitPattern: tail &- localCQHead) > 0 && delivered < maximum {
                let cqe = cqes[Int(localCQHead & cqMask)]
                localCQHead &+= 1
                body(Completion(userData: cqe.user_data, result: cqe.res, flags: cqe.flags))
                delivered += 1
            }
        }
        spool_store_release_u32(cqHead, localCQHead)
        return delivered
    }

    @usableFromInline
    func flushOverflowBacklog() {
        counters.overflowFlushes += 1
        // GETEVENTS with nothing to wait for makes the kernel move its backlog into the
        // CQ. A failure here is recorded in `state` and reported by the next submit.
        _ = try? submit()
    }
}
