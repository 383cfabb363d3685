/// Spool's one waiter mechanism: tasks suspended until the state they wait on changes, kept
/// in the state itself, under its owner's ``PosixLocked`` lock.
///
/// A task waits with ``PosixLocked/wait(unless:)`` or ``PosixLocked/waitCancellably(unless:)``:
/// its condition is asked under the lock, and only if it does not hold yet is the task added,
/// in the same critical section, so a change made under the lock is never missed. Whoever
/// changes the state takes waiters out under the lock (``takeFirst()``, one per unit of
/// what they wait for, in order; ``takeAll()``, when every waiter must look again) and resumes
/// them after it with ``Wakes/resume()``: a continuation is never resumed under a lock.
/// A cancelled waiter leaves the list at once, by its ticket. A woken waiter asks its
/// condition again; spurious wakes are harmless.
///
/// Used by buffer pools (receivers waiting for a buffer), owned sends (writers waiting for
/// room), multishot feeds (the consumer, and a stop waiting for the last completion), a shared
/// file's close, blocking calls and one-shot signals.
///
/// **Thread-safety:** none of its own: its owner's lock. **Lifetime:** `~Copyable`, owned by
/// the locked state; a waiter left in a list that is dropped is never resumed, so owners wake
/// everyone before they go (their shutdown paths do).
struct WaiterList: ~Copyable {
    struct Waiter {
        let ticket: UInt64
        let continuation: UnsafeContinuation<Void, Never>
    }

    private var queue = FIFOQueue<Waiter>()
    private var lastTicket: UInt64 = 0

    init() {}

    /// Whether no task waits.
    var isEmpty: Bool { queue.isEmpty }

    /// Tasks waiting.
    var count: Int { queue.count }

    /// A ticket for a new waiter (unique in this list).
    mutating func nextTicket() -> UInt64 {
        lastTicket &+= 1
        return lastTicket
    }

    /// Adds a waiter, last in line.
    mutating func add(_ continuation: UnsafeContinuation<Void, Never>, ticket: UInt64) {
        queue.append(Waiter(ticket: ticket, continuation: continuation))
    }

    /// Takes the waiter with `ticket` out (it was cancelled), if it is still waiting.
    mutating func withdraw(_ ticket: UInt64) -> Wakes {
        Wakes(queue.removeFirst(where: { $0.ticket == ticket }).map { [$0.continuation] } ?? [])
    }

    /// Takes the oldest waiter out.
    mutating func takeFirst() -> Wakes {
        Wakes(queue.popFirst().map { [$0.continuation] } ?? [])
    }

    /// Takes every waiter out, oldest first.
    mutating func takeAll() -> Wakes {
        if queue.isEmpty { return Wakes([]) }
        return Wakes(queue.removeAll().map(\.continuation))
    }
}

/// Waiters taken out of a ``WaiterList`` under its lock, to resume after it.
///
/// **Thread-safety:** a value; resume it on any thread, once. **Lifetime:** `~Copyable`, so
/// the same waiters cannot be resumed twice.
struct Wakes: ~Copyable {
    private let continuations: [UnsafeContinuation<Void, Never>]

    init(_ continuations: [UnsafeContinuation<Void, Never>]) {
        self.continuations = continuations
    }

    /// No waiters to wake.
    static var none: Wakes { Wakes([]) }

    /// Resumes every waiter taken (call outside the lock).
    consuming func resume() {
        for c in continuations { c.resume() }
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
        if Task.isCancelled { throw CancellationError() }
    }
}
