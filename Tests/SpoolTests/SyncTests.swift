@testable import Spool
import Testing

/// The synchronisation primitives every part shares: the one FIFO (`FIFOQueue`), the one
/// waiter mechanism (`WaiterList` under a `PosixLocked`), and the lock's blocking wait.
@Suite("Sync: the one FIFO, the one waiter mechanism, the one lock", .timeLimit(.minutes(1)))
struct SyncTests {
    // MARK: FIFOQueue

    @Test("FIFOQueue keeps order across wrap-around and growth, removes from the middle, and gives memory back")
    func fifoQueue() {
        var q = FIFOQueue<Int>()
        #expect(q.capacity == 0, "a lazily allocated queue holds nothing until used")
        for i in 0..<3 { q.append(i) }
        #expect(q.popFirst() == 0)
        for i in 3..<10 { q.append(i) }  // wraps around, then grows
        #expect(q.elements == Array(1..<10))
        #expect(q.removeFirst(where: { $0 == 5 }) == 5)
        #expect(q.removeFirst(where: { $0 == 42 }) == nil)
        #expect(q.elements == [1, 2, 3, 4, 6, 7, 8, 9])
        q.updateFirst { $0 += 100 }
        #expect(q.first == 101)
        #expect(q.removeAll(keepingFirst: 2) == [3, 4, 6, 7, 8, 9])
        #expect(q.elements == [101, 2])
        #expect(q.removeAll() == [101, 2])
        #expect(q.isEmpty && q.popFirst() == nil)
        for i in 0..<10_000 { q.append(i) }
        #expect(q.count == 10_000)
        while q.popFirst() != nil {}
        q.shrinkIfEmpty()
        #expect(q.capacity == 0, "after a burst the storage goes back")
    }

    // MARK: WaiterList

    /// A state with a count of permits and the tasks waiting for one.
    struct Permits: ~Copyable, WaiterListHolding {
        var permits = 0
        var order: [Int] = []
        var waiters = WaiterList()
    }

    /// Starts `n` tasks that each wait for a permit (cancellably), one after the other, so that
    /// they wait in the order 0..<n; each records its number when it gets one.
    static func startWaiters(_ n: Int, on state: PosixLocked<Permits>) async -> [Task<Bool, Never>] {
        var tasks: [Task<Bool, Never>] = []
        for i in 0..<n {
            tasks.append(Task {
                do {
                    while true {
                        let got = state.withLock { s -> Bool in
                            guard s.permits > 0 else { return false }
                            s.permits -= 1
                            s.order.append(i)
                            return true
                        }
                        if got { return true }
                        try await state.waitCancellably { s in s.permits > 0 }
                    }
                } catch {
                    return false
                }
            })
            #expect(await eventually { state.withLock { $0.waiters.count } == i + 1 })
        }
        return tasks
    }

    @Test("wake-one wakes the oldest waiter first; a cancelled waiter leaves at once; wake-all wakes the rest")
    func wakeOneInOrder() async {
        let state = PosixLocked(Permits())
        let tasks = await Self.startWaiters(5, on: state)
        // One permit at a time: the oldest waiter takes each.
        for expected in 0..<2 {
            state.withLock { s -> Wakes in
                s.permits += 1
                return s.waiters.takeFirst()
            }.resume()
            #expect(await eventually { state.withLock { $0.order.count } == expected + 1 })
        }
        #expect(state.withLock { $0.order } == [0, 1])
        // The waiter that is next in line is cancelled: it leaves, and the one after it is next.
        tasks[2].cancel()
        #expect(await tasks[2].value == false)
        #expect(state.withLock { $0.waiters.count } == 2)
        state.withLock { s -> Wakes in
            s.permits += 1
            return s.waiters.takeFirst()
        }.resume()
        #expect(await eventually { state.withLock { $0.order.count } == 3 })
        #expect(state.withLock { $0.order } == [0, 1, 3])
        // Wake-all: every waiter asks again; the last permit goes to one of them.
        state.withLock { s -> Wakes in
            s.permits += 1
            return s.waiters.takeAll()
        }.resume()
        #expect(await tasks[4].value)
        #expect(state.withLock { $0.order } == [0, 1, 3, 4])
        #expect(state.withLock { $0.waiters.isEmpty })
        for t in tasks { _ = await t.value }
    }

    @Test("a waiter cancelled before it suspends never waits; rounds of cancelled waiters leave the list empty")
    func cancelledWaiters() async {
        let state = PosixLocked(Permits())
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                try await state.waitCancellably { s in s.permits > 0 }
                return "woken"
            } catch {
                return "cancelled"
            }
        }
        #expect(await early.value == "cancelled")
        #expect(state.withLock { $0.waiters.isEmpty })
        // Rounds of waiters that all give up: the list stays empty and small.
        for _ in 0..<20 {
            let tasks = await Self.startWaiters(8, on: state)
            for t in tasks { t.cancel() }
            for t in tasks { #expect(await t.value == false) }
            #expect(state.withLock { $0.waiters.isEmpty })
        }
    }

    // MARK: PosixLocked

    @Test("a thread blocked in PosixLocked.wait wakes on broadcast; a deadline ends the wait with nil")
    func blockingWait() async {
        let state = PosixLocked(0)
        let result = PosixLocked<Int?>(nil)
        // A plain thread, not a task: a task blocking here would hold one of the few threads of
        // the cooperative pool, which the rest of the suite needs.
        let started = ThreadCalls.startDetached {
            let seen = state.wait(until: { $0 > 0 }, then: { $0 })
            result.withLock { $0 = seen }
        }
        #expect(started == nil)
        try? await Task.sleep(for: .milliseconds(20))
        #expect(result.withLock { $0 } == nil, "still blocked: nothing changed")
        state.withLock { $0 = 7 }
        state.broadcast()
        #expect(await eventually { result.withLock { $0 } == 7 })
        let start = ContinuousClock.now
        let timedOut = state.wait(until: { $0 > 100 }, before: .now + .milliseconds(30), then: { $0 })
        #expect(timedOut == nil)
        #expect(ContinuousClock.now - start >= .milliseconds(30))
    }

}
