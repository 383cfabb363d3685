/// A hierarchical timing wheel: timers armed and cancelled in O(1), the next expiration
/// answered from per-level occupancy bitmaps (no scan of the timers), and deadlines anywhere
/// in the 64-bit tick range.
///
/// Time is an input, not something the wheel reads: it counts in *ticks* (a ``TickScale``
/// maps `Duration`s to ticks) and moves only when ``advance(to:_:)`` is called, so tests drive
/// it in simulated time and a ring drives it from its clock.
///
/// **Layout.** 11 levels of 64 slots; level `L` slot `s` holds timers whose deadline shares
/// every bit above `6·(L+1)` with ``now`` and has `s` as its level-`L` digit. Level-0 timers
/// fire when their slot is reached; a higher slot, when reached, hands its timers down
/// (cascades) to lower levels. Each timer lives in a node of a slab, linked (both ways) into its
/// slot's list, so cancelling unlinks it directly. A ``TimerID`` carries the node's generation,
/// so a stale identifier never touches a recycled node.
///
/// **Guarantees.** A timer never fires before its deadline tick, fires at the first
/// ``advance(to:_:)`` that reaches it, and a cancelled timer never fires. A deadline at or before
/// ``now`` fires at the next advance.
///
/// Each timer carries a 64-bit payload (the runtime stores the sleeping operation's
/// `user_data`): the wheel is not generic, so its hot paths are compiled once, fully
/// specialised, in this module.
///
/// **Thread-safety:** none: one owner (a ring thread). **Memory:** one node per armed timer
/// (``nodeStride`` bytes); the slab doubles when full and is kept.
public final class TimingWheel {
    /// Bits of a tick per level (64 slots).
    static var slotBits: Int { 6 }
    /// Levels: 11 × 6 bits cover every 64-bit tick.
    static var levelCount: Int { 11 }

    private struct Node {
        var deadline: UInt64 = 0
        var payload: UInt64 = 0
        var next: Int32 = -1
        var previous: Int32 = -1
        var generation: UInt32 = 0
        var level: UInt8 = 0
        var slot: UInt8 = 0
        var armed = false
    }

    /// The current tick: every timer with a deadline at or before it has fired.
    @exclusivity(unchecked) public private(set) var now: UInt64
    /// Timers armed and not yet fired or cancelled.
    @exclusivity(unchecked) public private(set) var count = 0

    @exclusivity(unchecked) private var nodes: UnsafeMutablePointer<Node>
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var freeHead: Int32 = -1
    /// Head node of each slot's list, level-major (`level * 64 + slot`).
    private let heads: UnsafeMutablePointer<Int32>
    /// Bit `s` of `occupied[L]`: level `L` slot `s` holds timers.
    private let occupied: UnsafeMutablePointer<UInt64>
    /// Inside ``advance(to:_:)``: timers armed by its callback for a deadline already
    /// reached wait here (level 255) and join the wheel when it returns, so they fire at the
    /// *next* advance and a callback that re-arms itself cannot keep one advance going.
    @exclusivity(unchecked) private var advancing = false
    @exclusivity(unchecked) private var deferredHead: Int32 = -1

    /// Creates an empty wheel whose time is `now` ticks.
    public init(now: UInt64 = 0, initialCapacity: Int = 64) {
        self.now = now
        capacity = max(2, initialCapacity)
        nodes = .allocate(capacity: capacity)
        nodes.initialize(repeating: Node(), count: capacity)
        heads = .allocate(capacity: Self.levelCount * 64)
        heads.initialize(repeating: -1, count: Self.levelCount * 64)
        occupied = .allocate(capacity: Self.levelCount)
        occupied.initialize(repeating: 0, count: Self.levelCount)
        for i in stride(from: capacity - 1, through: 0, by: -1) {
            nodes[i].next = freeHead
            freeHead = Int32(i)
        }
    }

    deinit {
        nodes.deinitialize(count: capacity)
        nodes.deallocate()
        heads.deallocate()
        occupied.deallocate()
    }

    /// Bytes one armed timer occupies in the slab.
    public static var nodeStride: Int { MemoryLayout<Node>.stride }

    // MARK: Arming and cancelling

