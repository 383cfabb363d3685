import SpoolTimer
import Testing

/// A small, seeded generator: the same seed gives the same run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("TimingWheel: properties in simulated time")
struct TimingWheelTests {
    /// A deadline `now`-relative, from a mix of near, middling, far and past values.
    static func randomDeadline(now: UInt64, _ rng: inout SplitMix64) -> UInt64 {
        switch rng.next() % 8 {
        case 0: return now &- min(now, rng.next() % 1000)  // in the past (fires at the next advance)
        case 1, 2: return now + rng.next() % 64
        case 3: return now + rng.next() % 4096
        case 4: return now + rng.next() % (1 << 20)
        case 5: return now + rng.next() % (1 << 36)
        case 6: return now + rng.next() % (UInt64.max - now)  // anywhere ahead, up to the end of time
        default: return now + 1 + rng.next() % 200
        }
    }

    @Test("random mixes of arm, cancel and advance: never early, on time, cancelled never fire, next expiration always right",
          arguments: [(1, 2_000), (2, 20_000), (3, 100_000), (4, 100_000)])
    func modelCheck(seed: UInt64, timers: Int) {
        var rng = SplitMix64(state: seed)
        let start = seed == 4 ? UInt64.max / 2 : rng.next() % 1_000_000
        let wheel = TimingWheel(now: start)
        var armed: [TimerID: (deadline: UInt64, key: Int)] = [:]
        var ids: [TimerID] = []
        var fired = Set<Int>()
        var cancelled = Set<Int>()
        var nextKey = 0
        var failures = 0
        func check(_ ok: Bool, _ message: @autoclosure () -> String) {
            if !ok && failures < 10 { Issue.record(Comment(rawValue: message())); failures += 1 }
        }
        // The model's earliest deadline: a min-heap with lazy deletion (entries whose timer
        // left `armed` are skipped), so each check is O(log n), not a scan.
        var heap = MinHeap()
        func earliestArmed() -> UInt64? {
            while let top = heap.min {
                if let entry = armed[top.id], entry.key == top.key { return top.deadline }
                heap.removeMin()
            }
            return nil
        }
        func advance(to target: UInt64) {
            let earliest = earliestArmed()
            let next = wheel.nextExpiration
            check((next == nil) == (earliest == nil), "nextExpiration \(String(describing: next)) with earliest \(String(describing: earliest))")
            if let next, let earliest {
                check(next <= earliest, "nextExpiration \(next) after the earliest deadline \(earliest)")
                if earliest >> 6 == wheel.now >> 6 { check(next == earliest, "level-0 nextExpiration \(next) is not the deadline \(earliest)") }
            }
            var last: UInt64 = 0
            wheel.advance(to: target) { id, payload in
                let key = Int(payload)
                guard let entry = armed.removeValue(forKey: id) else {
                    check(false, "timer \(key) fired twice or after it was cancelled")
                    return
                }
                check(entry.key == key, "wrong value")
                check(entry.deadline <= target, "fired early: deadline \(entry.deadline), advanced to \(target)")
                check(entry.deadline >= last, "out of deadline order")
                last = entry.deadline
                check(!cancelled.contains(key), "a cancelled timer fired")
                fired.insert(key)
            }
            if let due = earliestArmed() { check(due > target, "a timer due at \(due) did not fire by \(target)") }
            check(wheel.now == max(target, wheel.now), "now moved backward")
        }
        while nextKey < timers {
            switch rng.next() % 10 {
            case 0...5:
                let deadline = Self.randomDeadline(now: wheel.now, &rng)
                let id = wheel.schedule(at: deadline, UInt64(nextKey))
                armed[id] = (max(deadline, wheel.now), nextKey)
                heap.insert((max(deadline, wheel.now), nextKey, id))
                ids.append(id)
                nextKey += 1
            case 6, 7:
                guard !ids.isEmpty else { continue }
                let id = ids[Int(rng.next() % UInt64(ids.count))]
                let value = wheel.cancel(id)
                if let entry = armed.removeValue(forKey: id) {
                    check(value.map(Int.init) == entry.key, "cancel returned \(String(describing: value)), expected \(entry.key)")
                    cancelled.insert(entry.key)
                } else {
                    check(value == nil, "cancelling a fired or cancelled timer returned a value")
                }
            default:
                let step: UInt64 = [1, 7, 63, 64, 4095, 100_000, 1 << 30][Int(rng.next() % 7)]
                advance(to: wheel.now &+ min(step, UInt64.max - wheel.now))
            }
            check(wheel.count == armed.count, "count \(wheel.count) vs \(armed.count)")
        }
        advance(to: .max)
        check(armed.isEmpty && wheel.count == 0, "\(armed.count) timers never fired")
        check(fired.count + cancelled.count == timers, "every timer fired or was cancelled exactly once")
        check(wheel.nextExpiration == nil, "an empty wheel has no next expiration")
    }

