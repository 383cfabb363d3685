/// Which ring of a runtime a task started with ``Runtime/spawn(on:_:)`` runs on. A plain value:
/// `Sendable`.
///
/// A task stays on its ring: its I/O completes and resumes it there, with no thread hop, and
/// the tasks it starts with `async let` or a task group inherit the ring.
public enum RingPlacement: Sendable, Hashable, CustomStringConvertible {
    /// The next running ring, round robin (the default): spreads independent tasks.
    case next
    /// The ring running the calling code, if it is one of this runtime's running rings;
    /// otherwise ``next``. Keeps related work (a connection's helpers) on one ring.
    case current
    /// The ring with this index (`0 ..< runtime.ringCount`). An index out of range, or a ring
    /// that stopped or broke, makes the task throw (``RuntimeError/invalidArgument(_:)``,
    /// ``RuntimeError/shutdown``, ``RuntimeError/broken(_:)``) without running its body.
    case ring(Int)

    public var description: String {
        switch self {
        case .next: return "next"
        case .current: return "current"
        case .ring(let i): return "ring \(i)"
        }
    }
}
