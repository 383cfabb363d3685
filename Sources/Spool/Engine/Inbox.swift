import Synchronization

/// A lock-free multi-producer, single-consumer inbox.
///
/// Producers on any thread push with one compare-and-swap onto a Treiber stack; the single
/// consumer (the ring thread) takes the whole stack with one exchange and reverses it, so
/// items come out in FIFO order per producer. Each push allocates one node: this is the
/// cross-thread path, not the per-operation fast path.
///
/// Thread-safety: `push` from any thread; `takeAll` only from the consumer thread.
final class Inbox<Item: Sendable>: @unchecked Sendable {  // the Atomic top is the only shared state
    private struct Node {
        var next: UnsafeMutablePointer<Node>?
        var item: Item
    }

    private let top = Atomic<UnsafeMutablePointer<Node>?>(nil)

    init() {}

    deinit {
        var node = top.exchange(nil, ordering: .acquiring)
        while let n = node {
            node = n.pointee.next
            n.deinitialize(count: 1)
            n.deallocate()
        }
    }

    /// Pushes an item; returns `true` if the inbox was empty before (the 0→1 transition).
    @discardableResult
    func push(_ item: Item) -> Bool {
        let node = UnsafeMutablePointer<Node>.allocate(capacity: 1)
        node.initialize(to: Node(next: nil, item: item))
        var expected = top.load(ordering: .relaxed)
        while true {
            node.pointee.next = expected
            let (exchanged, original) = top.compareExchange(
                // Sequentially consistent: the ring arms its wake signal and then checks
                // `isEmpty`, while a producer pushes and then checks the signal (a store/load
                // handshake on both sides, which release/acquire alone does not order).
                expected: expected, desired: node, successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
            if exchanged { return original == nil }
            expected = original
        }
    }

    /// Whether anything is waiting (a hint: a push may land right after).
    var isEmpty: Bool { top.load(ordering: .sequentiallyConsistent) == nil }

    /// Takes every waiting item, oldest first, handing each to `body`. Returns how many.
    @discardableResult
    func takeAll(_ body: (Item) -> Void) -> Int {
        var node = top.exchange(nil, ordering: .acquiring)
        // Reverse the stack into FIFO order.
        var reversed: UnsafeMutablePointer<Node>? = nil
        while let n = node {
            node = n.pointee.next
            n.pointee.next = reversed
            reversed = n
        }
        var count = 0
        while let n = reversed {
            reversed = n.pointee.next
            let item = n.move().item
            n.deallocate()
            body(item)
            count += 1
        }
        return count
    }
}
