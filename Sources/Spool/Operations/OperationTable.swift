/// The ring's operations in flight or waiting: a slab of reusable slots addressed by
/// `user_data` = generation << 32 | slot index, so a late completion for a recycled slot is
/// recognised (its generation no longer matches) and ignored.
///
/// Slots grow by doubling when every slot is taken and are never freed while the ring runs,
/// so a steady state allocates nothing per operation; the number of slots is bounded by the
/// number of operations callers have outstanding at once.
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
            /// Waiting for admission (in-flight cap reached or SQ full).
            case waiting
            /// Its SQE is in the ring; the final CQE has not arrived.
            case submitted
            /// A batch parent: its parts carry the SQEs.
            case batchParent
        }
        var generation: UInt32 = 0
        var state: State = .free
        var cancelRequested = false
        var request: OperationRequest = .nop
        var continuation: UnsafeContinuation<OperationOutcome, Never>? = nil
        var nextFree: Int32 = -1
        // Batches: parts point at their parent; the parent links its parts.
        var parent: Int32 = -1
        var partIndex: Int32 = 0
        var nextSibling: Int32 = -1
        var firstPart: Int32 = -1
        var remainingParts: Int32 = 0
        var cancelledParts: Int32 = 0
        var results: UnsafeMutablePointer<Int32>? = nil
    }

    /// Generation reserved for the runtime's own requests (wake-up read, cancellations).
    static let internalGeneration: UInt32 = .max

    private(set) var slots: UnsafeMutablePointer<Slot>
    private(set) var capacity: Int
    private var freeHead: Int32 = -1
    /// Operations whose SQE is in the kernel's hands.
    var inFlight = 0 {
        didSet { if inFlight > peakInFlight { peakInFlight = inFlight } }
    }
    /// The most operations ever in the kernel's hands at once (diagnostics).
    private(set) var peakInFlight = 0
    /// Slots waiting for admission, in arrival order.
    var admission = JobQueue<Int32>()
    /// How many slots are in use (any state but free).
    private(set) var used = 0

    init(initialCapacity: Int = 64) {
        capacity = max(initialCapacity, 1)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(), count: capacity)
        for i in stride(from: capacity - 1, through: 0, by: -1) {
            slots[i].nextFree = freeHead
            freeHead = Int32(i)
        }
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
        admission.destroy()
    }

    /// Takes a free slot for `request`; grows the slab if none is free.
    func allocate(_ request: OperationRequest) -> Int32 {
        if freeHead < 0 { grow() }
        let index = freeHead
        freeHead = slots[Int(index)].nextFree
        let s = slots + Int(index)
        s.pointee.state = .reserved
        s.pointee.request = request
        s.pointee.cancelRequested = false
        s.pointee.continuation = nil
        s.pointee.parent = -1
        s.pointee.nextSibling = -1
        s.pointee.firstPart = -1
        s.pointee.results = nil
        used += 1
        return index
    }

    /// Returns a slot to the free list and bumps its generation.
    func release(_ index: Int32) {
        let s = slots + Int(index)
        s.pointee.state = .free
        s.pointee.continuation = nil
        s.pointee.request = .nop
        var g = s.pointee.generation &+ 1
        if g == Self.internalGeneration { g = 0 }
        s.pointee.generation = g
        s.pointee.nextFree = freeHead
        freeHead = index
        used -= 1
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

    private func grow() {
        let newCapacity = capacity * 2
        let fresh = UnsafeMutablePointer<Slot>.allocate(capacity: newCapacity)
        fresh.moveInitialize(from: slots, count: capacity)
        (fresh + capacity).initialize(repeating: Slot(), count: newCapacity - capacity)
        slots.deallocate()
        slots = fresh
        for i in stride(from: newCapacity - 1, through: capacity, by: -1) {
            slots[i].nextFree = freeHead
            freeHead = Int32(i)
        }
        capacity = newCapacity
    }
}
