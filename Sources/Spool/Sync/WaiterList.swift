/// Spool's one waiter mechanism: tasks suspended until the state they wait on changes, kept
/// in the state itself, under its owner's ``PosixLocked`` lock.
///
/// A task waits with ``PosixLocked/wait(unless:)`` or ``PosixLocked/waitCancellably(unless:)``:
/// its condition is asked under the lock, and only if it does not hold yet is the task added,
/// in the same critical section, so a change made under the lock is never missed. Whoever
/// changes the state takes waiters out under the lock (``takeFirst()``, one per unit of
/// what they wait for, in order; ``takeAll()``, when every waiter must look again) and resumes
/// them after it with ``Wakes/resume()``: a continuation is never resumed under a lock.
/// A cancelled waiter leaves the list at once (O(1)), by its ticket. A woken waiter asks its
/// condition again; spurious wakes are harmless. Waking one waiter allocates nothing.
///
/// Used by buffer pools (receivers waiting for a buffer), owned sends (writers waiting for
/// room), multishot feeds (the consumer, and a stop waiting for the last completion), a shared
/// file's close, blocking calls and one-shot signals.
///
/// **Thread-safety:** none of its own: its owner's lock. **Lifetime:** `~Copyable`, owned by
/// the locked state; a waiter left in a list that is dropped is never resumed, so owners wake
/// everyone before they go (their shutdown paths do).
struct WaiterList: ~Copyable {
    private struct Waiter {
        let ticket: UInt64
        let continuation: UnsafeContinuation<Void, Never>
    }

    /// The oldest waiter, kept inline: the common case (one task waits) hashes and allocates
    /// nothing. Nil only when nobody waits.
    private var head: Waiter? = nil
    /// The others by ticket (a cancelled one leaves in O(1)), and their tickets in arrival
    /// order (entries whose waiter left are skipped, and compacted away).
    private var rest: [UInt64: UnsafeContinuation<Void, Never>] = [:]
    private var order = FIFOQueue<UInt64>()
    private var lastTicket: UInt64 = 0

    init() {}

    /// Whether no task waits.
    var isEmpty: Bool { head == nil }

    /// Tasks waiting.
    var count: Int { (head == nil ? 0 : 1) + rest.count }

    /// A ticket for a new waiter (unique in this list).
    mutating func nextTicket() -> UInt64 {
        lastTicket &+= 1
        return lastTicket
    }

    /// Adds a waiter, last in line.
    mutating func add(_ continuation: UnsafeContinuation<Void, Never>, ticket: UInt64) {
        guard head != nil else {
            head = Waiter(ticket: ticket, continuation: continuation)
            return
        }
        rest[ticket] = continuation
        order.append(ticket)
        if order.count > 2 * rest.count + 16 { compact() }  // many left without a wake
    }

    /// Takes the waiter with `ticket` out (it was cancelled), if it is still waiting. O(1).
    mutating func withdraw(_ ticket: UInt64) -> Wakes {
        if let h = head, h.ticket == ticket {
            promote()
            return .one(h.continuation)
        }
        if let c = rest.removeValue(forKey: ticket) { return .one(c) }
        return .none
    }

    /// Takes the oldest waiter out. Pair it only with waits whose every waiter asks its
    /// condition again (a waiter cancelled after this woke it does not pass the wake on).
    mutating func takeFirst() -> Wakes {
        guard let h = head else { return .none }
        promote()
        return .one(h.continuation)
    }

    /// Takes every waiter out, oldest first.
    mutating func takeAll() -> Wakes {
        guard let h = head else { return .none }
        head = nil
        if rest.isEmpty { return .one(h.continuation) }  // no array for the common single waiter
        var all: [UnsafeContinuation<Void, Never>] = [h.continuation]
        all.reserveCapacity(rest.count + 1)
        while let ticket = order.popFirst() {
            if let c = rest[ticket] { all.append(c) }
        }
        rest.removeAll(keepingCapacity: rest.count <= 64)
        order.shrinkIfEmpty()
        return .many(all)
    }

    /// The head left: the oldest of the others (if any) takes its place.
    private mutating func promote() {
        head = nil
        while let ticket = order.popFirst() {
            if let c = rest.removeValue(forKey: ticket) {
                head = Waiter(ticket: ticket, continuation: c)
                break
            }
        }
        if order.isEmpty { order.shrinkIfEmpty() }
    }

    /// Drops the arrival-order entries of waiters that left.
    private mutating func compact() {
        let live = order.removeAll().filter { rest[$0] != nil }
        order.shrinkIfEmpty()
        for ticket in live { order.append(ticket) }
    }
}

/// Waiters taken out of a ``WaiterList`` under its lock, to resume after it: none, one (no
/// allocation: the common case of a single waiting task) or many.
///
/// **Thread-safety:** a value; resume it on any thread, once. **Lifetime:** `~Copyable`, so
/// the same waiters cannot be resumed twice.
enum Wakes: ~Copyable {
    case none
    case one(UnsafeContinuation<Void, Never>)
    case many([UnsafeContinuation<Void, Never>])

    /// Resumes every waiter taken (call outside the lock).
    consuming func resume() {
        switch consume self {
        case .none: break
        case .one(let c): c.resume()
        case .many(let all): for c in all { c.resume() }
        }
    }
}

/// A lock's state that keeps a ``WaiterList`` (what ``PosixLocked/wait(unless:)`` suspends on).
protocol WaiterListHolding: ~Copyable {
    var waiters: WaiterList { get set }
}

extension PosixLocked where Value: WaiterListHolding & ~Copyable {
    /// Suspends until woken through the state's waiters, unless `ready` (asked under the lock)
    /// holds already; not cancellable. The caller asks its condition again when it resumes.
    nonisolated(nonsending) func wait(unless ready: (inout Value) -> Bool) async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            let now = withLock { s -> Bool in
                if ready(&s) { return true }
                s.waiters.add(c, ticket: s.waiters.nextTicket())
                return false
            }
            if now { c.resume() }
        }
    }

    /// Like ``wait(unless:)``, but the task's cancellation ends the wait at once (the waiter
    /// leaves the list) and throws `CancellationError`, also when it was woken meanwhile.
    nonisolated(nonsending) func waitCancellably(unless ready: (inout Value) -> Bool) async throws(CancellationError) {
        await waitUnlessCancelled(unless: ready)
        // A waiter woken and then cancelled does not pass its wake on: see `takeFirst()`.
        if Task.isCancelled { throw CancellationError() }
    }

    /// Like ``waitCancellably(unless:)``, but returns when cancelled instead of throwing: for a
    /// caller that asks `Task.isCancelled` itself next. (A typed throw of the empty
    /// `CancellationError` costs its caller a zero-byte allocation, with its 16-byte header, in
    /// the task allocator while it waits: one idle connection's task was 8 bytes over one slab.)
    @inline(__always) nonisolated(nonsending) func waitUnlessCancelled(unless ready: (inout Value) -> Bool) async {
        let ticket = withLock { $0.waiters.nextTicket() }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                let now = withLock { s -> Bool in
                    if ready(&s) || Task.isCancelled { return true }
                    s.waiters.add(c, ticket: ticket)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            withLock { $0.waiters.withdraw(ticket) }.resume()
        }
    }
}
