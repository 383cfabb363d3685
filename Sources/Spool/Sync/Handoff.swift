/// Carries one `~Copyable` value into a task: filled once, emptied once (by ``take()``).
///
/// No lock: the slot is written before the task is created and read once, by that task; the
/// task's creation orders the two (the runtime's enqueue publishes what came before it). It
/// is one object per connection task, so a lock's 96 bytes count.
///
/// **Thread-safety:** `Sendable` for that one pattern: created by the spawning code, taken by
/// the one task it is handed to. **Lifetime:** the value it still holds (the task never ran)
/// is dropped with it.
@usableFromInline final class Handoff<Value: ~Copyable & Sendable>: @unchecked Sendable {
    private var slot: Value?

    @usableFromInline init(_ value: consuming Value) {
        slot = .some(value)
    }

    /// The value, the first time; nil after (only the task it was handed to calls this, once).
    @usableFromInline func take() -> Value? {
        slot.take()
    }
}
