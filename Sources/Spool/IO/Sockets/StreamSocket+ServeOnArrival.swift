extension StreamSocket {
    /// Serves this stream's receives into `pool` with no task while it is idle: `body` runs
    /// in a task that the ring starts when buffers arrive and that ends when none is queued.
    /// For servers that hold many idle connections: an idle one costs its stream, the armed
    /// receive and its ring slot (0.7 KiB on io_uring, 0.95 on the portable backend; see
    /// *Running a server in production* in the README), not a suspended task. (On io_uring a
    /// connection that finds its pool dry waits for a buffer in a task, as any receive would.)
    ///
    /// ```swift
    /// try await listener.acceptConnections { connection in
    ///     try connection.serveOnArrival(from: pool) { connection, buffer in
    ///         try await connection.write(taking: buffer)
    ///     }
    /// }
    /// ```
    ///
    /// `body` gets the stream (borrowed: it may read, write and set options, not close it) and
    /// each buffer, in order, one call at a time, on the pool's ring. Backpressure is that of
    /// ``receiveBuffers(from:maximumQueued:_:)``: at most `maximumQueued` filled buffers wait
    /// for `body`, and a `body` that waits (an owned send behind a peer that does not read)
    /// keeps its task until it returns.
    ///
    /// The stream ends when the peer closes it, when `body` throws, when a receive fails, or when
    /// the ring stops (the runtime's shutdown; a graceful one lets a `body` already running
    /// finish in its grace period, and an idle stream ends when the rings stop). Then its
    /// request has ended, `onEnd` is called with nil (the peer closed it) or the error, and the
    /// stream is dropped: its descriptor closes (after owned sends still in the kernel).
    ///
    /// **Thread-safety:** `consuming`: the runtime owns the stream from here. `body` and `onEnd`
    /// are called from a detached task started on the pool's ring (no task-locals of the
    /// caller's; one that starts just as the ring stops runs on the global executor), one call
    /// at a time. Where no task can start (the ring stopped or broke), `onEnd` is called on the
    /// thread that saw it: the ring thread, or the caller of `serveOnArrival` itself when the
    /// ring was not running. **Lifetime:** the runtime holds the stream, `body` and `onEnd`
    /// until the stream ends; nothing else has to.
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` for `maximumQueued` below 1 (the stream is
    ///   then dropped, closing its descriptor).
    /// - Parameters:
    ///   - pool: the buffers the kernel fills (on the same runtime).
    ///   - maximumQueued: filled buffers that may wait for `body` before the request pauses
    ///     (at least 1; default 8).
    ///   - body: called with the stream and each filled buffer.
    ///   - onEnd: told why the stream ended (nil: the peer closed it).
    public consuming func serveOnArrival(
        from pool: BufferPool, maximumQueued: Int = 8,
        _ body: @escaping @Sendable (borrowing StreamSocket, consuming ReceivedBuffer) async throws -> Void,
        onEnd: (@Sendable ((any Error)?) -> Void)? = nil
    ) throws(RuntimeError) {
        guard maximumQueued >= 1 else { throw RuntimeError.invalidArgument("maximumQueued must be at least 1 (got \(maximumQueued))") }
        ArrivalReceiver(socket: self, pool: pool, maximumQueued: maximumQueued, body: body, onEnd: onEnd).start()
    }
}
