internal import SpoolRing
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension StreamSocket {
    /// Receives with one multishot request into buffers of `pool`, calling `body` with each
    /// filled buffer in order, until the peer closes its side (then it returns), the task is
    /// cancelled, or `body` throws. The kernel picks a free buffer per completion, so no
    /// memory is set aside per connection; the buffer goes back to the pool when the
    /// ``ReceivedBuffer`` is dropped (in `body` or wherever it was moved).
    ///
    /// ```swift
    /// try await connection.receiveBuffers(from: pool) { buffer in
    ///     try await connection.writeAll(buffer)
    /// }
    /// ```
    ///
    /// **Backpressure.** While `body` is busy, at most `maximumQueued` filled buffers wait for
    /// it; then the request pauses (it is cancelled and re-armed when `body` has taken them),
    /// so one slow connection cannot take a shared pool from the others, and its peer's sends
    /// wait in TCP's window. When every buffer of the pool is out, the kernel ends the
    /// request (`ENOBUFS`); it is re-armed only after a buffer comes back.
    ///
    /// Why a closure and not an `AsyncSequence`: see
    /// ``StreamListener/acceptConnections(_:)``. On return (any way), the request is cancelled;
    /// buffers it filled that `body` never got go back to the pool.
    ///
    /// - Throws: `CancellationError`; ``IOError`` (`recv`: `ECONNRESET`, …); what `body`
    ///   throws; ``RuntimeError`` when the runtime stops.
    /// - Parameters:
    ///   - pool: the buffers the kernel fills (on the same runtime).
    ///   - maximumQueued: filled buffers that may wait for `body` before the request pauses
    ///     (at least 1; default 8).
    ///   - body: called with each filled buffer, in order, on the caller's executor (it is
    ///     `nonisolated(nonsending)`: no executor hop per buffer, and it may use the caller's state).
    public nonisolated(nonsending) func receiveBuffers(
        from pool: BufferPool, maximumQueued: Int = 8, _ body: nonisolated(nonsending) (consuming ReceivedBuffer) async throws -> Void
    ) async throws {
        guard maximumQueued >= 1 else { throw RuntimeError.invalidArgument("maximumQueued must be at least 1 (got \(maximumQueued))") }
        let ring = pool.ring
        // The kernel itself stops each arm after `maximumQueued` buffers' worth of bytes, where
        // it can (Linux 6.16+); elsewhere the feed cancels the request at the bound.
        let (bytes, overflow) = maximumQueued.multipliedReportingOverflow(by: pool.bufferSize)
        let limit = overflow ? UInt32.max : UInt32(clamping: bytes)
        let feed = pool.receiveFeed(bound: maximumQueued) { [fd = descriptor.rawValue, group = pool.group] in
            .receiveMultishot(fd: fd, group: group, limit: Self.receiveLimitRefused.load(ordering: .relaxed) ? 0 : limit)
        }
        // The request must have ended before this returns: the caller may close the
        // descriptor next, and no entry naming it may be left in the ring.
        do {
            while true {
                switch try await pool.next(from: feed) {
                case .refused(let outcome):
                    _ = try outcome.value(IOErrorContext(operation: .receive, descriptor: descriptor))
                    throw RuntimeError.shutdown
                case .event(let event):
                    if event.result == -EINVAL && event.final && !Self.receiveLimitRefused.load(ordering: .relaxed) {
                        // This kernel has no byte limit for multishot receives: go on without it
                        // (the feed's cancel at the bound remains). An EINVAL with another
                        // cause comes back at once without the limit and is thrown then.
                        Self.receiveLimitRefused.store(true, ordering: .relaxed)
                        continue
                    }
                    switch PooledReceiveEvent(event, ring: ring, operation: .receive, descriptor: descriptor) {
                    case .buffer(let id, let result):
                        try await body(pool.lease(id, length: Int(max(result, 0))))
                    case .endOfStream:
                        await feed.stopAndWait()
                        return
                    case .failed(let error):
                        throw error
                    case .rearm, .none:
                        continue
                    }
                }
            }
        } catch {
            await feed.stopAndWait()
            throw error
        }
    }

    /// Set once a kernel refused a multishot receive's byte limit (`EINVAL`, before Linux 6.16).
    static let receiveLimitRefused = Atomic<Bool>(false)
}
