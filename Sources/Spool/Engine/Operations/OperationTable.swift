internal import SpoolTimer

/// A ring's operations, in flight or waiting: a slab of reusable slots addressed by
/// `user_data` = generation << 32 | slot index, so a late completion for a recycled slot is
/// recognised (its generation no longer matches) and ignored.
///
/// Every change of an operation's state is a method here: allocation, joining and leaving
/// the admission queue, submission, completion, batch membership and release. The
/// executor never edits slots by pointer.
///
/// **Admission queue.** Operations that wait for admission (in-flight cap reached, or no
/// SQ space) form a FIFO linked through their slots: joining, leaving (a cancelled waiter)
/// and taking the oldest are O(1), and a slot's place in the queue dies with the slot, so a
/// recycled slot can never be admitted out of turn.
///
/// **Memory.** The slab doubles when every slot is taken, so a steady state allocates
/// nothing. After a burst it gives memory back: free slots are handed out from the lower
/// half first, and when the upper half is empty and at most a quarter of the slots are used,
/// the slab halves (down to its initial size). Generations of discarded slots are carried
/// over, so a recycled `user_data` never matches an older operation. Slots are addressed by
/// index (the kernel holds their `user_data`), so one long-lived operation in the upper half
/// keeps the slab at that size until it ends.
///
/// **Thread-safety:** none; used only on the ring's thread.
final class OperationTable {
    /// One operation's state.
    struct Slot {
        enum State: UInt8 {
            /// Not in use.
            case free
            /// Allocated; the caller is about to suspend.
            case reserved
            /// In the admission queue (in-flight cap reached or SQ full).
            case waiting
            /// Its SQE is in the ring; the final CQE has not arrived.
            case submitted
            /// A batch parent: its parts carry the SQEs.
            case batchParent
            /// A sleep armed on the ring's timing wheel (`timer` names it there).
            case timed
        }
        var generation: UInt32 = 0
        var state: State = .free
        var cancelRequested = false
        var request: OperationRequest = .nop
        var continuation: UnsafeContinuation<OperationOutcome, Never>? = nil
        /// Free list, or the admission queue while waiting.
        var next: Int32 = -1
        var previous: Int32 = -1
        // Batches: parts point at their parent; the parent links its parts (doubly).
        var parent: Int32 = -1
        var partIndex: Int32 = 0
        var nextSibling: Int32 = -1
        var previousSibling: Int32 = -1
        var firstPart: Int32 = -1
        var remainingParts: Int32 = 0
        var cancelledParts: Int32 = 0
        /// Parts whose effect is unknown (in the kernel when the ring broke).
        var unknownParts: Int32 = 0
        var results: UnsafeMutablePointer<Int32>? = nil
        /// The wheel timer of a `timed` slot.
        var timer = TimerID(index: 0, generation: 0)
        /// A `__kernel_timespec` (in the caller's memory) bounding this operation with a
        /// linked `LINK_TIMEOUT`, or nil.
        var linkTimeout: UnsafeMutableRawPointer? = nil
        /// When the linked timeout expires (it also bounds the wait for admission).
        var linkDeadline = StoredInstant()
        /// A wheel timer bounding the wait for admission (`timer` names it).
        var hasWaitTimer = false
        /// The consumer of an operation without a suspended caller (a multishot request, an
        /// owned send), instead of a continuation: it gets every CQE.
        var consumer: (any CompletionConsumer)? = nil
        /// A zero-copy send's result, kept from its first CQE until the notification.
        var firstResult: Int32? = nil
    }

    /// Generation reserved for the runtime's own requests (wake-up read, cancellations).
    static let internalGeneration: UInt32 = .max

    @exclusivity(unchecked) private(set) var slots: UnsafeMutablePointer<Slot>
    @exclusivity(unchecked) private(set) var capacity: Int
    let minimumCapacity: Int
    /// Free slots below `capacity / 2` and at or above it: the lower half is used first.
    @exclusivity(unchecked) private var lowerFree: Int32 = -1
    @exclusivity(unchecked) private var upperFree: Int32 = -1
    /// Used slots at or above `capacity / 2`.
    @exclusivity(unchecked) private var upperUsed = 0
    /// The generation new slots start at (above every generation a discarded slot had).
    @exclusivity(unchecked) private var generationFloor: UInt32 = 0
    /// Operations whose SQE is in the kernel's hands.
    @exclusivity(unchecked) private(set) var inFlight = 0
    /// Of those, the ones that count against the in-flight cap (all but requests that wait on
    /// a peer: ``OperationRequest/waitsOnPeer``).
    @exclusivity(unchecked) private(set) var cappedInFlight = 0
    /// The most operations ever in the kernel's hands at once (diagnostics).
    @exclusivity(unchecked) private(set) var peakInFlight = 0
    /// The largest the slab has been (diagnostics).
    @exclusivity(unchecked) private(set) var peakCapacity = 0
    /// How many slots are in use (any state but free).
    @exclusivity(unchecked) private(set) var used = 0
    /// The admission queue: oldest at `waitingHead`.
    @exclusivity(unchecked) private var waitingHead: Int32 = -1
    @exclusivity(unchecked) private var waitingTail: Int32 = -1
    @exclusivity(unchecked) private(set) var waitingCount = 0

