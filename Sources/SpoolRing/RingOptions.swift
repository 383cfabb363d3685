/// How to set up a ``Ring``. A plain value type: `Sendable`.
public struct RingOptions: Sendable, Hashable {
    /// Submission-queue entries; the kernel rounds up to a power of two. 1...32768.
    public var submissionEntries: UInt32
    /// Completion-queue entries, or `nil` for the kernel's default of twice the SQ size.
    /// Must be at least `submissionEntries`; at most 65536.
    public var completionEntries: UInt32?
    /// The setup flags to ask for. Flags the kernel rejects are dropped; see ``Ring/activeFlags``.
    public var flags: RingSetupFlags
    /// How long the SQ polling thread may idle before it sleeps, when
    /// ``RingSetupFlags/submissionQueuePolling`` is asked for.
    public var submissionPollIdle: Duration
    /// Register the ring's own descriptor so that every `io_uring_enter` skips the
    /// descriptor lookup (`IORING_REGISTER_RING_FDS`). Ignored where unsupported.
    ///
    /// The kernel keeps registered ring descriptors per *thread*, at most 16 of them, and the
    /// registration holds the ring open: only the creating thread can then enter the ring, and
    /// the ring must be dropped on that thread (its `deinit` unregisters it) or its memory stays
    /// pinned until the thread exits. Off by default; a runtime that owns a thread per ring
    /// turns it on.
    public var registerRingDescriptor: Bool

    /// Creates options; the defaults suit a ring owned by one thread.
    public init(
        submissionEntries: UInt32 = 256,
        completionEntries: UInt32? = nil,
        flags: RingSetupFlags = .recommended,
        submissionPollIdle: Duration = .milliseconds(100),
        registerRingDescriptor: Bool = false
    ) {
        self.submissionEntries = submissionEntries
        self.completionEntries = completionEntries
        self.flags = flags
        self.submissionPollIdle = submissionPollIdle
        self.registerRingDescriptor = registerRingDescriptor
    }

    /// The largest submission queue the kernel accepts.
    public static let maximumSubmissionEntries: UInt32 = 32768
    /// The largest completion queue the kernel accepts.
    public static let maximumCompletionEntries: UInt32 = 65536

    /// Checks the sizes and settings (the same checks ring setup makes), without a system call:
    /// a pure function of the value, callable from any thread.
    /// - Throws: ``RingError/invalidArgument(_:)`` naming the bad setting.
    public func validate() throws(RingError) {
        guard submissionEntries >= 1 else {
            throw .invalidArgument("submissionEntries must be at least 1 (got 0)")
        }
        guard submissionEntries <= Self.maximumSubmissionEntries else {
            throw .invalidArgument("submissionEntries must be at most \(Self.maximumSubmissionEntries) (got \(submissionEntries))")
        }
        if let cq = completionEntries {
            guard cq >= submissionEntries else {
                throw .invalidArgument("completionEntries (\(cq)) must be at least submissionEntries (\(submissionEntries))")
            }
            guard cq <= Self.maximumCompletionEntries else {
                throw .invalidArgument("completionEntries must be at most \(Self.maximumCompletionEntries) (got \(cq))")
            }
        }
        guard submissionPollIdle >= .zero else {
            throw .invalidArgument("submissionPollIdle must not be negative")
        }
    }
}
