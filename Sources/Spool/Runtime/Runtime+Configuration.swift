internal import SpoolRing
import CoreMetrics
import Logging

#if canImport(Glibc)
import Glibc
#endif

extension Runtime {
    /// How to build a runtime. A plain value: `Sendable`.
    public struct Configuration: Sendable {
        /// Ring threads, each owning one io_uring and running the tasks placed on it.
        /// 1...1024; default: one per core the process may run on (``Runtime/Configuration/coreCount``).
        public var ringCount: Int
        /// Whether ring *i* is pinned to the *i*-th core the process may run on (modulo their
        /// number): steadier latency and caches when the machine runs little else; leave it
        /// off (the default) where the cores are shared. Pinning that the system refuses is
        /// logged and ignored.
        public var pinsRingsToCores: Bool = false
        /// Whether a ring wakes a parked sibling with `IORING_OP_MSG_RING`, sent with its own
        /// next submit (default `true`, where the kernel has it: Linux 5.18), rather than by
        /// writing the sibling's eventfd (one system call per wake). Threads that are not ring
        /// threads always use the eventfd. For measurements; see Benchmarks/README.md.
        public var wakesSiblingsWithMessageRing: Bool = true
        /// How long ``Runtime/shutdown(gracePeriod:)`` waits, after the grace period, for the
        /// rings to drain their cancelled requests before it returns anyway (the rings then
        /// finish in the background and are reported). 0 ... 1 hour; default 5 s.
        public var shutdownDrainLimit: Duration = .seconds(5)
        /// Requests one ring can take from the runtime before it must hand them to the kernel
        /// (the submission-queue size: 2...32768, rounded up to a power of two; an operation
        /// with a timeout takes two).
        public var submissionEntries: UInt32
        /// Completions one ring can hold before the runtime collects them; `nil`: twice
        /// `submissionEntries`.
        public var completionEntries: UInt32?
        /// Operations one ring keeps in the kernel at once; callers past it wait FIFO.
        /// `nil`: the completion capacity. Socket operations that wait on a peer (accept,
        /// connect, send, receive) do not count: they can wait indefinitely and depend on each
        /// other, so capping them could deadlock; each still yields one completion, and what
        /// the CQ cannot hold the kernel keeps (no-drop overflow) until the ring drains it.
        public var inFlightLimit: Int?
        /// The tick of each ring's timing wheel: timers fire at most this long after their
        /// deadline (never before). 1 µs ... 1 s; default 1 ms.
        public var timerTick: Duration = .milliseconds(1)
        /// Where the runtime reports what operators must know (a ring that broke, at error
        /// level). Default: a logger that discards everything.
        public var logger: Logger
        /// Whether a call may finish without suspending its task when the work is already
        /// done (default `true`; README, *The fast path*): a positional read of a buffered
        /// file is first tried against the page cache (`preadv2` with `RWF_NOWAIT`, which
        /// never waits for the device), and a call made on a ring with no other task ready
        /// is submitted at once and its completion collected before the task would suspend.
        /// `false`: every call goes through the ring and suspends (for measurements, or to
        /// keep every request visible to the kernel's io_uring tracing). The setting belongs to
        /// the runtime's rings and the files it opens: a call made from a ring thread of another
        /// runtime follows that ring's setting.
        public var inlineCompletion: Bool = true
        /// Stream sends of at least this many bytes use zero-copy (`IORING_OP_SEND_ZC`): the
        /// kernel sends from your buffer instead of copying it, and the call returns once the
        /// kernel has released the buffer (its notification). `nil`: never. Ignored where the
        /// kernel lacks `SEND_ZC` (before Linux 6.0). Default: `nil`, because on loopback and
        /// virtual interfaces the kernel copies anyway and the extra completion only costs
        /// (Benchmarks/README.md, *Zero-copy sends*, has the measurement); set it (64 KiB is a
        /// common choice) for large sends over a real NIC.
        public var zeroCopySendThreshold: Int? = nil
        /// Threads of the blocking pool (``Runtime/spawnBlocking(_:)``), started on demand.
        /// 1...4096; default: twice the cores, at least 4.
        public var blockingThreads: Int = min(4096, max(4, 2 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        /// Jobs that may wait for a blocking-pool thread (a job a free thread takes at once
        /// does not count); one more is refused with ``RuntimeError/blockingPoolFull(limit:)``.
        /// 0 (run now or refuse)...1,000,000; default 1,024.
        public var blockingQueueLimit: Int = 1024
        /// How often each ring publishes its counters and gauges through swift-metrics
        /// (README, *Observing a runtime*, lists them); `nil`: no metrics. Default 1 s. A ring
        /// publishes when it is about to park (or every 1,024 loop passes if it never parks),
        /// so its operations never call the metrics backend.
        public var metricsInterval: Duration? = .seconds(1)
        /// Where the metrics go; `nil` (the default): the process's `MetricsSystem.factory` as
        /// it is when the runtime is created — bootstrap the backend (Prometheus, StatsD,
        /// OpenTelemetry) before creating the runtime; a runtime created before that reports to
        /// the no-op default for its whole life.
        public var metricsFactory: (any MetricsFactory)? = nil
        /// Dimensions added to every metric of this runtime, after `ring` (for example
        /// `[("runtime", "ingest")]`). Default: none — then two runtimes of one process report
        /// into the same series (a stopping one leaves its gauges at zero), so give each its own
        /// when a process runs several. The key `ring` is refused.
        public var metricsDimensions: [(String, String)] = []
        /// The stall detector: when set, a watchdog thread logs a warning (through ``logger``)
        /// when a ring's loop has not come back to the kernel for longer than this — a task
        /// blocking its ring. `nil` (the default): off, and no watchdog thread. 100 ms is a
        /// reasonable choice for a server; 1 ms ... 1 hour.
        public var stallThreshold: Duration? = nil
        /// The I/O backend: ``Backend/automatic`` (the default) uses io_uring where a probe
        /// finds it usable and the portable backend (epoll and worker threads) where it is
        /// refused; ``Backend/ioUring`` fails where io_uring is refused, with the sentence saying
        /// what to change; ``Backend/portable`` never touches io_uring. The environment
        /// variable `SPOOL_BACKEND` overrides ``Backend/automatic`` (README, *Backends*).
        /// ``Runtime/backend`` says what was chosen and why. Read once, when the runtime is
        /// created (a plain value, like the rest of the configuration).
        public var backend: Backend = .automatic
        /// Injected `io_uring_enter` failures (tests only).
        var faults: SubmitFaultInjector? = nil

        /// Creates a configuration.
        public init(
            ringCount: Int = Configuration.coreCount, submissionEntries: UInt32 = 256, completionEntries: UInt32? = nil,
            inFlightLimit: Int? = nil, logger: Logger = Runtime.quietLogger
        ) {
            self.ringCount = ringCount
            self.submissionEntries = submissionEntries
            self.completionEntries = completionEntries
            self.inFlightLimit = inFlightLimit
            self.logger = logger
        }
    }
}

extension Runtime.Configuration {
    /// The cores the process may run on (its CPU affinity), at least 1.
    public static var coreCount: Int { max(1, CPUAffinity.allowedCores().count) }
}
