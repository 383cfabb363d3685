import Synchronization

/// Carries one `~Copyable` value into a task: filled once, emptied once (by ``take()``).
///
/// **Thread-safety:** `Sendable`; a `Mutex` guards the slot. **Lifetime:** the value it still
/// holds (the task never ran) is dropped with it.
final class Handoff<Value: ~Copyable & Sendable>: Sendable {
    private let slot: Mutex<Value?>

    init(_ value: consuming Value) {
        slot = Mutex(.some(value))
    }

    /// The value; called exactly once, by the task it was handed to.
    func take() -> Value {
        guard let value = slot.withLock({ $0.take() }) else {
            preconditionFailure("Handoff.take() called twice")  // internal misuse only: one task, one call
        }
        return value
    }
}
