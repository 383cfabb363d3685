/// The work given to ``withTimeout(_:runtime:_:)`` or ``withDeadline(_:runtime:_:)`` did not
/// finish in time; it was cancelled, and had finished (thrown or returned, its result
/// discarded) before this was thrown. A plain value: `Sendable`.
public struct TimeoutError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The deadline that passed.
    public var deadline: ContinuousClock.Instant

    public var description: String { "the operation timed out" }
}

/// Runs `body` with a time limit: returns its result if it finishes within `timeout`;
/// otherwise cancels it, **waits for it to finish**, and throws ``TimeoutError``.
///
/// The timer is on a ring's timing wheel (``SpoolClock``). Because the body runs as a child
/// task, it must be `@Sendable`: open or share what it uses (a ``SharedFile``) rather than
/// capture a `~Copyable` handle. Errors the body throws (other than the cancellation that a
/// timeout causes) are rethrown unchanged.
public func withTimeout<T: Sendable>(
    _ timeout: Duration, runtime: Runtime? = nil, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withDeadline(ContinuousClock.now.advanced(by: timeout), runtime: runtime, body)
}

/// Runs `body` until `deadline`: like ``withTimeout(_:runtime:_:)`` with an instant.
public func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, runtime: Runtime? = nil, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let clock = SpoolClock(runtime: try runtime ?? Runtime.requireCurrent())  // no runtime: fail before starting the body
    return try await withThrowingTaskGroup(of: RaceOutcome<T>.self) { group in
        group.addTask { .finished(try await body()) }
        group.addTask {
            try await clock.sleep(until: deadline)
            return .timedOut
        }
        do {
            guard let first = try await group.next() else { throw TimeoutError(deadline: deadline) }
            group.cancelAll()
            switch first {
            case .finished(let value):
                return value
            case .timedOut:
                // Cancel the work and wait for it before reporting.
                while let _ = try? await group.next() {}
                throw TimeoutError(deadline: deadline)
            }
        } catch let error as TimeoutError {
            throw error
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// Which side of a timeout race finished first.
private enum RaceOutcome<T: Sendable>: Sendable {
    case finished(T)
    case timedOut
}
