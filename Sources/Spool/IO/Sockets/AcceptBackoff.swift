import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How an accept loop rides out failures that are not the listener's: the process or the
/// system out of descriptors or memory, a connection that died in the backlog.
///
/// - **Resource failures** (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, and an LSM's `EPERM`)
///   leave the connection in the backlog, so retrying at once would fail at once: the loop
///   waits on its ring's timing wheel, 10 ms after the first failure, doubling to 1 s, and
///   retries. Existing connections are served meanwhile; new ones wait in the kernel's backlog.
/// - **Connection failures** (`ECONNABORTED`, and the network errors `accept(2)` passes on
///   from the new socket: `EPROTO`, `ENETDOWN`, `EHOSTUNREACH` …) consumed that connection:
///   the loop goes on at once.
/// - Anything else (`EBADF`, `EINVAL`, `ENOTSOCK` …) is the listener's own fault and is thrown.
///
/// An *episode* is a run of resource failures ended by the next accepted connection: its
/// start is logged once (a warning through ``Runtime/Configuration/logger``, with the errno
/// and the listener's address) and counted in the ring's `spool_accept_backoffs_total`
/// metric; its end is logged with the number of failures and how long it lasted.
///
/// **Thread-safety:** a plain value owned by one accept loop. **Lifetime:** the loop's.
struct AcceptBackoff {
    /// What a failed accept means for the loop.
    enum Verdict: Equatable {
        /// Wait this long, then accept again.
        case wait(Duration)
        /// Accept again at once.
        case retry
        /// Not transient: throw it.
        case fatal
    }

    static let firstDelay: Duration = .milliseconds(10)
    static let longestDelay: Duration = .seconds(1)

    let address: SocketAddress
    let ring: RingExecutor
    private var delay: Duration = .zero
    private var failures = 0
    private var since: ContinuousClock.Instant? = nil

    init(address: SocketAddress, ring: RingExecutor) {
        self.address = address
        self.ring = ring
    }

    /// Whether `errno` leaves the connection queued and the condition lasting (wait), takes
    /// one connection with it (retry), or is the listener's own (fatal).
    static func classify(_ errno: Errno) -> Verdict {
        switch errno.rawValue {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM:
            return .wait(firstDelay)
        case ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, ENETUNREACH,
            ETIMEDOUT, EINTR, EAGAIN, ECONNRESET:
            return .retry
        default:
            return .fatal
        }
    }

    /// An accept failed with `errno`: what to do next. Starts (and logs, and counts) an
    /// episode at the first resource failure; doubles the wait at each further one.
    mutating func failed(_ errno: Errno) -> Verdict {
        let verdict = Self.classify(errno)
        guard case .wait = verdict else { return verdict }
        failures += 1
        ring.acceptBackoffWaits.add(1, ordering: .relaxed)
        if since == nil {
            since = .now
            delay = Self.firstDelay
            ring.acceptBackoffEpisodes.add(1, ordering: .relaxed)
            ring.metrics?.acceptBackoffs.increment()
            ring.logger.warning(
                "Spool: accept on \(address) failed with \(errno) (errno \(errno.rawValue)); pausing accepts (\(Self.firstDelay) at first, up to \(Self.longestDelay)) while existing connections are served. \(Self.advice(errno))",
                metadata: ["ring": "\(ring.index)", "listener": "\(address)", "errno": "\(errno.rawValue)"])
        } else {
            delay = min(delay * 2, Self.longestDelay)
        }
        return .wait(delay)
    }

    /// A connection was accepted: ends the episode, if one was under way.
    mutating func succeeded() {
        guard let start = since else { return }
        ring.logger.notice(
            "Spool: accepts on \(address) resumed after \(failures) failed attempt(s) over \(start.duration(to: .now))",
            metadata: ["ring": "\(ring.index)", "listener": "\(address)"])
        since = nil
        failures = 0
        delay = .zero
    }

    private static func advice(_ errno: Errno) -> String {
        switch errno.rawValue {
        case EMFILE: return "The process is at its descriptor limit: raise RLIMIT_NOFILE (ulimit -n) or cap connections."
        case ENFILE: return "The system is at its descriptor limit (fs.file-max)."
        case ENOBUFS, ENOMEM: return "The kernel is short of memory for sockets."
        default: return "A security module refused the accept."
        }
    }

    /// Waits `delay` on the ring's timing wheel (the task stays cancellable; a shutdown ends
    /// the wait with ``RuntimeError``).
    nonisolated(nonsending) static func pause(_ delay: Duration, runtime: Runtime) async throws {
        try await SpoolClock(runtime: runtime).sleep(until: .now + delay)
    }
}
