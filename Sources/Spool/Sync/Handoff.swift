

/// Carries one `~Copyable` value into a task: filled once, emptied once (by ``take()``).
///
/// **Thread-safety:** `Sendable`; a lock guards the slot. **Lifetime:** the value it still
/// holds (the task never ran) is dropped with it.
final class Handoff<Value: ~Copyable & Sendable>: Sendable {
    private let slot: PosixLocked<Value?>

    init(_ value: consuming Value) {
        slot = PosixLocked(.some(value))
    }

    /// The value, the first time; nil after (only the task it was handed to calls this, once).
    func take() -> Value? {
        slot.withLock { $0.take() }
    }
}
