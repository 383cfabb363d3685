/// The `user_data` of requests waiting on one descriptor in one direction, oldest first: a FIFO
/// with O(1) appends and removals at the head.
///
/// **Thread-safety:** none; the ring thread's. **Lifetime:** a value.
struct WaiterQueue {
    private var items: [UInt64] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    var first: UInt64? { head < items.count ? items[head] : nil }
    /// Every entry, oldest first.
    var all: [UInt64] { Array(items[head...]) }

    mutating func append(_ userData: UInt64) { items.append(userData) }

    mutating func removeFirst() {
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: items.count <= 1024)
            head = 0
        } else if head >= 64 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        items.removeAll()
        head = 0
    }
}
