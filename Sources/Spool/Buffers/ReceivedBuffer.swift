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
public struct ReceivedBuffer: ~Copyable, @unchecked Sendable {  // the pool is Sendable; the bytes are this lease's alone
    /// Retained for the lease's life (an unmanaged reference keeps every stored property
    /// trivial, so ``detach()`` can hand the lease on without running `deinit`).
    let poolReference: Unmanaged<BufferPool>
    let id: UInt16
    let base: UnsafeMutableRawPointer
    /// Number of bytes received.
    public let count: Int

    init(pool: BufferPool, id: UInt16, base: UnsafeMutableRawPointer, count: Int) {
        self.poolReference = .passRetained(pool)
        self.id = id
        self.base = base
        self.count = count
    }

    deinit { OwnedBytes.lease(poolReference, id: id, base: base, count: count).release() }

    /// The pool the buffer belongs to.
    var pool: BufferPool { poolReference.takeUnretainedValue() }

    /// Hands the lease on as ``OwnedBytes`` (whose owner must release it exactly once).
    consuming func detach() -> OwnedBytes {
        let owned = OwnedBytes.lease(poolReference, id: id, base: base, count: count)
        discard self
        return owned
    }

    /// Calls `body` with the received bytes (valid only inside `body`).
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy of the received bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
