/// A `ContinuousClock` instant kept as a `Duration` since a process-wide reference.
///
/// `ContinuousClock.Instant` is not `@frozen`, so any type that holds one has no fixed layout
/// outside the standard library: every copy of it goes through runtime witness calls. The
/// operation table's slots and ``OperationRequest`` hold this instead (`Duration` is frozen),
/// which keeps the per-operation path free of those calls.
///
/// A plain value: `Sendable`.
package struct StoredInstant: Sendable, Equatable {
    /// The reference every stored instant is measured from (taken once, on first use).
    private static let reference = ContinuousClock.now

    /// Time since ``reference`` (negative for instants before it).
    private let sinceReference: Duration

    /// The reference instant itself (a placeholder that reads no clock).
    init() {
        sinceReference = .zero
    }

    package init(_ instant: ContinuousClock.Instant) {
        sinceReference = instant - Self.reference
    }

    /// The instant this value stands for.
    package var instant: ContinuousClock.Instant { Self.reference.advanced(by: sinceReference) }
}
