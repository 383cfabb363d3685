import CSpoolURing

/// Per-entry flags (`IOSQE_*`). A plain value: `Sendable`.
public struct SubmissionFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `fd` is an index into the registered file table (`IOSQE_FIXED_FILE`).
    public static let fixedFile = SubmissionFlags(rawValue: UInt8(IOSQE_FIXED_FILE))
    /// Start only after every earlier entry has completed (`IOSQE_IO_DRAIN`).
    public static let drain = SubmissionFlags(rawValue: UInt8(IOSQE_IO_DRAIN))
    /// The next entry starts only after this one succeeds (`IOSQE_IO_LINK`).
    public static let link = SubmissionFlags(rawValue: UInt8(IOSQE_IO_LINK))
    /// Like ``link``, but the chain continues even if this entry fails (`IOSQE_IO_HARDLINK`).
    public static let hardLink = SubmissionFlags(rawValue: UInt8(IOSQE_IO_HARDLINK))
    /// Always hand the request to a kernel worker (`IOSQE_ASYNC`).
    public static let forceAsync = SubmissionFlags(rawValue: UInt8(IOSQE_ASYNC))
    /// Let the kernel pick a buffer from the entry's buffer group (`IOSQE_BUFFER_SELECT`).
    public static let bufferSelect = SubmissionFlags(rawValue: UInt8(IOSQE_BUFFER_SELECT))
    /// Post no completion if the request succeeds (`IOSQE_CQE_SKIP_SUCCESS`).
    public static let skipSuccessfulCompletion = SubmissionFlags(rawValue: UInt8(IOSQE_CQE_SKIP_SUCCESS))
}
