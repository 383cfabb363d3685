/// A `Clock` whose sleeps wait on a Spool ring's timing wheel.
///
/// It reads time like `ContinuousClock` (its `Instant` *is* `ContinuousClock.Instant`, so the
/// two mix freely), but `sleep(until:tolerance:)` arms a timer on the ring of the calling task
/// (or hops onto one of the runtime's rings): thousands of sleeps cost one kernel wait, the
/// sleeper resumes on the ring thread, and it plugs into anything generic over `Clock`
/// (`AsyncTimerSequence`, `debounce`, test clocks).
///
/// - A sleep never ends before its deadline and ends within about a tick (1 ms) after it.
/// - A deadline in the past (a negative duration) returns at once, after a trip through the
///   ring; a deadline beyond the wheel's range sleeps until cancelled or shut down.
/// - Cancelling the task removes the timer at once and throws `CancellationError`.
/// - When the runtime shuts down (or the ring breaks) every sleeper resumes at once with
///   ``RuntimeError/shutdown`` (or ``RuntimeError/broken(_:)``).
///
/// A plain value: `Sendable`. It holds its runtime (or looks it up, as ``Runtime/current``,
/// when it sleeps).
public struct SpoolClock: Clock, Sendable {
    public typealias Instant = ContinuousClock.Instant
    public typealias Duration = Swift.Duration

    private let runtime: Runtime?

    /// A clock on `runtime`, or on the runtime of the calling context when `nil`.
    public init(runtime: Runtime? = nil) {
        self.runtime = runtime
    }

    /// The current instant (`ContinuousClock.now`).
    public var now: Instant { ContinuousClock.now }

    /// One tick of the rings' timing wheels (``Runtime/Configuration/timerTick``; 1 ms when
    /// the clock has no runtime of its own).
    public var minimumResolution: Duration { runtime?.configuration.timerTick ?? .milliseconds(1) }

    /// Suspends until `deadline` on a ring's timing wheel; `tolerance` is ignored (the wheel's
    /// tick is the tolerance).
    /// - Throws: `CancellationError` if the task is cancelled, ``RuntimeError`` if the runtime
    ///   shuts down, its ring breaks, or there is no runtime.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let runtime = try runtime ?? Runtime.requireCurrent()
        switch await runtime.perform(.timer(deadline: StoredInstant(deadline))) {
        case .completed: return
        case .cancelled, .timedOut: throw CancellationError()
        case .shutdown: throw RuntimeError.shutdown
        case .broken(let e), .brokenInFlight(let e): throw RuntimeError.broken(e)
        }
    }
}