    init(initialCapacity: Int = 64) {
        minimumCapacity = max(2, initialCapacity)
        capacity = minimumCapacity
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(), count: capacity)
        rebuildFreeLists()
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Bytes the slab occupies (diagnostics: memory returns to this baseline after a burst).
    var slabBytes: Int { capacity * MemoryLayout<Slot>.stride }

    // MARK: Allocation

    /// Takes a free slot for `request` (state `reserved`); grows the slab if none is free.
    func allocate(_ request: OperationRequest) -> Int32 {
        if lowerFree < 0 && upperFree < 0 { grow() }
        let index: Int32
        if lowerFree >= 0 {
            index = lowerFree
            lowerFree = slots[Int(index)].next
        } else {
            index = upperFree
            upperFree = slots[Int(index)].next
            upperUsed += 1
        }
        let s = slots + Int(index)
        s.pointee.state = .reserved
        s.pointee.request = request
        s.pointee.cancelRequested = false
        s.pointee.continuation = nil
        s.pointee.next = -1
        s.pointee.previous = -1
        s.pointee.parent = -1
        s.pointee.nextSibling = -1
        s.pointee.previousSibling = -1
        s.pointee.firstPart = -1
        s.pointee.results = nil
        s.pointee.linkTimeout = nil
        s.pointee.hasWaitTimer = false
        s.pointee.consumer = nil
        s.pointee.firstResult = nil
        used += 1
        return index
    }

    /// Returns a slot to the free list and bumps its generation; may shrink the slab.
    /// The slot must not be waiting or in flight.
    func release(_ index: Int32) {
        let s = slots + Int(index)
        s.pointee.state = .free
        s.pointee.continuation = nil
        s.pointee.consumer = nil
        s.pointee.request = .nop
        s.pointee.generation = Self.nextGeneration(after: s.pointee.generation)
        used -= 1
        if Int(index) >= capacity / 2 {
            upperUsed -= 1
            s.pointee.next = upperFree
            upperFree = index
        } else {
            s.pointee.next = lowerFree
            lowerFree = index
        }
        if upperUsed == 0 && capacity > minimumCapacity && used <= capacity / 4 { shrink() }
    }

    /// The `user_data` that names slot `index` in its current generation.
    func userData(_ index: Int32) -> UInt64 {
        UInt64(slots[Int(index)].generation) << 32 | UInt64(UInt32(bitPattern: index))
    }

    /// The slot named by `userData`, if it is still the same operation.
    func slot(for userData: UInt64) -> Int32? {
        let index = Int(UInt32(truncatingIfNeeded: userData))
        let generation = UInt32(truncatingIfNeeded: userData >> 32)
        guard index < capacity, slots[index].generation == generation, slots[index].state != .free else { return nil }
        return Int32(index)
    }

    /// The state of slot `index`.
    func state(_ index: Int32) -> Slot.State { slots[Int(index)].state }

    /// The request slot `index` carries.
    func request(_ index: Int32) -> OperationRequest { slots[Int(index)].request }

    /// Whether cancellation was requested for slot `index`.
    func isCancelRequested(_ index: Int32) -> Bool { slots[Int(index)].cancelRequested }

    /// Marks cancellation requested; returns false if it already was.
    func requestCancel(_ index: Int32) -> Bool {
        if slots[Int(index)].cancelRequested { return false }
        slots[Int(index)].cancelRequested = true
        return true
    }

    /// Stores the suspended caller of slot `index`.
    func setContinuation(_ index: Int32, _ continuation: UnsafeContinuation<OperationOutcome, Never>) {
        slots[Int(index)].continuation = continuation
    }

    /// Takes the caller's continuation out of slot `index` (nil if there is none).
    func takeContinuation(_ index: Int32) -> UnsafeContinuation<OperationOutcome, Never>? {
        let c = slots[Int(index)].continuation
        slots[Int(index)].continuation = nil
        return c
    }

    // MARK: Admission queue

    /// The oldest waiting slot.
    var firstWaiting: Int32? { waitingHead >= 0 ? waitingHead : nil }

    /// The waiting operation after `index` in the admission queue, if any.
    func waiting(after index: Int32) -> Int32? {
        let next = slots[Int(index)].next
        return next >= 0 ? next : nil
    }

    /// Waiting operations that wait on a peer (they may pass capped ones when the cap is full).
    @exclusivity(unchecked) private(set) var waitingOnPeer = 0

    /// Puts slot `index` at the end of the admission queue.
    func enqueueWaiting(_ index: Int32) {
        let s = slots + Int(index)
        s.pointee.state = .waiting
        s.pointee.next = -1
        s.pointee.previous = waitingTail
        if waitingTail >= 0 { slots[Int(waitingTail)].next = index } else { waitingHead = index }
        waitingTail = index
        waitingCount += 1
        if slots[Int(index)].request.waitsOnPeer { waitingOnPeer += 1 }
    }

