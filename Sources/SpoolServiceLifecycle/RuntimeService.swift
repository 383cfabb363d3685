import Logging
import ServiceLifecycle
import Spool

/// A Spool ``Runtime`` as a `Service` of swift-service-lifecycle: put it in a `ServiceGroup`
/// and the group's graceful shutdown (SIGTERM, SIGINT, or another service ending) shuts the
/// runtime down gracefully.
///
/// ```swift
/// let runtime = try Runtime()
/// let group = ServiceGroup(
///     services: [RuntimeService(runtime, gracePeriod: .seconds(10)), MyServer(runtime: runtime)],
///     gracefulShutdownSignals: [.sigterm, .sigint],
///     logger: logger)
/// try await group.run()
/// ```
///
/// A group shuts its services down in reverse order, so list the runtime *first*: the
/// services that use it get their graceful shutdown (and may finish their work on it) before
/// the runtime gets its own.
///
/// - On graceful shutdown: ``Runtime/shutdownAndWait(gracePeriod:)`` with ``gracePeriod``
///   (the runtime's draining phase: new tasks and accepts are refused, running work has the
///   grace period to finish, then the rest is cancelled; see ``ShutdownPhase``).
/// - On cancellation (the group's cancellation signals, its graceful-shutdown timeout, or a
///   service failing) — before or during that grace period: the runtime's grace period ends
///   at once and the rest is cancelled.
/// - ``run()`` returns once the runtime has finished shutting down.
///
/// **Thread-safety:** a plain value holding the runtime: `Sendable`. **Lifetime:** the service
/// does not own the runtime beyond shutting it down.
public struct RuntimeService: Service, Sendable {
    /// The runtime this service shuts down.
    public let runtime: Runtime
    /// How long running work may go on after the graceful shutdown begins.
    public let gracePeriod: Duration

    /// A service for `runtime`, shutting it down with `gracePeriod` (default 10 s).
    public init(_ runtime: Runtime, gracePeriod: Duration = .seconds(10)) {
        self.runtime = runtime
        self.gracePeriod = gracePeriod
    }

    /// Waits for the graceful shutdown (or cancellation), then shuts the runtime down.
    public func run() async throws {
        let (runtime, gracePeriod) = (self.runtime, self.gracePeriod)
        await withTaskCancellationHandler {
            let graceful = (try? await gracefulShutdown()) != nil
            await runtime.shutdownAndWait(gracePeriod: graceful && !Task.isCancelled ? gracePeriod : .zero)
        } onCancel: {
            runtime.beginShutdown(gracePeriod: .zero)  // cuts a grace period in progress short
        }
    }
}
