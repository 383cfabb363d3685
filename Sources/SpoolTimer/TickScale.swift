/// Maps time to a ``TimingWheel``'s ticks: a tick length and an origin, with rounding chosen
/// so that no timer fires early.
///
/// A deadline is rounded *up* to a tick (``deadlineTick(after:)``), the clock's reading
/// *down* (``currentTick(after:)``): a timer fires only once the reading has reached its
/// deadline tick, so never before its deadline and at most one tick after it, if the wheel is
/// advanced promptly. A plain value: `Sendable`.
public struct TickScale: Sendable, Hashable {
    /// The length of one tick (default 1 ms).
    public let tick: Duration
    private let tickNanoseconds: UInt64

    /// One-millisecond ticks: the default of Spool's rings.
    public static let milliseconds = TickScale(validated: .milliseconds(1))

    private init(validated tick: Duration) {
        self.tick = tick
        tickNanoseconds = Self.nanoseconds(tick)
    }

    /// Creates a scale; `tick` must be at least 1 µs and at most 1 s.
    /// - Throws: ``TimerError/invalidTick(_:)`` otherwise.
    public init(tick: Duration = .milliseconds(1)) throws(TimerError) {
        guard tick >= .microseconds(1), tick <= .seconds(1) else { throw .invalidTick(tick) }
        self.tick = tick
        tickNanoseconds = Self.nanoseconds(tick)
    }

    /// The tick by which `offset` (time since the origin) has passed, rounded up. Negative
    /// offsets are tick 0; offsets beyond the tick range are the last tick (`UInt64.max`).
    public func deadlineTick(after offset: Duration) -> UInt64 {
        guard offset > .zero else { return 0 }
        guard offset < Self.beyondRange else { return .max }
        let (q, r) = Self.divide(offset, by: tickNanoseconds)
        return r > 0 ? (q == .max ? .max : q + 1) : q
    }

    /// The last tick that has fully begun at `offset` (time since the origin), rounded down.
    public func currentTick(after offset: Duration) -> UInt64 {
        guard offset > .zero else { return 0 }
        guard offset < Self.beyondRange else { return .max }
        return Self.divide(offset, by: tickNanoseconds).quotient
    }

    /// The time from the origin to the start of `tick`.
    public func offset(of tick: UInt64) -> Duration {
        let (high, low) = tick.multipliedFullWidth(by: tickNanoseconds)
        if high > 0 || low > UInt64(Int64.max) { return .seconds(Int64.max / 1_000_000_000) }
        return .nanoseconds(Int64(low))
    }

    /// Offsets from here on are past the last tick of any scale (and `Duration.components`
    /// cannot express them: more seconds than `Int64` holds).
    private static let beyondRange: Duration = .seconds(Int64.max / 2)

    private static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, a) = d.components
        return UInt64(max(0, s)) &* 1_000_000_000 &+ UInt64(max(0, a / 1_000_000_000))
    }

    /// `offset / tick` in whole ticks, saturating; and whether there was a remainder.
    private static func divide(_ offset: Duration, by tick: UInt64) -> (quotient: UInt64, remainder: UInt64) {
        let (s, a) = offset.components
        let seconds = UInt64(max(0, s))
        let nanos = UInt64(max(0, a / 1_000_000_000))
        let attoRemainder = a % 1_000_000_000
        // total = seconds * 1e9 + nanos, as a 128-bit product to avoid overflow.
        let (high, low) = seconds.multipliedFullWidth(by: 1_000_000_000)
        let (sumLow, carry) = low.addingReportingOverflow(nanos)
        let sumHigh = high &+ (carry ? 1 : 0)
        if sumHigh >= tick { return (.max, 0) }
        let (q, r) = tick.dividingFullWidth((sumHigh, sumLow))
        return (q, r > 0 || attoRemainder > 0 ? 1 : 0)
    }
}

/// Errors of the timer layer. A plain value: `Sendable`.
public enum TimerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A tick length outside 1 µs ... 1 s.
    case invalidTick(Duration)

    public var description: String {
        switch self {
        case .invalidTick(let d): return "a timer tick must be between 1 µs and 1 s (got \(d))"
        }
    }
}
