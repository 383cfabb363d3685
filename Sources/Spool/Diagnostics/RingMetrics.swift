import CoreMetrics

/// One ring's counters and gauges in swift-metrics, labelled `spool_…` with the dimension
/// `ring` = its index.
///
/// The loop counts in plain integers (``LoopStatistics``) and publishes the change since the
/// last publication at most once per ``Runtime/Configuration/metricsInterval``, when it is
/// about to park (and every 1,024 passes while it never parks): the hot path never calls a
/// metrics backend.
///
/// | Label | Kind | Meaning |
/// |---|---|---|
/// | `spool_operations_submitted_total` | counter | operations whose entry went into the SQ |
/// | `spool_operations_completed_total` | counter | operations whose final completion was reaped |
/// | `spool_operations_in_flight` | gauge | operations in the kernel |
/// | `spool_operations_waiting` | gauge | operations waiting for admission (cap or SQ room) |
/// | `spool_submission_queue_full_total` | counter | times an entry found the SQ full |
/// | `spool_wakes_sent_total` | counter | sibling rings this ring woke (`MSG_RING` or eventfd) |
/// | `spool_wakes_received_total` | counter | wakes this ring received while parked |
/// | `spool_timers_armed` | gauge | sleeps and scheduled actions on the ring's timing wheels |
/// | `spool_stalls_total` | counter | stalls the stall detector reported |
/// | `spool_accept_backoffs_total` | counter | accept back-off episodes (`EMFILE` …, see the README's "Running a server in production") |
///
/// **Thread-safety:** ring thread only (the stall counter: the watchdog thread; the accept
/// back-off counter: the accept loop's thread; swift-metrics
/// handlers are thread-safe). **Lifetime:** the ring's.
final class RingMetrics: @unchecked Sendable {  // published from one thread at a time
    let submitted, completed, submissionQueueFull, wakesSent, wakesReceived, stalls, acceptBackoffs: Counter
    let inFlight, waiting, timersArmed: Gauge
    /// What was published last (the counters take differences).
    private var last = (submitted: 0, completed: 0, full: 0, sent: 0, received: 0)

    init(ring: Int, factory: any MetricsFactory, dimensions extra: [(String, String)] = []) {
        let d = [("ring", "\(ring)")] + extra
        submitted = Counter(label: "spool_operations_submitted_total", dimensions: d, factory: factory)
        completed = Counter(label: "spool_operations_completed_total", dimensions: d, factory: factory)
        submissionQueueFull = Counter(label: "spool_submission_queue_full_total", dimensions: d, factory: factory)
        wakesSent = Counter(label: "spool_wakes_sent_total", dimensions: d, factory: factory)
        wakesReceived = Counter(label: "spool_wakes_received_total", dimensions: d, factory: factory)
        stalls = Counter(label: "spool_stalls_total", dimensions: d, factory: factory)
        acceptBackoffs = Counter(label: "spool_accept_backoffs_total", dimensions: d, factory: factory)
        inFlight = Gauge(label: "spool_operations_in_flight", dimensions: d, factory: factory)
        waiting = Gauge(label: "spool_operations_waiting", dimensions: d, factory: factory)
        timersArmed = Gauge(label: "spool_timers_armed", dimensions: d, factory: factory)
    }

    /// Publishes the ring's state (ring thread).
    func publish(_ state: MetricsState) {
        submitted.increment(by: state.submitted - last.submitted)
        completed.increment(by: state.completed - last.completed)
        submissionQueueFull.increment(by: state.submissionQueueFull - last.full)
        wakesSent.increment(by: state.wakesSent - last.sent)
        wakesReceived.increment(by: state.wakesReceived - last.received)
        last = (state.submitted, state.completed, state.submissionQueueFull, state.wakesSent, state.wakesReceived)
        inFlight.record(state.inFlight)
        waiting.record(state.waiting)
        timersArmed.record(state.timers)
    }
}

/// What a ring publishes: counters since it started, gauges now. A plain value.
struct MetricsState: Equatable {
    var submitted = 0, completed = 0, submissionQueueFull = 0, wakesSent = 0, wakesReceived = 0
    var inFlight = 0, waiting = 0, timers = 0

    init() {}

    init(statistics s: LoopStatistics, wakesReceived: Int, inFlight: Int, waiting: Int, timers: Int) {
        (submitted, completed, submissionQueueFull, wakesSent) = (s.submitted, s.completed, s.submissionQueueFull, s.wakesSent)
        self.wakesReceived = wakesReceived
        self.inFlight = inFlight
        self.waiting = waiting
        self.timers = timers
    }
}

/// The blocking pool's gauges: `spool_blocking_pool_queued` (jobs waiting for a thread) and
/// `spool_blocking_pool_running`, recorded as they change (a job costs a thread handoff
/// anyway). **Thread-safety:** any thread.
struct BlockingPoolMetrics: Sendable {
    let queued: Gauge
    let running: Gauge

    init(factory: any MetricsFactory, dimensions: [(String, String)] = []) {
        queued = Gauge(label: "spool_blocking_pool_queued", dimensions: dimensions, factory: factory)
        running = Gauge(label: "spool_blocking_pool_running", dimensions: dimensions, factory: factory)
    }
}
