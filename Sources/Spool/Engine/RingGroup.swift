import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The rings of one runtime, as their siblings see them: which rings a ring may wake with
/// `MSG_RING`, and the descriptor numbers that must stay taken while a sibling may still name
/// them.
///
/// A ring wakes a parked sibling with an `IORING_OP_MSG_RING` naming the sibling's ring
/// descriptor, sent with its own next submit — possibly after the sibling has stopped. So a
/// stopping ring does not free its descriptor number: it hands it over to a placeholder
/// (`Ring.descriptorReservation`: a close-on-exec duplicate of `/dev/null`), and the group closes
/// the numbers once every ring of the group has finished — when no sibling can send any more.
/// A late `MSG_RING` meanwhile fails with `EBADFD` and its sender falls back to the eventfd.
///
/// **Thread-safety:** every member may be used from any thread. **Lifetime:** held by every
/// ring executor of the group (executors are never freed).
final class RingGroup: Sendable {
    /// The group's rings, by index (set once, before any ring takes work).
    let members = PosixLocked<[RingExecutor]>([])
    /// `/dev/null`, whose duplicates keep stopped rings' numbers taken; -1 if it could not be
    /// opened (then the group's rings wake each other with eventfds only).
    let placeholder: Int32
    /// Ring threads started and not yet finished, the numbers they left taken, and whether
    /// the placeholder is still open.
    private let state = PosixLocked<(running: Int, reserved: [Int32], placeholderOpen: Bool)>((0, [], true))

    init() {
        placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// The placeholder, while it is open (a ring starting takes it for its reservation); nil
    /// when there is none: the ring then does not accept `MSG_RING` wakes.
    func placeholderIfOpen() -> Int32? {
        state.withLock { s in s.placeholderOpen && placeholder >= 0 ? placeholder : nil }
    }

    /// The ring with `index`, if any.
    func member(_ index: Int) -> RingExecutor? {
        members.withLock { $0.indices.contains(index) ? $0[index] : nil }
    }

    /// A ring thread starts (or the runtime holds the group open while it starts them).
    func ringStarted() { state.withLock { $0.running += 1 } }

    /// A ring thread finished; `reserved` is its descriptor number, now a placeholder. The last
    /// ring to finish closes every reserved number (no sibling can send any more).
    func ringFinished(reserved: Int32?) {
        let close = state.withLock { s -> [Int32] in
            if let reserved { s.reserved.append(reserved) }
            s.running -= 1
            guard s.running == 0 else { return [] }
            var all = s.reserved
            s.reserved.removeAll()
            if s.placeholderOpen && placeholder >= 0 { all.append(placeholder) }
            s.placeholderOpen = false
            return all
        }
        for fd in close { _ = DescriptorCalls.close(fd) }
    }

    deinit {
        // Only a group whose rings never started (a runtime that failed early) gets here with
        // the placeholder open: executors, which hold their group, are never freed.
        if state.withLock({ $0.placeholderOpen }) && placeholder >= 0 { _ = DescriptorCalls.close(placeholder) }
    }
}
