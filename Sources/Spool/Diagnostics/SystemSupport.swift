internal import SpoolRing
import SystemPackage

/// What this machine offers Spool: the kernel, and whether (and how well) io_uring works here.
///
/// Use it to fail early with a clear message, or to show users what Spool found
/// (`spool info` prints it). Creating a report sets up one small ring and closes it again.
/// A plain value: `Sendable`.
public struct SystemSupport: Sendable {
    /// The kernel release (`uname -r`), e.g. `"6.18.4"`.
    public var kernelRelease: String
    /// The machine architecture (`uname -m`).
    public var machine: String
    /// What the io_uring check found (a ring set up, and one `NOP` completed through it).
    public var ioUring: IOUringStatus
    /// The backend a runtime with the default configuration would use here (after
    /// `SPOOL_BACKEND`), and why; or the error such a runtime would fail with (an unknown
    /// `SPOOL_BACKEND` value, or io_uring forced where it is refused). Part of the plain value:
    /// `Sendable`.
    public var backend: Result<BackendChoice, RuntimeError>

    /// The outcome of trying to create an io_uring.
    public enum IOUringStatus: Sendable {
        /// io_uring works; the details describe a ring set up with Spool's defaults.
        case available(IOUringDetails)
        /// io_uring is refused or failed; `reason` is one sentence telling the user what to change.
        case unavailable(errno: Errno?, reason: String)
    }

    /// Facts about a ring created with Spool's default options.
    public struct IOUringDetails: Sendable {
        /// Submission and completion queue sizes.
        public var submissionEntries: Int, completionEntries: Int
        /// Setup flags Spool asked for, and those in effect (kernel names, e.g. `DEFER_TASKRUN`).
        public var requestedFlags: [String], activeFlags: [String]
        /// Kernel feature bits (kernel names, e.g. `NODROP`).
        public var features: [String]
        /// Operations this kernel supports, and those Spool knows that it does not (kernel names).
        public var supportedOperations: [String], unsupportedOperations: [String]
        /// Whether the ring's descriptor could be registered (saves a lookup per system call).
        public var registeredRingDescriptor: Bool
    }

    /// Inspects this machine.
    public static func current() -> SystemSupport {
        inspect(systemCalls: .kernel, probe: IOUringProbe.result)
    }

    static func inspect(systemCalls: RingSystemCalls, probe: Result<Void, RuntimeError>? = nil) -> SystemSupport {
        let probe = probe ?? IOUringProbe.probe(systemCalls: systemCalls)
        var uts = utsname()
        uname(&uts)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        var status: IOUringStatus
        do {
            let ring = try Ring(options: RingOptions(), systemCalls: systemCalls)
            let known = Set(Opcode.allKnown)
            let supported = ring.supportedOperations
            status = .available(IOUringDetails(
                submissionEntries: ring.submissionQueueCapacity,
                completionEntries: ring.completionQueueCapacity,
                requestedFlags: names(RingOptions().flags.description),
                activeFlags: names(ring.activeFlags.description),
                features: names(ring.features.description),
                supportedOperations: supported.map(\.name),
                unsupportedOperations: known.subtracting(supported).sorted().map(\.name),
                registeredRingDescriptor: ring.registeredRingIndex != nil))
            if case .failure(let error) = probe {
                // The ring was made, but the probe's NOP did not complete (a policy that allows the
                // setup and refuses the enter).
                if case .unavailable(let errno, let reason) = error {
                    status = .unavailable(errno: errno, reason: reason)
                } else {
                    status = .unavailable(errno: nil, reason: "\(error)")
                }
            }
        } catch .unavailable(let errno, let advice) {
            status = .unavailable(errno: errno, reason: advice)
        } catch {
            status = .unavailable(errno: error.errno, reason: "\(error); io_uring cannot be used here.")
        }
        let backend: Result<BackendChoice, RuntimeError>
        do throws(RuntimeError) {
            let choice = try BackendChoice.resolve(.automatic, probe: { probe })
            if choice.backend == .ioUring, case .unavailable(let errno, let reason) = status {
                // Forced by SPOOL_BACKEND where io_uring is refused: a runtime would fail so.
                throw RuntimeError.unavailable(errno, reason: reason)
            }
            backend = .success(choice)
        } catch {
            backend = .failure(error)
        }
        return SystemSupport(kernelRelease: field(uts.release), machine: field(uts.machine), ioUring: status, backend: backend)
    }

    private static func names(_ joined: String) -> [String] {
        joined == "none" ? [] : joined.split(separator: "|").map(String.init)
    }
}

#if canImport(Glibc)
import Glibc
#endif
