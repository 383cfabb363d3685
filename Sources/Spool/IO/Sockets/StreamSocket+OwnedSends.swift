/// Owned sends: buffers moved into the runtime and sent in order (``SendQueue``), and sends
/// of a pool lease the caller keeps.
extension StreamSocket {
    /// Sends `buffer` after every earlier owned write, taking it: this returns as soon as the
    /// buffer is queued (the lease goes back to its pool when its send completes), so a
    /// writer does not suspend for each send. It waits only while the stream's queued and
    /// in-flight sends pin ``maximumQueuedSendBytes`` (each lease counted as a whole pool
    /// buffer) or hold ``BufferPool/maximumHeldPerStream`` buffers of its pool (the peer reads
    /// slowly or never): memory stays bounded per connection, and one such peer cannot take
    /// the pool from the other connections of its ring.
    ///
    /// Sends run one at a time, in order, each until all its bytes are sent. If one fails,
    /// the next call to this, ``flush()`` or ``close()`` throws that error, and the buffers
    /// still queued are dropped unsent. Do not mix with ``write(_:)`` / ``writeAll(_:)-(IOBuffer)`` on
    /// the same stream without a ``flush()`` between: those do not wait for the queue.
    /// - Throws: ``IOError`` (`send`) of an earlier owned write, `CancellationError` while
    ///   waiting for room (the buffer is then released unsent), ``RuntimeError``.
    public nonisolated(nonsending) func write(taking buffer: consuming ReceivedBuffer) async throws {
        try await sends.queue(for: descriptor).write(buffer.detach(), runtime: runtime)
    }

    /// Sends `buffer`'s valid bytes after every earlier owned write, taking it; see
    /// ``write(taking:)-(ReceivedBuffer)``. Its memory is freed when its send completes.
    public nonisolated(nonsending) func write(taking buffer: consuming IOBuffer) async throws {
        try await sends.queue(for: descriptor).write(buffer.detach(), runtime: runtime)
    }

    /// Waits until every owned write (``write(taking:)-(ReceivedBuffer)``) has been sent.
    /// - Throws: the ``IOError`` of a failed one; `CancellationError` (the sends go on).
    public nonisolated(nonsending) func flush() async throws {
        try await sends.existing?.flush()
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
