import CSpoolURing

/// A fixed-capacity FIFO of completions, allocated once.
@usableFromInline
struct Spill {
    @usableFromInline let storage: UnsafeMutablePointer<Completion>
    @usableFromInline let capacity: Int
    @usableFromInline var start = 0
    @usableFromInline var count = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage = .allocate(capacity: self.capacity)
    }

    @inlinable var isEmpty: Bool { count == 0 }
    @inlinable var isFull: Bool { count == capacity }

    mutating func append(_ c: Completion) {
        (storage + (start + count) % capacity).initialize(to: c)
        count += 1
    }

    @inlinable
    mutating func removeFirst() -> Completion {
        let c = (storage + start).move()
        start = (start + 1) % capacity
        count -= 1
        return c
    }

    func deallocate() { storage.deallocate() }
}
