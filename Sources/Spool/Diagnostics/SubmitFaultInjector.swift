internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// Makes chosen `io_uring_enter` calls of a runtime's rings fail, for tests of faults the
/// kernel cannot be made to produce on demand (`EINTR`, `EAGAIN`, `EBUSY`, a fatal errno).
///
/// Give it to a runtime with `Runtime.Configuration.faults` (internal, for `@testable`
/// tests). Each rule fails the next `count` enters whose ``SubmitSite`` tag contains the
/// rule's site, with its errno; everything else reaches the real kernel.
///
/// **Thread-safety:** all members may be used from any thread (a pthread lock guards the rules).
final class SubmitFaultInjector: Sendable {
    private struct Rule {
        var site: SubmitSite
        var errno: Int32
        var remaining: Int
        var skip: Int
        /// Only this ring's enters (nil: any ring's).
        var ring: Int?
    }
    private struct State {
        var rules: [Rule] = []
        var injected: [String: Int] = [:]
        var sitesSeen: SubmitSite = []
        /// The site each ring is entering for (set just before each enter).
        var currentSites: [Int: UInt16] = [:]
    }
    // pthread locks, not `Mutex`: the ring thread and the test thread share the rules, and
    // ThreadSanitizer does not see `Mutex`'s futex (it reported the rules as raced).
    private let state = PosixLocked(State())
    private let eagerReapHook = PosixLocked<(@Sendable () -> Void)?>(nil)

    /// Runs `hook` on the ring thread right after every eager submit's reap, before the
    /// caller would suspend (tests of races in that window: a cancellation arriving then).
    func afterEagerReap(_ hook: (@Sendable () -> Void)?) {
        eagerReapHook.withLock { $0 = hook }
    }

    /// Called by the ring after an eager reap.
    func eagerReapDone() {
        eagerReapHook.withLock { $0 }?()
    }

    init() {}

    /// Fails `count` enters tagged with `site` with `errno`, after letting the first
    /// `skipping` such enters through. `ring`: only that ring's enters (default: any ring's).
    func fail(_ site: SubmitSite, with errno: Int32, count: Int = 1, skipping: Int = 0, ring: Int? = nil) {
        state.withLock { $0.rules.append(Rule(site: site, errno: errno, remaining: count, skip: skipping, ring: ring)) }
    }

    /// Removes every rule not yet used up.
    func clear() { state.withLock { $0.rules.removeAll() } }

    /// How many enters were failed, by site name.
    var injected: [String: Int] { state.withLock { $0.injected } }
    /// How many enters were failed in all.
    var injectedCount: Int { state.withLock { $0.injected.values.reduce(0, +) } }
    /// Every tag an enter carried so far (to check a scenario reached its site).
    var sitesSeen: SubmitSite { state.withLock { $0.sitesSeen } }

    /// The errno to fail an enter tagged `site` with, if a rule says so.
    func take(_ site: SubmitSite, ring: Int = 0) -> Int32? {
        state.withLock { s -> Int32? in
            s.sitesSeen.formUnion(site)
            guard let i = s.rules.firstIndex(where: { site.contains($0.site) && $0.remaining > 0 && ($0.ring == nil || $0.ring == ring) }) else { return nil }
            if s.rules[i].skip > 0 {
                s.rules[i].skip -= 1
                return nil
            }
            s.rules[i].remaining -= 1
            s.injected["\(s.rules[i].site)", default: 0] += 1
            let e = s.rules[i].errno
            if s.rules[i].remaining == 0 { s.rules.remove(at: i) }
            return e
        }
    }

    /// Records the site ring `ring` is about to enter for (its ring thread, just before).
    func entering(_ site: SubmitSite, ring: Int) {
        state.withLock { $0.currentSites[ring] = site.rawValue }
    }

    /// The kernel's system calls for ring `ring`, with `io_uring_enter` consulting this
    /// injector first.
    func systemCalls(ring: Int) -> RingSystemCalls {
        var calls = RingSystemCalls.kernel
        let real = calls.enter
        calls.enter = { [self] fd, toSubmit, minComplete, flags, arg, size in
            let site = SubmitSite(rawValue: state.withLock { $0.currentSites[ring] ?? 0 })
            if let errno = take(site, ring: ring) { return -errno }
            return real(fd, toSubmit, minComplete, flags, arg, size)
        }
        return calls
    }
}