    @Test("100,000 timers: cancel every other one, the rest fire exactly once, in order")
    func hundredThousand() {
        var rng = SplitMix64(state: 42)
        let wheel = TimingWheel()
        var ids: [TimerID] = []
        for i in 0..<100_000 { ids.append(wheel.schedule(at: 1 + rng.next() % 10_000_000, UInt64(i))) }
        for i in stride(from: 0, to: 100_000, by: 2) { #expect(wheel.cancel(ids[i]) == UInt64(i)) }
        #expect(wheel.count == 50_000)
        var seen: [Int] = []
        var last: UInt64 = 0
        var inOrder = true
        wheel.advance(to: 10_000_001) { id, value in
            seen.append(Int(value))
            if let d = Optional(wheel.now), d < last { inOrder = false }
            last = wheel.now
            _ = id
        }
        #expect(inOrder)
        #expect(seen.count == 50_000)
        #expect(Set(seen) == Set(stride(from: 1, to: 100_000, by: 2)))
        #expect(wheel.count == 0)
    }

    @Test("a stale identifier never touches a recycled node")
    func staleIdentifiers() {
        let wheel = TimingWheel()
        let first = wheel.schedule(at: 10, 1)
        #expect(wheel.cancel(first) == 1)
        let second = wheel.schedule(at: 10, 2)
        #expect(second.index == first.index, "the node was recycled")
        #expect(wheel.cancel(first) == nil)
        #expect(wheel.deadline(of: second) == 10)
        var fired: [UInt64] = []
        wheel.advance(to: 10) { _, v in fired.append(v) }
        #expect(fired == [2])
        #expect(wheel.cancel(second) == nil, "a fired timer cannot be cancelled")
        #expect(wheel.cancel(TimerID(index: 1_000_000, generation: 0)) == nil)
    }

    @Test("deadlines in the past fire at the next advance; the end of time is a valid deadline")
    func extremes() {
        let wheel = TimingWheel(now: 1_000)
        wheel.schedule(at: 3, 1)
        wheel.schedule(at: .max, 2)
        #expect(wheel.nextExpiration == 1_000)
        var fired: [UInt64] = []
        wheel.advance(to: 1_000) { _, v in fired.append(v) }
        #expect(fired == [1])
        wheel.advance(to: .max - 1) { _, v in fired.append(v) }
        #expect(fired == [1])
        wheel.advance(to: .max) { _, v in fired.append(v) }
        #expect(fired == [1, 2])
    }

    @Test("a callback that re-arms at or before now does not keep one advance going: it fires at the next")
    func rearmInsideAdvance() {
        let wheel = TimingWheel(now: 100)
        wheel.schedule(at: 100, 1)
        var fired = 0
        let n = wheel.advance(to: 100) { _, _ in
            fired += 1
            wheel.schedule(at: 50, 2)   // in the past
            wheel.schedule(at: 100, 3)  // now
        }
        #expect(n == 1 && fired == 1, "only the timer that was due fired")
        #expect(wheel.count == 2)
        #expect(wheel.nextExpiration == 100, "the re-armed ones are due at the next advance")
        var later: [UInt64] = []
        wheel.advance(to: 100) { _, v in later.append(v) }
        #expect(Set(later) == [2, 3])
        // A deferred timer can be cancelled like any other.
        let wheel2 = TimingWheel(now: 5)
        wheel2.schedule(at: 5, 1)
        var deferred: TimerID?
        wheel2.advance(to: 5) { _, _ in deferred = wheel2.schedule(at: 0, 9) }
        #expect(deferred.flatMap { wheel2.cancel($0) } == 9)
        #expect(wheel2.count == 0)
    }

    @Test("drain hands over every armed timer once (shutdown)")
    func drain() {
        let wheel = TimingWheel()
        for i in 0..<1_000 { wheel.schedule(at: UInt64(i) * 977, UInt64(i)) }
        var drained = Set<UInt64>()
        wheel.drain { _, v in drained.insert(v) }
        #expect(drained == Set(0..<1_000))
        #expect(wheel.count == 0 && wheel.nextExpiration == nil)
    }

    @Test("an armed timer costs well under 128 bytes")
    func memoryPerTimer() {
        #expect(TimingWheel.nodeStride < 128)
        #expect(TimingWheel.nodeStride <= 32)
    }
}

@Suite("TickScale: time to ticks")
struct TickScaleTests {
    @Test("deadlines round up, readings round down: a timer never fires early, at most a tick late")
    func rounding() throws {
        let scale = try TickScale(tick: .milliseconds(1))
        #expect(scale.deadlineTick(after: .microseconds(1500)) == 2)
        #expect(scale.currentTick(after: .microseconds(1500)) == 1)
        #expect(scale.deadlineTick(after: .milliseconds(3)) == 3)
        #expect(scale.currentTick(after: .milliseconds(3)) == 3)
        #expect(scale.deadlineTick(after: .nanoseconds(1)) == 1)
        #expect(scale.offset(of: 7) == .milliseconds(7))
        var rng = SplitMix64(state: 9)
        for _ in 0..<10_000 {
            let deadline = Duration.nanoseconds(Int64(rng.next() % 10_000_000_000))
            let reading = deadline + .nanoseconds(Int64(rng.next() % 3_000_000))
            let due = scale.currentTick(after: reading) >= scale.deadlineTick(after: deadline)
            if due { #expect(reading >= deadline, "would fire before its deadline") }
            if reading >= deadline + .milliseconds(1) { #expect(due, "more than a tick late") }
        }
    }

    @Test("negative and huge offsets have defined ticks; a bad tick length is an error")
    func badInput() throws {
        let scale = try TickScale()
        #expect(scale.deadlineTick(after: .seconds(-5)) == 0)
        #expect(scale.currentTick(after: .seconds(-5)) == 0)
        #expect(scale.deadlineTick(after: .seconds(Int64.max)) == .max)
        let beyond = Duration.seconds(Int64.max) + .seconds(Int64.max)  // more seconds than Int64 holds
        #expect(scale.deadlineTick(after: beyond) == .max)
        #expect(scale.currentTick(after: beyond) == .max)
        #expect(throws: TimerError.invalidTick(.zero)) { try TickScale(tick: .zero) }
        #expect(throws: TimerError.self) { try TickScale(tick: .seconds(2)) }
    }
}

/// A binary min-heap of (deadline, key, id), for the model in the property test.
struct MinHeap {
    private var items: [(deadline: UInt64, key: Int, id: TimerID)] = []
    var min: (deadline: UInt64, key: Int, id: TimerID)? { items.first }

    mutating func insert(_ item: (deadline: UInt64, key: Int, id: TimerID)) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].deadline <= items[i].deadline { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func removeMin() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < items.count && items[l].deadline < items[smallest].deadline { smallest = l }
            if r < items.count && items[r].deadline < items[smallest].deadline { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest)
            i = smallest
        }
    }
}