    /// Arms a timer that fires at tick `deadline` (at the next advance if it is not after
    /// ``now``) carrying `payload` (a caller's key: a slot, an index). O(1).
    @discardableResult
    public func schedule(at deadline: UInt64, _ payload: UInt64) -> TimerID {
        if freeHead < 0 { grow() }
        let index = freeHead
        freeHead = nodes[Int(index)].next
        nodes[Int(index)].deadline = max(deadline, now)
        nodes[Int(index)].payload = payload
        nodes[Int(index)].armed = true
        if advancing && deadline <= now {
            linkDeferred(index)
        } else {
            link(index)
        }
        count += 1
        return TimerID(index: UInt32(index), generation: nodes[Int(index)].generation)
    }

    /// Cancels the timer `id`; returns its payload, or nil if it already fired or was
    /// cancelled (a stale identifier is harmless). O(1).
    @discardableResult
    public func cancel(_ id: TimerID) -> UInt64? {
        guard let index = live(id) else { return nil }
        unlink(index)
        count -= 1
        return release(index)
    }

    /// The deadline tick of timer `id`, if it is armed.
    public func deadline(of id: TimerID) -> UInt64? {
        live(id).map { nodes[Int($0)].deadline }
    }

    // MARK: Time

    /// The tick by which ``advance(to:_:)`` must next be called: the start of the earliest
    /// occupied slot. Never after the earliest deadline; equal to it when that timer is in
    /// level 0 (within 64 ticks of ``now``), otherwise the moment its slot cascades. `nil`
    /// when no timer is armed. O(levels), no scan of timers.
    public var nextExpiration: UInt64? {
        for level in 0..<Self.levelCount where occupied[level] != 0 {
            return slotStart(level: level, slot: nextOccupiedSlot(level: level))
        }
        return nil
    }

    /// Moves time forward to `tick` (never backward), firing every timer whose deadline it
    /// reaches: `fire` receives each, in deadline order, after the timer left the wheel (it
    /// may arm or cancel timers). Returns how many fired.
    @discardableResult
    public func advance(to tick: UInt64, _ fire: (TimerID, UInt64) -> Void) -> Int {
        var fired = 0
        advancing = true
        while let expiration = nextExpiration, expiration <= tick {
            now = max(now, expiration)
            fired += processSlot(at: expiration, fire)
        }
        now = max(now, tick)
        advancing = false
        while deferredHead >= 0 {
            let index = deferredHead
            unlink(index)
            link(index)  // due now: fires at the next advance
        }
        return fired
    }

    /// Removes every armed timer, handing each to `body` (shutdown: fire them all with an
    /// error). Order: by slot, not by deadline.
    public func drain(_ body: (TimerID, UInt64) -> Void) {
        while deferredHead >= 0 {
            let index = deferredHead
            unlink(index)
            link(index)
        }
        for level in 0..<Self.levelCount {
            while occupied[level] != 0 {
                let slot = occupied[level].trailingZeroBitCount
                while let index = takeFirst(level: level, slot: slot) {
                    count -= 1
                    let id = TimerID(index: UInt32(index), generation: nodes[Int(index)].generation)
                    if let value = release(index) { body(id, value) }
                }
            }
        }
    }

    // MARK: Slots

    /// The level and slot a deadline belongs to, relative to `now`.
    private func position(of deadline: UInt64) -> (level: Int, slot: Int) {
        let masked = (deadline ^ now) | 63
        let significant = 63 - masked.leadingZeroBitCount
        let level = significant / Self.slotBits
        let slot = Int((deadline >> UInt64(level * Self.slotBits)) & 63)
        return (level, slot)
    }

    private func nextOccupiedSlot(level: Int) -> Int {
        let current = Int((now >> UInt64(level * Self.slotBits)) & 63)
        let bits = occupied[level]
        let rotated = current == 0 ? bits : (bits >> UInt64(current)) | (bits << UInt64(64 - current))
        return (current + rotated.trailingZeroBitCount) & 63
    }

    /// The first tick of level `level` slot `slot` at or after `now`.
    private func slotStart(level: Int, slot: Int) -> UInt64 {
        let shift = level * Self.slotBits
        let blockBits = shift + Self.slotBits
        let blockStart: UInt64 = blockBits >= 64 ? 0 : now & ~((UInt64(1) << UInt64(blockBits)) - 1)
        var start = blockStart | (UInt64(slot) << UInt64(shift))
        if start < now & ~((UInt64(1) << UInt64(shift)) &- 1) {
            // The slot is behind `now` in this block (cannot happen while the invariant
            // holds); answer its next turn.
            start &+= blockBits >= 64 ? 0 : UInt64(1) << UInt64(blockBits)
        }
        return start
    }

