internal import SpoolTimer

/// The parts of a slot beyond admission and submission: linked timeouts and wheel timers,
/// batches, consumers and zero-copy results. Split from `OperationTable.swift` to keep each
/// file readable; the same rules hold (ring thread only; every state change is a method).
extension OperationTable {
    // MARK: Consumers

    /// Makes slot `index` report to `consumer` instead of a continuation (a multishot request,
    /// an owned send).
    func setConsumer(_ index: Int32, _ consumer: any CompletionConsumer) {
        slots[Int(index)].consumer = consumer
    }

    /// The consumer of slot `index`, if it has one.
    func consumer(of index: Int32) -> (any CompletionConsumer)? { slots[Int(index)].consumer }

    /// Keeps a zero-copy send's first result until its notification arrives.
    func setFirstResult(_ index: Int32, _ result: Int32) { slots[Int(index)].firstResult = result }

    /// The zero-copy send's first result, if its first CQE arrived.
    func firstResult(of index: Int32) -> Int32? { slots[Int(index)].firstResult }

    // MARK: Timers

    /// Bounds slot `index`'s operation with the kernel timespec at `timespec` (the caller's).
    func setLinkTimeout(_ index: Int32, _ timespec: UnsafeMutableRawPointer?, deadline: ContinuousClock.Instant) {
        slots[Int(index)].linkTimeout = timespec
        slots[Int(index)].linkDeadline = StoredInstant(deadline)
    }

    /// When slot `index`'s linked timeout expires.
    func linkDeadline(of index: Int32) -> ContinuousClock.Instant { slots[Int(index)].linkDeadline.instant }

    /// The same deadline as stored (no clock arithmetic, no witness calls).
    func storedLinkDeadline(of index: Int32) -> StoredInstant { slots[Int(index)].linkDeadline }

    /// Slot `index` waits for admission under wheel timer `id` (its link deadline).
    func setWaitTimer(_ index: Int32, _ id: TimerID) {
        slots[Int(index)].timer = id
        slots[Int(index)].hasWaitTimer = true
    }

    /// Takes slot `index`'s admission-wait timer, if it has one.
    func takeWaitTimer(_ index: Int32) -> TimerID? {
        guard slots[Int(index)].hasWaitTimer else { return nil }
        slots[Int(index)].hasWaitTimer = false
        return slots[Int(index)].timer
    }

    /// The timespec bounding slot `index`'s operation, if any.
    func linkTimeout(of index: Int32) -> UnsafeMutableRawPointer? { slots[Int(index)].linkTimeout }

    /// Slot `index` sleeps on the wheel as timer `id`.
    func markTimed(_ index: Int32, timer id: TimerID) {
        slots[Int(index)].state = .timed
        slots[Int(index)].timer = id
    }

    /// The wheel timer of slot `index` (meaningful while it is `timed`).
    func timer(of index: Int32) -> TimerID { slots[Int(index)].timer }

    /// Slot `index`'s timer fired or was cancelled: back to `reserved`.
    func markTimerDone(_ index: Int32) {
        if slots[Int(index)].state == .timed { slots[Int(index)].state = .reserved }
    }

    // MARK: Batches

    /// Makes slot `parent` a batch parent expecting `parts` parts that report into `results`.
    func makeBatchParent(_ parent: Int32, parts: Int, results: UnsafeMutablePointer<Int32>) {
        let p = slots + Int(parent)
        p.pointee.state = .batchParent
        p.pointee.results = results
        p.pointee.remainingParts = Int32(parts)
        p.pointee.cancelledParts = 0
        p.pointee.unknownParts = 0
    }

    /// Links slot `part` as part number `number` of batch `parent`.
    func attachPart(_ part: Int32, to parent: Int32, number: Int) {
        let s = slots + Int(part)
        s.pointee.parent = parent
        s.pointee.partIndex = Int32(number)
        let first = slots[Int(parent)].firstPart
        s.pointee.nextSibling = first
        s.pointee.previousSibling = -1
        if first >= 0 { slots[Int(first)].previousSibling = part }
        slots[Int(parent)].firstPart = part
    }

    /// The parent of slot `index`, if it is part of a batch.
    func parent(of index: Int32) -> Int32? {
        let p = slots[Int(index)].parent
        return p >= 0 ? p : nil
    }

    /// The parts of batch `parent` that are still running.
    func parts(of parent: Int32) -> [Int32] {
        var out: [Int32] = []
        var cursor = slots[Int(parent)].firstPart
        while cursor >= 0 {
            out.append(cursor)
            cursor = slots[Int(cursor)].nextSibling
        }
        return out
    }

    /// Records part `part`'s result in its parent, unlinks and releases it, and returns the
    /// parent's outcome when this was its last part (the parent is then released too, and
    /// its continuation returned with it).
    func finishPart(
        _ part: Int32, result: Int32, cancelled: Bool, unknown: Bool = false
    ) -> (parent: Int32, partsCancelled: Int32, partsUnknown: Int32, cancelRequested: Bool,
          continuation: UnsafeContinuation<OperationOutcome, Never>?)? {
        let s = slots + Int(part)
        let parent = s.pointee.parent
        let p = slots + Int(parent)
        p.pointee.results?[Int(s.pointee.partIndex)] = result
        if cancelled { p.pointee.cancelledParts += 1 }
        if unknown { p.pointee.unknownParts += 1 }
        let previous = s.pointee.previousSibling, next = s.pointee.nextSibling
        if previous >= 0 { slots[Int(previous)].nextSibling = next } else { p.pointee.firstPart = next }
        if next >= 0 { slots[Int(next)].previousSibling = previous }
        release(part)  // may move the slab: index from here on, no pointers
        slots[Int(parent)].remainingParts -= 1
        guard slots[Int(parent)].remainingParts == 0 else { return nil }
        let outcome = (parent, slots[Int(parent)].cancelledParts, slots[Int(parent)].unknownParts,
                       slots[Int(parent)].cancelRequested, slots[Int(parent)].continuation)
        slots[Int(parent)].continuation = nil
        release(parent)
        return outcome
    }
}
