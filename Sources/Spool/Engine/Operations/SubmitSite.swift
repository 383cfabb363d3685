/// Why the runtime is entering the kernel, and what the entries it hands over carry.
///
/// Every `io_uring_enter` the runtime makes goes through one function
/// per backend (`IOURingReactor.enter(_:wait:timeout:)`; the portable one waits in
/// `PortableReactor.enter(_:wait:timeout:)`), which tags it with the reason for entering
/// (``park``, ``poll``, ``eager`` or ``submissionQueueFull``) plus the kinds of request among the
/// entries it submits. The fault-injection suite uses the tag to fail the enter of one
/// particular site; nothing else reads it.
///
/// A plain value: `Sendable`.
struct SubmitSite: OptionSet, Sendable, Hashable, CustomStringConvertible {
    let rawValue: UInt16

    /// The loop blocks for a completion (no job is ready).
    static let park = SubmitSite(rawValue: 1 << 0)
    /// The loop passes its work to the kernel without blocking (jobs still ready).
    static let poll = SubmitSite(rawValue: 1 << 1)
    /// A call submitted at once, its caller not yet suspended (the eager path).
    static let eager = SubmitSite(rawValue: 1 << 8)
    /// The SQ was full: flush it to make room for the next entry.
    static let submissionQueueFull = SubmitSite(rawValue: 1 << 2)
    /// A user operation's entry.
    static let operation = SubmitSite(rawValue: 1 << 3)
    /// A close's entry.
    static let close = SubmitSite(rawValue: 1 << 4)
    /// An `ASYNC_CANCEL` for one operation.
    static let cancel = SubmitSite(rawValue: 1 << 5)
    /// Shutdown's cancel-everything entry.
    static let cancelAll = SubmitSite(rawValue: 1 << 6)
    /// The re-armed read of the wake-up eventfd.
    static let wakeRearm = SubmitSite(rawValue: 1 << 7)
    /// A `MSG_RING` waking a sibling ring.
    static let siblingWake = SubmitSite(rawValue: 1 << 9)

    static let names: [(SubmitSite, String)] = [
        (.park, "park"), (.poll, "poll"), (.eager, "eager"), (.submissionQueueFull, "sq-full flush"), (.operation, "operation"),
        (.close, "close"), (.cancel, "cancel"), (.cancelAll, "cancel-all"), (.wakeRearm, "wake re-arm"),
        (.siblingWake, "sibling wake"),
    ]

    var description: String {
        Self.names.filter { contains($0.0) }.map(\.1).joined(separator: "+")
    }
}
