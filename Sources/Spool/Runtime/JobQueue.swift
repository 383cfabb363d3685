/// A growable FIFO ring buffer, used only by the thread that owns it (no locks).
///
/// Capacity doubles when full and is kept, so a steady state allocates nothing.
struct JobQueue<Element> {
    private var storage: UnsafeMutablePointer<Element?>
    private var capacity: Int
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = max(2, capacity)
        storage = .allocate(capacity: self.capacity)
        storage.initialize(repeating: nil, count: self.capacity)
    }

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == capacity { grow() }
        storage[(head + count) & (capacity - 1)] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let e = storage[head].take()
        head = (head + 1) & (capacity - 1)
        count -= 1
        return e
    }

    private mutating func grow() {
        var newCapacity = capacity * 2
        if newCapacity & (newCapacity - 1) != 0 { newCapacity = 1 << (Int.bitWidth - newCapacity.leadingZeroBitCount) }
        let fresh = UnsafeMutablePointer<Element?>.allocate(capacity: newCapacity)
        fresh.initialize(repeating: nil, count: newCapacity)
        for i in 0..<count { fresh[i] = storage[(head + i) & (capacity - 1)].take() }
        storage.deinitialize(count: capacity)
        storage.deallocate()
        storage = fresh
        capacity = newCapacity
        head = 0
    }

    /// Frees the storage; the queue must not be used afterwards.
    func destroy() {
        storage.deinitialize(count: capacity)
        storage.deallocate()
    }
}