    /// Fires (level 0) or cascades (higher levels) the slot that starts at `tick`.
    private func processSlot(at tick: UInt64, _ fire: (TimerID, UInt64) -> Void) -> Int {
        guard let level = (0..<Self.levelCount).first(where: { occupied[$0] != 0 }) else { return 0 }
        let slot = nextOccupiedSlot(level: level)
        var fired = 0
        if level == 0 {
            while let index = takeFirst(level: 0, slot: slot) {
                count -= 1
                let id = TimerID(index: UInt32(index), generation: nodes[Int(index)].generation)
                if let value = release(index) {
                    fire(id, value)
                    fired += 1
                }
            }
        } else {
            while let index = takeFirst(level: level, slot: slot) {
                link(index)  // relative to the new `now`: a lower level
            }
        }
        return fired
    }

    private func link(_ index: Int32) {
        let (level, slot) = position(of: nodes[Int(index)].deadline)
        let h = level * 64 + slot
        nodes[Int(index)].level = UInt8(level)
        nodes[Int(index)].slot = UInt8(slot)
        nodes[Int(index)].previous = -1
        nodes[Int(index)].next = heads[h]
        if heads[h] >= 0 { nodes[Int(heads[h])].previous = index }
        heads[h] = index
        occupied[level] |= UInt64(1) << UInt64(slot)
    }

    private func linkDeferred(_ index: Int32) {
        nodes[Int(index)].level = Self.deferredLevel
        nodes[Int(index)].previous = -1
        nodes[Int(index)].next = deferredHead
        if deferredHead >= 0 { nodes[Int(deferredHead)].previous = index }
        deferredHead = index
    }

    /// The `level` of a node waiting in the deferred list.
    private static var deferredLevel: UInt8 { 255 }

    private func unlink(_ index: Int32) {
        if nodes[Int(index)].level == Self.deferredLevel {
            let previous = nodes[Int(index)].previous, next = nodes[Int(index)].next
            if previous >= 0 { nodes[Int(previous)].next = next } else { deferredHead = next }
            if next >= 0 { nodes[Int(next)].previous = previous }
            return
        }
        let level = Int(nodes[Int(index)].level), slot = Int(nodes[Int(index)].slot)
        let h = level * 64 + slot
        let previous = nodes[Int(index)].previous, next = nodes[Int(index)].next
        if previous >= 0 { nodes[Int(previous)].next = next } else { heads[h] = next }
        if next >= 0 { nodes[Int(next)].previous = previous }
        if heads[h] < 0 { occupied[level] &= ~(UInt64(1) << UInt64(slot)) }
    }

    private func takeFirst(level: Int, slot: Int) -> Int32? {
        let index = heads[level * 64 + slot]
        guard index >= 0 else { return nil }
        unlink(index)
        return index
    }

    private func live(_ id: TimerID) -> Int32? {
        guard Int(id.index) < capacity else { return nil }
        let n = nodes[Int(id.index)]
        guard n.armed, n.generation == id.generation else { return nil }
        return Int32(id.index)
    }

    /// Frees node `index` (already unlinked) and returns its payload.
    private func release(_ index: Int32) -> UInt64? {
        let value = nodes[Int(index)].payload
        nodes[Int(index)].armed = false
        nodes[Int(index)].generation &+= 1
        nodes[Int(index)].next = freeHead
        freeHead = index
        return value
    }

    private func grow() {
        let newCapacity = capacity * 2
        let fresh = UnsafeMutablePointer<Node>.allocate(capacity: newCapacity)
        fresh.moveInitialize(from: nodes, count: capacity)
        (fresh + capacity).initialize(repeating: Node(), count: newCapacity - capacity)
        nodes.deallocate()
        nodes = fresh
        for i in stride(from: newCapacity - 1, through: capacity, by: -1) {
            nodes[i].next = freeHead
            freeHead = Int32(i)
        }
        capacity = newCapacity
    }
}

/// Names one armed timer of a ``TimingWheel``: its node and that node's generation, so an
/// identifier kept after the timer fired or was cancelled never touches a recycled node.
/// A plain value: `Sendable`.
public struct TimerID: Hashable, Sendable {
    /// The node's index in the wheel's slab.
    public let index: UInt32
    /// The node's generation when the timer was armed.
    public let generation: UInt32

    /// Creates an identifier (the wheel makes them; tests may too).
    public init(index: UInt32, generation: UInt32) {
        self.index = index
        self.generation = generation
    }
}
