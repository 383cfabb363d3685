internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The I/O backend a runtime's rings use (README, *Backends*).
///
/// - ``ioUring``: completion-based I/O through io_uring (Linux 5.11 or later, where the system
///   allows it). The fast path, and the only one with provided-buffer rings, zero-copy sends,
///   linked timeouts and `MSG_RING` wakes in the kernel.
/// - ``portable``: epoll readiness for sockets and pipes, worker threads for files and paths,
///   for where io_uring is refused (Docker's and containerd's default seccomp profiles, gVisor,
///   `kernel.io_uring_disabled`). Same API, same contract.
/// - ``automatic``: io_uring when a probe (a ring set up and one `NOP` completed, under the
///   live seccomp policy) succeeds, else portable.
///
/// The environment variable `SPOOL_BACKEND` (`io_uring`, `portable` or `automatic`) overrides a
/// configuration that leaves the choice at ``automatic``: operators force a backend without a
/// rebuild. A plain value: `Sendable`, usable from any thread.
public enum Backend: String, Sendable, CaseIterable, CustomStringConvertible {
    case automatic
    case ioUring = "io_uring"
    case portable

    public var description: String { rawValue }

    /// Parses an operator's spelling (`SPOOL_BACKEND`): `io_uring` (or `iouring`, `io-uring`, `uring`),
    /// `portable` (or `epoll`), `automatic` (or `auto`); case-insensitive. Nil for anything else.
    public init?(parsing text: String) {
        switch text.lowercased() {
        case "io_uring", "iouring", "io-uring", "uring": self = .ioUring
        case "portable", "epoll": self = .portable
        case "automatic", "auto": self = .automatic
        default: return nil
        }
    }

    /// The name of the environment variable that overrides ``Runtime/Configuration/backend``
    /// when it is ``automatic``.
    public static let environmentVariable = "SPOOL_BACKEND"
}

/// The backend a runtime chose, and why. A plain value: `Sendable`, usable from any thread;
/// a runtime's choice is fixed for its life (``Runtime/backend``).
public struct BackendChoice: Sendable, Equatable, CustomStringConvertible {
    /// ``Backend/ioUring`` or ``Backend/portable`` (never ``Backend/automatic``).
    public var backend: Backend
    /// One sentence: what decided it (the configuration, `SPOOL_BACKEND`, or the probe and
    /// what it found).
    public var reason: String

    public var description: String { "\(backend) (\(reason))" }

    /// Resolves `requested` as a runtime does: `SPOOL_BACKEND` (when `requested` is
    /// ``Backend/automatic``), then the probe.
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` for an unknown `SPOOL_BACKEND` value.
    ///
    /// Only ``Backend/automatic`` (after the environment) runs the probe: the first call in the
    /// process sets up a small ring and completes one `NOP` (at most 5 s), later calls reuse its
    /// answer. ``Backend/ioUring`` and ``Backend/portable`` touch no ring here. Any thread.
    public static func resolve(_ requested: Backend) throws(RuntimeError) -> BackendChoice {
        try resolve(requested, probe: { IOUringProbe.result })
    }

    static func resolve(_ requested: Backend, probe: () -> Result<Void, RuntimeError>) throws(RuntimeError) -> BackendChoice {
        try resolve(requested, environment: getenv(Backend.environmentVariable).map { String(cString: $0) }, probe: probe)
    }

    static func resolve(
        _ requested: Backend, environment: String?, probe: () -> Result<Void, RuntimeError> = { IOUringProbe.result }
    ) throws(RuntimeError) -> BackendChoice {
        var wanted = requested
        var source = "configured"
        if requested == .automatic, let value = environment, !value.isEmpty {
            guard let parsed = Backend(parsing: value) else {
                throw .invalidArgument("\(Backend.environmentVariable)=\(value) is not a backend: use io_uring, portable or automatic")
            }
            wanted = parsed
            source = "\(Backend.environmentVariable)=\(value)"
        }
        switch wanted {
        case .ioUring: return BackendChoice(backend: .ioUring, reason: "\(source)")
        case .portable: return BackendChoice(backend: .portable, reason: "\(source)")
        case .automatic:
            switch probe() {
            case .success:
                return BackendChoice(backend: .ioUring, reason: "automatic: io_uring is usable here")
            case .failure(.unavailable(let errno, let reason)):
                return BackendChoice(backend: .portable, reason: "automatic: io_uring is unavailable here\(errno.map { " (\($0))" } ?? ""): \(reason)")
            case .failure(let error):
                return BackendChoice(backend: .portable, reason: "automatic: io_uring is unavailable here: \(error)")
            }
        }
    }
}

/// Whether io_uring works in this process: a ring set up and one `NOP` submitted and completed,
/// under the live seccomp policy (a policy may allow the setup and refuse the enter). Probed
/// once per process; the answer is kept.
///
/// A namespace: thread-safe.
enum IOUringProbe {
    static let result: Result<Void, RuntimeError> = probe(systemCalls: .kernel)

    static func probe(systemCalls: RingSystemCalls) -> Result<Void, RuntimeError> {
        do throws(RingError) {
            let ring = try Ring(options: RingOptions(submissionEntries: 2), systemCalls: systemCalls)
            guard ring.features.contains(.extendedArgument) else {
                return .failure(.unavailable(.noFunction, reason: IOURingReactor.extendedArgumentAdvice))
            }
            guard let sqe = ring.nextSubmission() else { return .failure(.unavailable(.resourceTemporarilyUnavailable, reason: "the probe ring had no free entry")) }
            sqe.prepareNop()
            sqe.userData = 0x5B001
            try ring.submit(waitingFor: 1, timeout: .seconds(5))
            var seen = false
            ring.reapCompletions { c in if c.userData == 0x5B001 { seen = true } }
            return seen ? .success(()) : .failure(.unavailable(.timedOut, reason: "a NOP submitted to io_uring did not complete within 5 s"))
        } catch {
            return .failure(RuntimeError(error))
        }
    }
}
