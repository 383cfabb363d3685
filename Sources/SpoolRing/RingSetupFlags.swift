import CSpoolURing

/// Flags for `io_uring_setup` that Spool knows how to use.
///
/// ``Ring`` drops a flag the kernel rejects and retries, then reports what is in effect
/// in ``Ring/activeFlags``. A plain value type: `Sendable`.
public struct RingSetupFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Busy-poll block devices for completions (`IORING_SETUP_IOPOLL`); only for `O_DIRECT` I/O.
    public static let ioPoll = RingSetupFlags(rawValue: IORING_SETUP_IOPOLL)
    /// A kernel thread polls the submission queue (`IORING_SETUP_SQPOLL`).
    public static let submissionQueuePolling = RingSetupFlags(rawValue: IORING_SETUP_SQPOLL)
    /// The completion queue size was chosen by the caller (`IORING_SETUP_CQSIZE`).
    public static let completionQueueSize = RingSetupFlags(rawValue: IORING_SETUP_CQSIZE)
    /// Clamp oversized rings to the kernel's maximum instead of failing (`IORING_SETUP_CLAMP`).
    public static let clamp = RingSetupFlags(rawValue: IORING_SETUP_CLAMP)
    /// Keep submitting a batch after one entry fails (`IORING_SETUP_SUBMIT_ALL`).
    public static let submitAll = RingSetupFlags(rawValue: IORING_SETUP_SUBMIT_ALL)
    /// Do not interrupt the task to run completion work (`IORING_SETUP_COOP_TASKRUN`).
    public static let cooperativeTaskRun = RingSetupFlags(rawValue: IORING_SETUP_COOP_TASKRUN)
    /// Only one thread ever submits (`IORING_SETUP_SINGLE_ISSUER`).
    public static let singleIssuer = RingSetupFlags(rawValue: IORING_SETUP_SINGLE_ISSUER)
    /// Run completion work only when the owner enters to wait (`IORING_SETUP_DEFER_TASKRUN`).
    public static let deferTaskRun = RingSetupFlags(rawValue: IORING_SETUP_DEFER_TASKRUN)

    /// What Spool asks for by default: one owner thread, deferred and cooperative
    /// task work, and whole batches submitted.
    public static let recommended: RingSetupFlags = [.singleIssuer, .deferTaskRun, .cooperativeTaskRun, .submitAll]

    /// The order in which a rejected flag set is thinned out, least essential first.
    static let dropOrder: [RingSetupFlags] = [
        .deferTaskRun, .submissionQueuePolling, .singleIssuer, .cooperativeTaskRun, .submitAll, .clamp, .ioPoll,
    ]

    static let names: [(RingSetupFlags, String)] = [
        (.ioPoll, "IOPOLL"), (.submissionQueuePolling, "SQPOLL"), (.completionQueueSize, "CQSIZE"),
        (.clamp, "CLAMP"), (.submitAll, "SUBMIT_ALL"), (.cooperativeTaskRun, "COOP_TASKRUN"),
        (.singleIssuer, "SINGLE_ISSUER"), (.deferTaskRun, "DEFER_TASKRUN"),
    ]

    /// The kernel names of the flags, joined by `|` (`"CQSIZE|SUBMIT_ALL"`), or `"none"`.
    public var description: String {
        let parts = Self.names.filter { contains($0.0) }.map(\.1)
        return parts.isEmpty ? "none" : parts.joined(separator: "|")
    }
}

/// Features the kernel reported at setup (`spool_uring_params.features`). `Sendable`.
public struct RingFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let singleMmap = RingFeatures(rawValue: IORING_FEAT_SINGLE_MMAP)
    /// Completions are never dropped when the CQ is full: they wait in a backlog.
    public static let noDrop = RingFeatures(rawValue: IORING_FEAT_NODROP)
    public static let submitStable = RingFeatures(rawValue: IORING_FEAT_SUBMIT_STABLE)
    /// Offset -1 means "the current file position".
    public static let readWriteCurrentPosition = RingFeatures(rawValue: IORING_FEAT_RW_CUR_POS)
    public static let currentPersonality = RingFeatures(rawValue: IORING_FEAT_CUR_PERSONALITY)
    public static let fastPoll = RingFeatures(rawValue: IORING_FEAT_FAST_POLL)
    public static let poll32Bits = RingFeatures(rawValue: IORING_FEAT_POLL_32BITS)
    public static let sqPollNonFixed = RingFeatures(rawValue: IORING_FEAT_SQPOLL_NONFIXED)
    /// `io_uring_enter` takes a timeout argument (`IORING_ENTER_EXT_ARG`).
    public static let extendedArgument = RingFeatures(rawValue: IORING_FEAT_EXT_ARG)
    public static let nativeWorkers = RingFeatures(rawValue: IORING_FEAT_NATIVE_WORKERS)
    public static let resourceTags = RingFeatures(rawValue: IORING_FEAT_RSRC_TAGS)
    /// `IOSQE_CQE_SKIP_SUCCESS` is honoured.
    public static let skipSuccessfulCompletions = RingFeatures(rawValue: IORING_FEAT_CQE_SKIP)
    public static let linkedFile = RingFeatures(rawValue: IORING_FEAT_LINKED_FILE)
    /// `io_uring_register` accepts a registered ring index.
    public static let registeredRingRegister = RingFeatures(rawValue: IORING_FEAT_REG_REG_RING)
    public static let sendReceiveBundle = RingFeatures(rawValue: IORING_FEAT_RECVSEND_BUNDLE)
    public static let minimumTimeout = RingFeatures(rawValue: IORING_FEAT_MIN_TIMEOUT)
    public static let readWriteAttributes = RingFeatures(rawValue: IORING_FEAT_RW_ATTR)
    public static let noIOWait = RingFeatures(rawValue: IORING_FEAT_NO_IOWAIT)

    static let names: [(RingFeatures, String)] = [
        (.singleMmap, "SINGLE_MMAP"), (.noDrop, "NODROP"), (.submitStable, "SUBMIT_STABLE"),
        (.readWriteCurrentPosition, "RW_CUR_POS"), (.currentPersonality, "CUR_PERSONALITY"),
        (.fastPoll, "FAST_POLL"), (.poll32Bits, "POLL_32BITS"), (.sqPollNonFixed, "SQPOLL_NONFIXED"),
        (.extendedArgument, "EXT_ARG"), (.nativeWorkers, "NATIVE_WORKERS"), (.resourceTags, "RSRC_TAGS"),
        (.skipSuccessfulCompletions, "CQE_SKIP"), (.linkedFile, "LINKED_FILE"),
        (.registeredRingRegister, "REG_REG_RING"), (.sendReceiveBundle, "RECVSEND_BUNDLE"),
        (.minimumTimeout, "MIN_TIMEOUT"), (.readWriteAttributes, "RW_ATTR"), (.noIOWait, "NO_IOWAIT"),
    ]

    /// The kernel names of the features, joined by `|`, or `"none"`.
    public var description: String {
        let parts = Self.names.filter { contains($0.0) }.map(\.1)
        return parts.isEmpty ? "none" : parts.joined(separator: "|")
    }
}
