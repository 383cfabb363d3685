internal import SpoolRing
import SystemPackage

/// The io_uring backend of one ring thread (``ReactorBackend``): it owns the ring, prepares
/// every SQE (a request's, its linked `LINK_TIMEOUT`, the wake read, `ASYNC_CANCEL`, `MSG_RING`)
/// and makes the runtime's only call into the ring's submit path, ``enter(_:wait:timeout:)``
/// (`Ring.submit` owns the retry policy; contract 4).
///
/// The backend is split by job, one file each:
/// - this file: the ring, its start, admitted requests → SQEs, the enter and the reap;
/// - `IOURingReactor+InternalRequests.swift`: the wake read, cancels, and their completions;
/// - `IOURingReactor+Wakes.swift`: `MSG_RING` wakes of sibling rings;
/// - `IOURingReactor+Teardown.swift`: closing the ring, also when it broke;
/// - `IOURingReactor+Buffers.swift`: provided-buffer rings for buffer pools.
///
/// **Thread-safety:** none: the ring thread's (the kernel requires it: `SINGLE_ISSUER`).
/// **Lifetime:** owned by its executor; the ring is freed when the thread ends (or breaks).
final class IOURingReactor: ReactorBackend {
    static let wakeUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 1
    static let cancelUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 2
    static let cancelAllUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 3
    /// The `LINK_TIMEOUT` entries bounding operations (their completions need no action).
    static let linkTimeoutUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 4
    /// A wake a sibling ring posted here with `MSG_RING` (no action: the loop wakes).
    static let messageWakeUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 5
    /// This ring's own `MSG_RING` wake requests, when one fails (the low 16 bits name the
    /// target ring's index); successful ones post no completion here.
    static let messageSendUserData: UInt64 = UInt64(OperationTable.internalGeneration) << 32 | 0x1_0000

    /// Why a kernel without `IORING_FEAT_EXT_ARG` cannot run Spool's rings.
    static let extendedArgumentAdvice = "Spool needs Linux 5.11 or later (io_uring_enter with a timeout, IORING_FEAT_EXT_ARG); this kernel lacks it; the portable backend (Configuration.backend = .portable, or SPOOL_BACKEND=portable) runs without io_uring."

    let index: Int
    let options: RingOptions
    let faults: SubmitFaultInjector?
    /// Whether this ring sends `MSG_RING` wakes (configuration: ``Runtime/Configuration``'s
    /// message-ring wakes; the executor asks ``deferWake(to:)``).
    let sendsMessageRingWakes: Bool
    /// The executor this backend serves (set once, before the thread starts).
    unowned(unsafe) var executor: RingExecutor! = nil

    @exclusivity(unchecked) var ring: Ring?
    /// Request kinds prepared in the SQ since the last successful enter (for ``SubmitSite``).
    @exclusivity(unchecked) var unsubmittedSites: SubmitSite = []

    // The backend's own requests (`IOURingReactor+InternalRequests.swift`).
    /// The wake-up read's SQE is in the ring (prepared or in the kernel).
    @exclusivity(unchecked) var wakeReadInRing = false
    /// The wake-up read must be (re-)armed.
    @exclusivity(unchecked) var wakeRearmWanted = false
    /// The wake read must be cancelled by its `user_data` (a kernel without cancel-any).
    @exclusivity(unchecked) var wakeCancelWanted = false
    /// Cancel and cancel-all requests in the kernel (the wake read is not counted).
    @exclusivity(unchecked) var internalInFlight = 0

    // Sibling wakes (`IOURingReactor+Wakes.swift`).
    /// Sibling rings whose wake this ring has claimed and must deliver with a `MSG_RING` at
    /// its next submit.
    @exclusivity(unchecked) var outgoingWakes: [RingExecutor] = []
    /// Siblings whose `MSG_RING` is in this ring's SQ, not yet consumed by the kernel (the ring
    /// does not stop before the kernel took them; if it breaks, they get an eventfd wake).
    @exclusivity(unchecked) var wakesInSubmissionQueue: [RingExecutor] = []
    /// Whether this ring ever sent a `MSG_RING` wake (then it wakes its running siblings once
    /// through their eventfds when it stops, in case the kernel still held one).
    @exclusivity(unchecked) var sentMessageWakes = false
    /// How the ring's number is kept taken when it closes (nil: it is closed as usual, and
    /// siblings do not wake this ring with `MSG_RING`).
    @exclusivity(unchecked) var descriptorReservation: DescriptorReservation?
    /// This ring's descriptor number, if it was handed over to the group's placeholder when the
    /// ring closed (the group closes it once every sibling has finished).
    @exclusivity(unchecked) var reservedDescriptor: Int32?

    init(index: Int, options: RingOptions, sendsMessageRingWakes: Bool, faults: SubmitFaultInjector?) {
        self.index = index
        self.options = options
        self.sendsMessageRingWakes = sendsMessageRingWakes
        self.faults = faults
    }

    func attach(_ executor: RingExecutor) {
        self.executor = executor
    }

