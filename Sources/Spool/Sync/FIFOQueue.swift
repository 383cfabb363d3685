/// Spool's one FIFO: a growable ring buffer owned by one thread (or used under its owner's
/// lock). The executor's jobs and cancels, the portable backend's completions and per-descriptor
/// waiters, owned sends, multishot events, blocking jobs and ``WaiterList``'s waiters all queue
/// in one.
///
/// Appends and removals at the head are O(1); capacity doubles when full and is kept while in
/// use, so a steady state allocates nothing; ``shrinkIfEmpty()`` gives a burst's memory back once
/// the queue has drained (a queue that drains often, like the executor's jobs, calls it itself).
///
/// Its sizes are 32-bit (24 bytes inline, not 40: queues sit in every descriptor's
/// registration and every connection's feed); more than 2³¹ elements trap.
///
/// **Thread-safety:** none; one owner thread, or its owner's lock. **Lifetime:** `~Copyable`:
/// the storage is freed with the queue.
struct FIFOQueue<Element>: ~Copyable {
    private var storage: UnsafeMutablePointer<Element?>
    private var storedCapacity: UInt32
    private let initialCapacity: UInt32
    private var storedHead: UInt32 = 0
    private var storedCount: UInt32 = 0

    /// Elements the storage has room for (a power of two, or 0 before the first append).
    var capacity: Int { Int(storedCapacity) }
    var count: Int { Int(storedCount) }
    private var head: Int {
        get { Int(storedHead) }
        set { storedHead = UInt32(truncatingIfNeeded: newValue) }
    }

    /// A queue with room for `capacity` elements (rounded up to a power of two); 0 allocates
    /// nothing until the first append (a queue per descriptor or per connection that is
    /// usually empty costs no memory).
    init(capacity: Int = 0) {
        guard capacity > 0 else {
            storedCapacity = 0
            initialCapacity = 0
            storage = Self.unallocated
            return
        }
        var c = 2
        while c < capacity { c <<= 1 }
        storedCapacity = UInt32(c)
        initialCapacity = UInt32(c)
        storage = .allocate(capacity: c)
        storage.initialize(repeating: nil, count: c)
    }

    /// The storage of a queue that never had room (never read or written: `capacity` is 0).
    private static var unallocated: UnsafeMutablePointer<Element?> { UnsafeMutablePointer(bitPattern: MemoryLayout<Element?>.alignment)! }

    deinit {
        guard capacity > 0 else { return }
        storage.deinitialize(count: capacity)
        storage.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// The oldest element, without removing it.
    var first: Element? { count > 0 ? storage[head] : nil }

    /// Every element, oldest first (a copy).
    var elements: [Element] {
        var all: [Element] = []
        all.reserveCapacity(count)
        for i in 0..<count { all.append(storage[(head + i) & (capacity - 1)]!) }
        return all
    }

    mutating func append(_ element: Element) {
        if count == capacity { resize(to: max(capacity * 2, 2)) }
        storage[(head + count) & (capacity - 1)] = element
        storedCount += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let e = storage[head].take()
        head = (head + 1) & (capacity - 1)
        storedCount -= 1
        return e
    }

    /// Changes the oldest element in place (nothing if the queue is empty).
    mutating func updateFirst(_ body: (inout Element) -> Void) {
        guard count > 0 else { return }
        body(&storage[head]!)
    }

    /// Removes and returns the oldest element `predicate` matches, keeping the order of the
    /// rest. O(n): for rare removals from the middle (a cancelled waiter).
    @discardableResult
    mutating func removeFirst(where predicate: (Element) -> Bool) -> Element? {
        for i in 0..<count where predicate(storage[(head + i) & (capacity - 1)]!) {
            let removed = storage[(head + i) & (capacity - 1)].take()
            // Close the gap: move the later elements one place towards the head.
            for j in i..<(count - 1) {
                storage[(head + j) & (capacity - 1)] = storage[(head + j + 1) & (capacity - 1)].take()
            }
            storedCount -= 1
            return removed
        }
        return nil
    }

    /// Takes every element after the oldest `keeping` ones out of the queue, oldest first.
    mutating func removeAll(keepingFirst keeping: Int = 0) -> [Element] {
        var taken: [Element] = []
        let kept = min(max(keeping, 0), count)
        taken.reserveCapacity(count - kept)
        for i in kept..<count { taken.append(storage[(head + i) & (capacity - 1)].take()!) }
        storedCount = UInt32(kept)
        shrinkIfEmpty()
        return taken
    }

    /// Back to the initial capacity when empty and grown past four times it.
    mutating func shrinkIfEmpty() {
        if count == 0 && capacity > max(Int(initialCapacity), 16) * 4 { resize(to: Int(initialCapacity)) }
    }

    private mutating func resize(to newCapacity: Int) {
        guard newCapacity > 0 else {
            // Back to no storage at all (a lazily allocated queue that drained after a burst).
            if capacity > 0 {
                storage.deinitialize(count: capacity)
                storage.deallocate()
            }
            storage = Self.unallocated
            storedCapacity = 0
            head = 0
            return
        }
        let fresh = UnsafeMutablePointer<Element?>.allocate(capacity: newCapacity)
        fresh.initialize(repeating: nil, count: newCapacity)
        for i in 0..<count { fresh[i] = storage[(head + i) & (capacity - 1)].take() }
        if capacity > 0 {
            storage.deinitialize(count: capacity)
            storage.deallocate()
        }
        storage = fresh
        storedCapacity = UInt32(newCapacity)
        head = 0
    }
}
