/// Bytes for I/O, in memory that does not move: what reads fill and writes send.
///
/// Pass it `inout` to an operation: exclusive access for the duration of the call, and
/// the call returns only after the kernel is done with the memory (even when cancelled),
/// so no other code can observe the kernel writing into it.
///
/// ``init(capacity:alignment:)`` with an alignment of 4096 (or the device's logical block
/// size) gives memory suitable for `O_DIRECT`.
///
/// **Thread-safety:** a value type with unique ownership (`~Copyable`); `Sendable`, so it may
/// move between tasks. **Lifetime:** the memory is freed when the value is dropped.
public struct IOBuffer: ~Copyable, @unchecked Sendable {
    /// The start of the memory; stable for the buffer's whole life.
    let base: UnsafeMutableRawPointer
    /// Bytes of memory owned.
    public let capacity: Int
    /// The alignment of the memory.
    public let alignment: Int
    /// How many bytes, from the start, hold data: set by reads, by ``set(_:)``, or by
    /// ``setCount(_:)`` after filling the memory in place. Always within `0...capacity`.
    public private(set) var count: Int

    /// Allocates `capacity` bytes (zero-filled) aligned to `alignment` (a power of two).
    /// `count` starts at 0. A negative capacity or an alignment that is not a power of two is
    /// a programming error and traps, like `Array(repeating:count:)` with a negative count.
    public init(capacity: Int, alignment: Int = 16) {
        precondition(capacity >= 0, "IOBuffer capacity must not be negative")
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "IOBuffer alignment must be a power of two")
        self.capacity = capacity
        self.alignment = max(alignment, 1)
        base = .allocate(byteCount: max(capacity, 1), alignment: self.alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(capacity, 1))
        count = 0
    }

    /// A buffer holding a copy of `bytes` (`count == bytes.count`).
    public init(_ bytes: some Collection<UInt8>, alignment: Int = 16) {
        self.init(capacity: bytes.count, alignment: alignment)
        let raw = UnsafeMutableRawBufferPointer(start: base, count: capacity)
        _ = raw.initializeMemory(as: UInt8.self, from: bytes)
        count = bytes.count
    }

    deinit { base.deallocate() }

    /// Hands the memory on as ``OwnedBytes`` (its valid bytes; the owner must release it
    /// exactly once).
    consuming func detach() -> OwnedBytes {
        let owned = OwnedBytes.heap(base, count: count, capacity: capacity)
        discard self
        return owned
    }

    /// The valid bytes (`0..<count`), copied into an array.
    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Reads the valid bytes in place.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Reads or writes the whole capacity in place (then say how much holds data with ``setCount(_:)``).
    public mutating func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: capacity))
    }

    /// Copies `bytes` into the start of the buffer and sets ``count``.
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` if they do not fit.
    public mutating func set(_ bytes: some Collection<UInt8>) throws(RuntimeError) {
        guard bytes.count <= capacity else { throw .invalidArgument("\(bytes.count) bytes do not fit an IOBuffer of \(capacity)") }
        _ = UnsafeMutableRawBufferPointer(start: base, count: capacity).initializeMemory(as: UInt8.self, from: bytes)
        count = bytes.count
    }

    /// Says how many bytes, from the start, hold data (after filling the memory in place).
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` unless `0 <= count <= capacity`; the
    ///   buffer is unchanged then.
    public mutating func setCount(_ count: Int) throws(RuntimeError) {
        guard count >= 0 && count <= capacity else {
            throw .invalidArgument("count \(count) is outside 0...\(capacity), the buffer's capacity")
        }
        self.count = count
    }

    /// Sets ``count`` from a kernel result the caller has already bounded by the capacity.
    mutating func setValidCount(_ count: Int) {
        self.count = min(max(count, 0), capacity)
    }

    func rawRange(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