    /// Creates the ring on this thread (it is the ring's only submitter for its whole life).
    func open() throws(RuntimeError) {
        do throws(RingError) {
            var ringOptions = options
            ringOptions.registerRingDescriptor = true  // this thread owns the ring for its whole life
            let r = try Ring(options: ringOptions, systemCalls: faults?.systemCalls(ring: index) ?? .kernel)
            guard r.features.contains(.extendedArgument) else {
                // Timers bound the ring's wait with io_uring_enter's timeout argument.
                throw RingError.unavailable(.noFunction, advice: Self.extendedArgumentAdvice)
            }
            ring = r
            executor.zeroCopySendSupported.store(r.supports(.sendZeroCopy), ordering: .releasing)
            if let placeholder = executor.group.placeholderIfOpen() {
                let reservation = DescriptorReservation(placeholder: FileDescriptor(rawValue: placeholder))
                r.descriptorReservation = reservation
                descriptorReservation = reservation
            }
            executor.ringDescriptor.store(r.descriptor.rawValue, ordering: .releasing)
            executor.acceptsMessageRingWakes.store(r.supports(.messageRing) && descriptorReservation != nil, ordering: .releasing)
            outgoingWakes.reserveCapacity(8)
            wakesInSubmissionQueue.reserveCapacity(8)
            executor.inFlightLimit = max(1, executor.inFlightLimitSetting ?? r.completionQueueCapacity)
        } catch {
            throw RuntimeError(error)
        }
        wakeRearmWanted = true
    }

    // MARK: Requests

    /// Prepares the request's SQE (and, with a timeout, its linked `LINK_TIMEOUT`, adjacent in
    /// the SQ); no room when the SQ is full even after flushing it, or the ring broke.
    func start(_ request: OperationRequest, userData: UInt64, timeout: LinkedTimeout?) -> ReactorStart {
        if timeout != nil && (ring?.freeSubmissionSlots ?? 0) < 2 {
            // The operation and its timeout must be adjacent in the SQ: make room for both.
            enter(.submissionQueueFull.union(request.site), wait: false, timeout: nil)
            if executor.lifecycle != .running || (ring?.freeSubmissionSlots ?? 0) < 2 { return .noRoom }
        }
        guard let sqe = nextSubmission(for: request.site) else { return .noRoom }
        request.prepare(sqe)
        sqe.userData = userData
        guard let timeout else { return .started }
        guard let linked = ring?.nextSubmission() else { return .startedNeedsTimer }
        // The time left now (the wait for admission used some): the kernel copies it when it
        // takes the entry.
        let spec = timeout.timespec.assumingMemoryBound(to: KernelTimespec.self)
        spec.pointee = KernelTimespec(timeout.deadline.instant - ContinuousClock.now)
        sqe.flags.insert(.link)
        linked.prepareLinkTimeout(spec)
        linked.userData = Self.linkTimeoutUserData
        return .started
    }

    /// A free SQ entry, flushing the SQ to the kernel once if it is full; nil if there is
    /// still no room (the kernel took nothing) or the ring is broken. `site` names what the
    /// entry will carry.
    func nextSubmission(for site: SubmitSite) -> SubmissionQueueEntry? {
        guard let ring, executor.lifecycle != .broken else { return nil }
        if let sqe = ring.nextSubmission() {
            unsubmittedSites.formUnion(site)
            return sqe
        }
        executor.statistics.submissionQueueFull += 1
        enter(.submissionQueueFull.union(site), wait: false, timeout: nil)
        guard executor.lifecycle != .broken, let sqe = self.ring?.nextSubmission() else { return nil }
        unsubmittedSites.formUnion(site)
        return sqe
    }

    // MARK: The kernel

    /// The runtime's only use of the ring's submit path (contract 4: `Ring.submit` owns the
    /// retry policy; this maps its outcome onto the runtime's state). An eager call's enter
    /// takes the deferred sibling wakes along.
    func enter(_ reason: SubmitSite, wait: Bool, timeout: Duration?) {
        if reason.contains(.eager) && !outgoingWakes.isEmpty { flushOutgoingWakes() }
        guard let ring, executor.lifecycle != .broken else { return }
        if let faults { faults.entering(reason.union(unsubmittedSites), ring: index) }
        do {
            try ring.submit(waitingFor: wait ? 1 : 0, timeout: timeout)
            if ring.pendingSubmissions == 0 {
                unsubmittedSites = []
                if !wakesInSubmissionQueue.isEmpty { releaseSubmittedWakes() }
            }
        } catch .broken(let errno) {
            executor.fail(brokenWith: errno)
        } catch {
            // `submissionStalled`: the kernel took nothing after 16 bounded waits; the ring is
            // healthy. Back off a millisecond (never a spin) and let the next pass retry.
            executor.statistics.stalls += 1
            ThreadCalls.pause(.milliseconds(1))
        }
    }

    /// Hands every CQE to `executor` (the runtime's own requests are handled here).
    func reapCompletions(into executor: RingExecutor) {
        guard let ring else { return }
        ring.reapCompletions { completion in
            if UInt32(truncatingIfNeeded: completion.userData >> 32) == OperationTable.internalGeneration {
                self.internalCompletion(completion)
            } else {
                executor.complete(completion)
            }
        }
    }

    var hasReadyCompletions: Bool { (ring?.readyCompletions ?? 0) > 0 }

    var needsPoll: Bool {
        guard let ring else { return false }
        return ring.pendingSubmissions > 0 || executor.table.inFlight > 0 || internalInFlight > 0 || ring.readyCompletions > 0
    }
}