    /// Takes slot `index` out of the admission queue (state back to `reserved`).
    func removeWaiting(_ index: Int32) {
        let s = slots + Int(index)
        guard s.pointee.state == .waiting else { return }
        let previous = s.pointee.previous, next = s.pointee.next
        if previous >= 0 { slots[Int(previous)].next = next } else { waitingHead = next }
        if next >= 0 { slots[Int(next)].previous = previous } else { waitingTail = previous }
        s.pointee.next = -1
        s.pointee.previous = -1
        s.pointee.state = .reserved
        waitingCount -= 1
        if s.pointee.request.waitsOnPeer { waitingOnPeer -= 1 }
    }

    // MARK: Kernel hand-off

    /// Slot `index` has its SQE in the ring (leaves the admission queue if it was in it).
    func markSubmitted(_ index: Int32) {
        removeWaiting(index)
        slots[Int(index)].state = .submitted
        inFlight += weight(index)
        if !slots[Int(index)].request.waitsOnPeer { cappedInFlight += weight(index) }
        if inFlight > peakInFlight { peakInFlight = inFlight }
    }

    /// Slot `index`'s final completion arrived (or the kernel let go of it): back to `reserved`.
    func markCompleted(_ index: Int32) {
        guard slots[Int(index)].state == .submitted else { return }
        slots[Int(index)].state = .reserved
        inFlight -= weight(index)
        if !slots[Int(index)].request.waitsOnPeer { cappedInFlight -= weight(index) }
    }

    /// Gives up on slot `index` for good: its caller is never resumed and the slot is never
    /// reused (a broken ring whose release the kernel did not confirm; contract 1 wins).
    /// A multishot consumer stays referenced (with the buffers it keeps alive).
    func abandon(_ index: Int32) {
        slots[Int(index)].continuation = nil
        slots[Int(index)].state = .batchParent  // any non-free state: never handed out again
        slots[Int(index)].firstPart = -1
    }

    /// Completions an operation posts: two with a linked timeout (its own and the timeout's),
    /// so the in-flight cap keeps the CQ from overflowing.
    private func weight(_ index: Int32) -> Int { slots[Int(index)].linkTimeout == nil ? 1 : 2 }

    /// Every slot in state `state` (a scan: for shutdown and broken-ring paths only).
    func slots(in state: Slot.State) -> [Int32] {
        (0..<capacity).lazy.filter { self.slots[$0].state == state }.map { Int32($0) }
    }

    // MARK: Growth and shrinking

    private static func nextGeneration(after g: UInt32) -> UInt32 {
        let n = g &+ 1
        return n == internalGeneration ? 0 : n
    }

    private func grow() {
        resize(to: capacity * 2)
    }

    private func shrink() {
        while upperUsed == 0 && capacity > minimumCapacity && used <= capacity / 4 {
            for i in capacity / 2..<capacity where slots[i].generation >= generationFloor {
                generationFloor = Self.nextGeneration(after: slots[i].generation)
            }
            resize(to: capacity / 2)
        }
    }

    /// Gives the slab's memory back once nothing uses the table (the ring stopped): every
    /// slot is dropped and two free ones remain (`capacity` below `minimumCapacity` from then
    /// on: the table is never used again).
    func discardAll() {
        slots.deinitialize(count: capacity)
        slots.deallocate()
        capacity = 2
        slots = .allocate(capacity: capacity)
        var blank = Slot()
        blank.generation = generationFloor
        slots.initialize(repeating: blank, count: capacity)
        used = 0
        inFlight = 0
        cappedInFlight = 0
        waitingOnPeer = 0
        waitingHead = -1
        waitingTail = -1
        waitingCount = 0
        rebuildFreeLists()
    }

    /// Moves the slab to `newCapacity` slots (only free slots may be cut off) and rebuilds
    /// the free lists and the upper-half count.
    private func resize(to newCapacity: Int) {
        let fresh = UnsafeMutablePointer<Slot>.allocate(capacity: newCapacity)
        let kept = min(capacity, newCapacity)
        fresh.moveInitialize(from: slots, count: kept)
        if newCapacity > capacity {
            var blank = Slot()
            blank.generation = generationFloor
            (fresh + capacity).initialize(repeating: blank, count: newCapacity - capacity)
        } else {
            (slots + newCapacity).deinitialize(count: capacity - newCapacity)
        }
        slots.deallocate()
        slots = fresh
        capacity = newCapacity
        peakCapacity = max(peakCapacity, capacity)
        rebuildFreeLists()
    }

    private func rebuildFreeLists() {
        lowerFree = -1
        upperFree = -1
        upperUsed = 0
        let half = capacity / 2
        for i in stride(from: capacity - 1, through: 0, by: -1) {
            if slots[i].state == .free {
                if i >= half {
                    slots[i].next = upperFree
                    upperFree = Int32(i)
                } else {
                    slots[i].next = lowerFree
                    lowerFree = Int32(i)
                }
            } else if i >= half {
                upperUsed += 1
            }
        }
    }
}
