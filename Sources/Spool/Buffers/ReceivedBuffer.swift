/// Bytes a receive put into a ``BufferPool`` buffer, leased to you: read them, write them on,
/// then drop the lease and the buffer goes back to the pool (on any thread).
///
/// ```swift
/// while let buffer = try await receiver.next() {
///     try await connection.writeAll(buffer)      // echo; the buffer returns when dropped
/// }
/// ```
///
/// **Thread-safety:** `~Copyable` and `Sendable`: one owner, which may move it to another
/// task. **Lifetime:** the bytes are valid until the lease is dropped; a lease keeps its
/// pool alive.
public struct ReceivedBuffer: ~Copyable, Sendable {
    let pool: BufferPool
    let id: UInt16
    nonisolated(unsafe) let base: UnsafeMutableRawPointer
    /// Number of bytes received.
    public let count: Int

    init(pool: BufferPool, id: UInt16, base: UnsafeMutableRawPointer, count: Int) {
        self.pool = pool
        self.id = id
        self.base = base
        self.count = count
    }

    deinit { pool.giveBack(id, leased: true) }

    /// Calls `body` with the received bytes (valid only inside `body`).
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy of the received bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
