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
    /// wait in TCP's window. (The portable backend keeps that bound exactly: an arm fills at
    /// most `maximumQueued` buffers. io_uring's kernel limit counts bytes, so when the peer
    /// sends segments smaller than a buffer, the few that land while the pause reaches the
    /// kernel are queued too.) When every buffer of the pool is out, the kernel ends the
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
        // Only `feed` and the step live across the awaits: this frame stays with an idle
        // connection's task for its whole life, so the work that needs more (the request, the
        // completion's meaning, its errors) is done in the synchronous helpers below.
        let feed = Self.receiveFeed(descriptor, pool: pool, maximumQueued: maximumQueued)
        // The request must have ended before this returns: the caller may close the
        // descriptor next, and no entry naming it may be left in the ring.
        do {
            while true {
                switch Self.receiveStep(try await feed.next(pool: pool), pool: pool, descriptor: descriptor) {
                case .buffer(let id, let length):
                    try await body(pool.lease(id, length: length))
                case .again:
                    continue
                case .endOfStream:
                    await feed.stopAndWait()
                    return
                case .failed(let error):
                    throw error
                }
            }
        } catch {
            await feed.stopAndWait()
            throw error
        }
    }

    /// What ``receiveBuffers(from:maximumQueued:_:)`` does with one turn of its feed.
    enum ReceiveStep {
        case buffer(id: UInt16, length: Int)
        case again
        case endOfStream
        case failed(any Error)
    }

    /// The multishot receive's feed on `pool`, its byte limit `maximumQueued` buffers' worth.
    @inline(never)
    static func receiveFeed(_ descriptor: FileDescriptor, pool: BufferPool, maximumQueued: Int) -> MultishotFeed {
        // The kernel itself stops each arm after `maximumQueued` buffers' worth of bytes, where
        // it can (Linux 6.16+); elsewhere the feed cancels the request at the bound.
        let (bytes, overflow) = maximumQueued.multipliedReportingOverflow(by: pool.bufferSize)
        let limit = overflow ? UInt32.max : UInt32(clamping: bytes)
        return pool.receiveFeed(bound: maximumQueued, request: .receiveMultishot(fd: descriptor.rawValue, group: pool.group, limit: limit))
    }

    /// The meaning of one turn of the feed.
    @inline(never)
    static func receiveStep(_ next: MultishotFeed.Next, pool: BufferPool, descriptor: FileDescriptor) -> ReceiveStep {
        switch next {
        case .refused(let outcome):
            do {
                _ = try outcome.value(IOErrorContext(operation: .receive, descriptor: descriptor))
                return .failed(RuntimeError.shutdown)
            } catch {
                return .failed(error)
            }
        case .event(let event):
            if event.result == -EINVAL && event.final && !MultishotFeed.receiveLimitRefused.load(ordering: .relaxed) {
                // This kernel has no byte limit for multishot receives: go on without it
                // (the feed's cancel at the bound remains). An EINVAL with another
                // cause comes back at once without the limit and is thrown then.
                MultishotFeed.receiveLimitRefused.store(true, ordering: .relaxed)
                return .again
            }
            switch PooledReceiveEvent(event, ring: pool.ring, operation: .receive, descriptor: descriptor) {
            case .buffer(let id, let result): return .buffer(id: id, length: Int(max(result, 0)))
            case .endOfStream: return .endOfStream
            case .failed(let error): return .failed(error)
            case .rearm, .none: return .again
            }
        }
    }
}
