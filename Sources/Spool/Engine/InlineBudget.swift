internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// How many calls in a row may finish without suspending on the calling thread.
///
/// A call that completes inline (a cached read, an eager submit the kernel finished at once)
/// does not give its thread back. On a ring thread the loop's per-pass budget
/// (``RingExecutor/inlineBudget``) bounds that, so timers, the inbox and other tasks still
/// get their turn; on any other thread a per-thread count does the same: after
/// ``RingExecutor/inlineBudget`` inline completions the next call takes the suspending path
/// and the count starts again.
///
/// A namespace over thread-local state: each thread touches only its own.
enum InlineBudget {
    /// The per-thread count of inline completions off the rings (an integer stored in the
    /// pointer slot).
    private static let offRing = ThreadLocalSlot()

    /// Takes one unit of the calling thread's budget; false when it is spent (the call must
    /// suspend). `ring`: the calling thread's ring executor, if it is a ring thread.
    @inline(__always)
    static func take(on ring: RingExecutor?) -> Bool {
        if let ring {
            guard ring.inlineBudgetLeft > 0 else { return false }
            ring.inlineBudgetLeft -= 1
            return true
        }
        guard offRing.isAvailable else { return false }  // no thread-local slot: no inline completion off the rings
        let used = Int(bitPattern: offRing.value)
        if used >= RingExecutor.inlineBudget {
            offRing.set(nil)
            return false
        }
        offRing.set(UnsafeRawPointer(bitPattern: used + 1))
        return true
    }
}
