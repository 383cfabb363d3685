internal import SpoolRing
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
    /// **Backpressure.** When every buffer of the pool is out, the kernel ends the request
    /// (`ENOBUFS`); it is re-armed only after a buffer comes back, so a slow `body` holds at
    /// most the pool and the peer's sends wait in TCP's window.
    ///
    /// Why a closure and not an `AsyncSequence`: see
    /// ``StreamListener/acceptConnections(_:)``. On return (any way), the request is cancelled;
    /// buffers it filled that `body` never got go back to the pool.
    ///
    /// - Throws: `CancellationError`; ``IOError`` (`recv`: `ECONNRESET`, …); what `body`
    ///   throws; ``RuntimeError`` when the runtime stops.
    public nonisolated(nonsending) func receiveBuffers(from pool: BufferPool, _ body: (consuming ReceivedBuffer) async throws -> Void) async throws {
        let ring = pool.ring
        let feed = MultishotFeed(
            ring: ring, request: .receiveMultishot(fd: descriptor.rawValue, group: pool.group), bound: Int.max,
            dispose: { event in
                if let id = Completion(userData: 0, result: event.result, flags: event.flags).bufferID { pool.giveBack(id, leased: false) }
            }
        )
        defer { feed.stop() }
        while true {
            let next = try await feed.next(mayArm: { pool.hasFreeBuffer }, waitToArm: { try await pool.waitForFreeBuffer() })
            switch next {
            case .refused(let outcome):
                _ = try outcome.value(IOErrorContext(operation: .receive, descriptor: descriptor))
                throw RuntimeError.shutdown
            case .event(let event):
                if let id = Completion(userData: 0, result: event.result, flags: event.flags).bufferID {
                    let buffer = pool.lease(id, length: Int(max(event.result, 0)))
                    try await body(buffer)
                } else if event.result == 0 {
                    if event.final { return }  // the peer closed its side
                } else if event.result == -ENOBUFS {
                    continue  // the pool ran dry: re-armed once a buffer is back
                } else if event.result < 0 && ring.lifecycle != .running {
                    throw ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? .ioError)
                } else if event.result < 0 {
                    throw IOError(.receive, errno: Errno(rawValue: -event.result), descriptor: descriptor)
                }
            }
        }
    }

    /// Sends all of `buffer` (a lease from a ``BufferPool``).
    /// - Throws: as ``writeAll(_:)-(IOBuffer)``.
    public nonisolated(nonsending) func writeAll(_ buffer: borrowing ReceivedBuffer) async throws {
        var sent = 0
        while sent < buffer.count {
            sent += try await send(buffer.base + sent, count: buffer.count - sent)
        }
    }
}
