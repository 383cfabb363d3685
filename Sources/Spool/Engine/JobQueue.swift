/// A growable FIFO ring buffer, used only by the thread that owns it (no locks).
///
/// Capacity doubles when full and is kept while in use, so a steady state allocates
/// nothing; ``shrinkIfEmpty()`` gives a burst's memory back once the queue has drained.
///
/// **Thread-safety:** none; one owner thread. **Lifetime:** call ``destroy()`` once.
struct JobQueue<Element> {
    private var storage: UnsafeMutablePointer<Element?>
    private(set) var capacity: Int
    private let initialCapacity: Int
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 64) {
        var c = 2
        while c < capacity { c <<= 1 }
        self.capacity = c
        initialCapacity = c
        storage = .allocate(capacity: c)
        storage.initialize(repeating: nil, count: c)
    }

    var isEmpty: Bool { count == 0 }

    /// The oldest element, without removing it.
    var first: Element? { count > 0 ? storage[head] : nil }

    mutating func append(_ element: Element) {
        if count == capacity { resize(to: capacity * 2) }
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

    /// Back to the initial capacity when empty and grown past four times it.
    mutating func shrinkIfEmpty() {
        if count == 0 && capacity > initialCapacity * 4 { resize(to: initialCapacity) }
    }

    private mutating func resize(to newCapacity: Int) {
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
