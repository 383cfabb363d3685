extension Array {
    /// For a FIFO kept as an array and a read index `head`: drops the consumed front
    /// (`0..<head`) once it is everything (keeping a small buffer's capacity) or at least 32
    /// elements and half of the array, and resets `head`. So the array holds only what is
    /// still queued, and the cost of dropping is amortised over the pops.
    ///
    /// **Thread-safety:** as the array's owner.
    mutating func dropConsumedFront(_ head: inout Int) {
        if head == count {
            removeAll(keepingCapacity: capacity <= 64)
            head = 0
        } else if head >= 32 && head * 2 >= count {
            removeFirst(head)
            head = 0
        }
    }
}
