internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The I/O every Spool file handle offers: ``File`` (one owner) and ``SharedFile`` (many tasks).
///
/// Every call returns only after the kernel has finished with the memory it was given, also
/// when the calling task is cancelled. Errors are ``IOError`` (naming the operation, path,
/// descriptor and offset), `CancellationError`, or ``RuntimeError``.
public protocol FileIO: ~Copyable, Sendable {
    /// The descriptor.
    var descriptor: FileDescriptor { get }
    /// The path the file was opened with, if any (used in error messages).
    var path: FilePath? { get }
    /// The runtime whose rings run this file's I/O.
    var runtime: Runtime { get }
    /// Counts the calls using ``descriptor`` when the handle is shared (``SharedFile``), so its
    /// close can wait for them; `nil` for a ``File``. Its members are Spool's own.
    var accessGate: FileAccessGate? { get }
    /// Whether positional reads of this handle are first tried against the page cache on the
    /// calling thread (README, *The fast path*); `nil`: never. Its members are Spool's own.
    var cachedReadState: CachedReadState? { get }
}

extension FileIO where Self: ~Copyable {
    /// No fast path for a handle that does not say otherwise. Immutable; safe from any thread.
    public var cachedReadState: CachedReadState? { nil }
}

extension FileIO where Self: ~Copyable {
    // MARK: Reading

    /// Reads up to `buffer.capacity` bytes at `offset` into `buffer`; sets and returns
    /// `buffer.count` (0 at end of file). Does not move the file position.
    @discardableResult
    public nonisolated(nonsending) func read(into buffer: inout IOBuffer, at offset: UInt64) async throws -> Int {
        // The fast path first, without an async call in between (README, *The fast path*).
        let cached = try readFromCache(buffer.base, count: buffer.capacity, offset: offset)
        if case .served(let n) = cached {
            buffer.setValidCount(n)
            return n
        }
        let n = try await readAfterCache(cached, buffer.base, count: buffer.capacity, offset: offset, timeout: nil)
        buffer.setValidCount(n)
        return n
    }

    /// Reads up to `buffer.capacity` bytes at the current file position, advancing it;
    /// sets and returns `buffer.count` (0 at end of file). For pipes and other streams too.
    @discardableResult
    public nonisolated(nonsending) func readAtCurrentPosition(into buffer: inout IOBuffer) async throws -> Int {
        let n = try await readRaw(buffer.base, count: buffer.capacity, offset: nil)
        buffer.setValidCount(n)
        return n
    }

    /// Like ``read(into:at:)``, bounded by `timeout`: the kernel cancels the read when it
    /// expires (a linked `IORING_OP_LINK_TIMEOUT`) and this throws ``TimeoutError``; the
    /// buffer is the caller's again when it returns. A zero or negative timeout gives the read
    /// only what is ready at once.
    @discardableResult
    public nonisolated(nonsending) func read(into buffer: inout IOBuffer, at offset: UInt64, timeout: Duration) async throws -> Int {
        let n = try await readRaw(buffer.base, count: buffer.capacity, offset: offset, timeout: timeout)
        buffer.setValidCount(n)
        return n
    }

    /// Like ``readAtCurrentPosition(into:)``, bounded by `timeout` (see ``read(into:at:timeout:)``).
    @discardableResult
    public nonisolated(nonsending) func readAtCurrentPosition(into buffer: inout IOBuffer, timeout: Duration) async throws -> Int {
        let n = try await readRaw(buffer.base, count: buffer.capacity, offset: nil, timeout: timeout)
        buffer.setValidCount(n)
        return n
    }

    /// Reads until `buffer` is full or the file ends, retrying short reads; sets and returns
    /// `buffer.count`.
    @discardableResult
    public nonisolated(nonsending) func readFully(into buffer: inout IOBuffer, at offset: UInt64) async throws -> Int {
        var done = 0
        while done < buffer.capacity {
            let n = try await readRaw(buffer.base + done, count: buffer.capacity - done, offset: offset + UInt64(done))
            if n == 0 { break }
            done += n
        }
        buffer.setValidCount(done)
        return done
    }

    /// Reads up to `count` bytes at `offset` into a new array (shorter at end of file).
    public nonisolated(nonsending) func read(upToCount count: Int, at offset: UInt64) async throws -> [UInt8] {
        guard count >= 0 else { throw RuntimeError.invalidArgument("read count must not be negative (got \(count))") }
        var buffer = IOBuffer(capacity: count)
        try await readFully(into: &buffer, at: offset)
        return buffer.bytes
    }

    /// Reads the whole file from offset 0 into a new array.
    public nonisolated(nonsending) func readAll() async throws -> [UInt8] {
        let size = try await status().size
        var out = try await read(upToCount: Int(clamping: size), at: 0)
        // The file may have grown since statx: read on until end of file.
        while true {
            let more = try await read(upToCount: 64 * 1024, at: UInt64(out.count))
            if more.isEmpty { return out }
            out += more
        }
    }

    /// One read. A positional read of a handle with a ``cachedReadState`` is first tried
    /// against the page cache on this thread (``readFromCache(_:count:offset:)``); what that
    /// cannot serve goes to the ring.
    nonisolated(nonsending) func readRaw(
        _ base: UnsafeMutableRawPointer, count: Int, offset: UInt64?, timeout: Duration? = nil
    ) async throws -> Int {
        guard let offset else {
            return try await transfer(.read, count: count, offset: nil, timeout: timeout) { .read(fd: $0, buffer: base, count: $1, offset: $2) }
        }
        let cached = try readFromCache(base, count: count, offset: offset)
        if case .served(let n) = cached { return n }
        return try await readAfterCache(cached, base, count: count, offset: offset, timeout: timeout)
    }

    /// A positional read served from the page cache on the calling thread without blocking
    /// (`preadv2` with `RWF_NOWAIT`). A short count is either the end of the file or a partly
    /// cached range: a second try at the rest tells them apart (0: the end of the file).
    func readFromCache(_ base: UnsafeMutableRawPointer, count: Int, offset: UInt64) throws -> CachedReadResult {
        guard let state = cachedReadState else { return .notServed }
        try validateOffset(offset)
        let length = min(count, File.maximumTransfer)
        guard case .read(let n) = try state.attempt(descriptor, gate: accessGate, into: base, count: length, offset: offset, path: path) else {
            return .notServed
        }
        if n == length || n == 0 { return .served(n) }
        switch try state.attempt(descriptor, gate: accessGate, into: base + n, count: length - n, offset: offset + UInt64(n), path: path) {
        case .read(0): return .served(n)  // the file ends inside the range
        case .read(let more) where n + more == length: return .served(length)
        case .read(let more): return .partial(n + more)
        case .notServed: return .partial(n)
        }
    }

    /// The ring's part of a positional read the page cache did not serve whole: all of it, or
    /// the rest after a partial read. If the rest fails (or the task is cancelled meanwhile),
    /// the bytes already read are the result: a short read, as POSIX allows.
    nonisolated(nonsending) func readAfterCache(
        _ cached: CachedReadResult, _ base: UnsafeMutableRawPointer, count: Int, offset: UInt64, timeout: Duration?
    ) async throws -> Int {
        switch cached {
        case .served(let n):
            return n
        case .partial(let n):
            let more = try? await transfer(.read, count: min(count, File.maximumTransfer) - n, offset: offset + UInt64(n), timeout: timeout) {
                .read(fd: $0, buffer: base + n, count: $1, offset: $2)
            }
            return n + (more ?? 0)
        case .notServed:
            return try await transfer(.read, count: count, offset: offset, timeout: timeout) { .read(fd: $0, buffer: base, count: $1, offset: $2) }
        }
    }

    nonisolated(nonsending) func writeRaw(
        _ base: UnsafeRawPointer, count: Int, offset: UInt64?, timeout: Duration? = nil
    ) async throws -> Int {
        try await transfer(.write, count: count, offset: offset, timeout: timeout) { .write(fd: $0, buffer: base, count: $1, offset: $2) }
    }

    /// One read or write: checks, clamps the length to ``File/maximumTransfer``, maps a `nil`
    /// offset to "the current position", bounds it with a kernel `LINK_TIMEOUT` when `timeout`
    /// is given, and turns the outcome into a count or an error.
    nonisolated(nonsending) func transfer(
        _ operation: IOError.Operation, count: Int, offset: UInt64?, timeout: Duration? = nil,
        _ request: (Int32, UInt32, UInt64) -> OperationRequest
    ) async throws -> Int {
        try validateOffset(offset)
        let length = UInt32(min(count, File.maximumTransfer))
        let position = offset ?? SubmissionQueueEntry.currentPosition
        try beginUse(operation)
        defer { endUse() }
        let outcome: OperationOutcome
        if let timeout {
            // The kernel copies the timespec when it takes the entry; it lives until then.
            let deadline = ContinuousClock.now.advanced(by: max(timeout, .zero))
            let spec = UnsafeMutablePointer<KernelTimespec>.allocate(capacity: 1)
            spec.initialize(to: KernelTimespec(timeout))
            defer { spec.deallocate() }
            outcome = await runtime.perform(request(descriptor.rawValue, length, position), linkTimeout: UnsafeMutableRawPointer(spec))
            if outcome == .timedOut { throw TimeoutError(deadline: deadline) }
        } else {
            outcome = await runtime.perform(request(descriptor.rawValue, length, position))
        }
        return Int(try outcome.value(IOErrorContext(operation: operation, path: path, descriptor: descriptor, offset: offset)))
    }

    /// Registers a call with the ``accessGate`` (throws `EBADF` on a closed ``SharedFile``).
    func beginUse(_ operation: IOError.Operation) throws {
        try accessGate?.enter(operation, path: path, descriptor: descriptor)
    }

    /// Ends a call registered by ``beginUse(_:)``.
    func endUse() { accessGate?.leave() }

    /// Runs one request on the descriptor, bracketed by ``beginUse(_:)`` and ``endUse()``.
    nonisolated(nonsending) func perform(_ operation: IOError.Operation, _ request: OperationRequest) async throws -> OperationOutcome {
        try beginUse(operation)
        defer { endUse() }
        return await runtime.perform(request)
    }

    // MARK: Writing

    /// Writes `buffer`'s valid bytes (`0..<count`) at `offset`; returns how many were written
    /// (possibly fewer: see ``writeAll(_:at:)-(IOBuffer,_)``). Does not move the file position.
    @discardableResult
    public nonisolated(nonsending) func write(_ buffer: borrowing IOBuffer, at offset: UInt64) async throws -> Int {
        try await writeRaw(UnsafeRawPointer(buffer.base), count: buffer.count, offset: offset)
    }

    /// Writes `buffer`'s valid bytes at the current file position (or the end, with
    /// ``File/Options/append``), advancing it. For pipes and other streams too.
    @discardableResult
    public nonisolated(nonsending) func writeAtCurrentPosition(_ buffer: borrowing IOBuffer) async throws -> Int {
        try await writeRaw(UnsafeRawPointer(buffer.base), count: buffer.count, offset: nil)
    }

    /// Like ``write(_:at:)``, bounded by `timeout`: the kernel cancels the write when it
    /// expires and this throws ``TimeoutError``.
    @discardableResult
    public nonisolated(nonsending) func write(_ buffer: borrowing IOBuffer, at offset: UInt64, timeout: Duration) async throws -> Int {
        try await writeRaw(UnsafeRawPointer(buffer.base), count: buffer.count, offset: offset, timeout: timeout)
    }

    /// Like ``writeAtCurrentPosition(_:)``, bounded by `timeout` (a pipe or socket whose
    /// reader is slow): the kernel cancels the write when it expires; throws ``TimeoutError``.
    @discardableResult
    public nonisolated(nonsending) func writeAtCurrentPosition(_ buffer: borrowing IOBuffer, timeout: Duration) async throws -> Int {
        try await writeRaw(UnsafeRawPointer(buffer.base), count: buffer.count, offset: nil, timeout: timeout)
    }

    /// Writes all of `buffer`'s valid bytes at `offset`, retrying short writes.
    public nonisolated(nonsending) func writeAll(_ buffer: borrowing IOBuffer, at offset: UInt64) async throws {
        try await writeFully(buffer, at: offset)
    }

    /// Writes all of `bytes` at `offset` (copied into an ``IOBuffer`` first).
    public nonisolated(nonsending) func writeAll(_ bytes: some Collection<UInt8>, at offset: UInt64) async throws {
        let buffer = IOBuffer(bytes)
        try await writeAll(buffer, at: offset)
    }

    /// Writes all of `buffer`'s valid bytes at the current position, retrying short writes.
    public nonisolated(nonsending) func writeAllAtCurrentPosition(_ buffer: borrowing IOBuffer) async throws {
        try await writeFully(buffer, at: nil)
    }

    /// Writes all valid bytes, retrying short writes; `nil`: at the current position.
    nonisolated(nonsending) func writeFully(_ buffer: borrowing IOBuffer, at offset: UInt64?) async throws {
        var done = 0
        while done < buffer.count {
            let at = offset.map { $0 + UInt64(done) }
            let n = try await writeRaw(UnsafeRawPointer(buffer.base + done), count: buffer.count - done, offset: at)
            if n == 0 { throw IOError(.write, errno: .ioError, path: path, descriptor: descriptor, offset: at) }
            done += n
        }
    }

    /// Offsets above `Int64.max` are not file offsets (and `UInt64.max` would mean "the
    /// current position" to the kernel): reject them before they reach it.
    func validateOffset(_ offset: UInt64?) throws {
        if let offset, offset > UInt64(Int64.max) {
            throw RuntimeError.invalidArgument("file offset \(offset) is larger than Int64.max")
        }
    }

    // MARK: Vectored

    /// Scatters one read at `offset` over `segments` of `buffer` (`IORING_OP_READV`), in order.
    /// Returns the bytes read; `buffer.count` becomes the end of the last byte written.
    @discardableResult
    public nonisolated(nonsending) func read(into buffer: inout IOBuffer, segments: [Range<Int>], at offset: UInt64) async throws -> Int {
        try buffer.validate(segments)
        let n = try await vectored(.readVector, base: buffer.base, segments: segments, at: offset) {
            .readVector(fd: $0, iovecs: $1, count: $2, offset: $3)
        }
        buffer.setValidCount(IOVecArray.end(of: n, in: segments))
        return n
    }

    /// Gathers `segments` of `buffer` into one write at `offset` (`IORING_OP_WRITEV`).
    @discardableResult
    public nonisolated(nonsending) func write(_ buffer: borrowing IOBuffer, segments: [Range<Int>], at offset: UInt64) async throws -> Int {
        try buffer.validate(segments)
        return try await vectored(.writeVector, base: buffer.base, segments: segments, at: offset) {
            .writeVector(fd: $0, iovecs: $1, count: $2, offset: $3)
        }
    }

    /// One vectored transfer over `segments` (already validated) of the memory at `base`.
    nonisolated(nonsending) func vectored(
        _ operation: IOError.Operation, base: UnsafeMutableRawPointer, segments: [Range<Int>], at offset: UInt64,
        _ request: (Int32, UnsafePointer<iovec>, Int, UInt64) -> OperationRequest
    ) async throws -> Int {
        try validateOffset(offset)
        let iovecs = IOVecArray(base: base, segments: segments)
        defer { iovecs.free() }
        return Int(try await perform(operation, request(descriptor.rawValue, iovecs.pointer, segments.count, offset))
            .value(IOErrorContext(operation: operation, path: path, descriptor: descriptor, offset: offset)))
    }

    // MARK: Batches

    /// Submits one read per part together and resumes the caller once, when all are done:
    /// the per-suspension cost is paid once per batch. Returns each part's byte count.
    ///
    /// Parts wait FIFO past the ring's in-flight limit like any other operation. If the task is
    /// cancelled, unfinished parts are cancelled and this throws `CancellationError`.
    public nonisolated(nonsending) func read(into buffer: inout IOBuffer, batch parts: [BatchPart]) async throws -> [Int] {
        try buffer.validate(parts.map(\.range))
        for part in parts { try validateOffset(part.offset) }
        let base = buffer.base
        let requests = parts.map { OperationRequest.read(fd: descriptor.rawValue, buffer: base + $0.range.lowerBound, count: UInt32(min($0.range.count, File.maximumTransfer)), offset: $0.offset) }
        let counts = try await runBatch(requests, operation: .read, parts: parts)
        buffer.setValidCount(parts.map(\.range.upperBound).max() ?? 0)
        return counts
    }

    /// Submits one write per part together and resumes the caller once; returns each
    /// part's byte count.
    public nonisolated(nonsending) func write(_ buffer: borrowing IOBuffer, batch parts: [BatchPart]) async throws -> [Int] {
        try buffer.validate(parts.map(\.range))
        for part in parts { try validateOffset(part.offset) }
        let base = buffer.base
        let requests = parts.map { OperationRequest.write(fd: descriptor.rawValue, buffer: base + $0.range.lowerBound, count: UInt32(min($0.range.count, File.maximumTransfer)), offset: $0.offset) }
        return try await runBatch(requests, operation: .write, parts: parts)
    }

    nonisolated(nonsending) func runBatch(_ requests: [OperationRequest], operation: IOError.Operation, parts: [BatchPart]) async throws -> [Int] {
        let results = UnsafeMutablePointer<Int32>.allocate(capacity: max(requests.count, 1))
        results.initialize(repeating: 0, count: max(requests.count, 1))
        defer { results.deallocate() }
        try beginUse(operation)
        defer { endUse() }
        _ = try await runtime.performBatch(requests, results: results).value(IOErrorContext(operation: operation, path: path, descriptor: descriptor))
        var counts: [Int] = []
        counts.reserveCapacity(requests.count)
        for i in 0..<requests.count {
            let r = results[i]
            if r < 0 { throw IOError(operation, errno: Errno(rawValue: -r), path: path, descriptor: descriptor, offset: parts[i].offset) }
            counts.append(Int(r))
        }
        return counts
    }

    // MARK: Metadata and durability

    /// Flushes data and metadata to stable storage (`fsync`).
    public nonisolated(nonsending) func sync() async throws {
        _ = try await perform(.sync, .fsync(fd: descriptor.rawValue, dataOnly: false)).value(IOErrorContext(operation: .sync, path: path, descriptor: descriptor))
    }

    /// Flushes data (and the metadata needed to read it) to stable storage (`fdatasync`).
    public nonisolated(nonsending) func dataSync() async throws {
        _ = try await perform(.dataSync, .fsync(fd: descriptor.rawValue, dataOnly: true)).value(IOErrorContext(operation: .dataSync, path: path, descriptor: descriptor))
    }

    /// Reserves disk space for `length` bytes at `offset` (`fallocate`, mode 0: the file grows).
    public nonisolated(nonsending) func allocate(at offset: UInt64, length: UInt64) async throws {
        _ = try await perform(.allocate, .fallocate(fd: descriptor.rawValue, mode: 0, offset: offset, length: length))
            .value(IOErrorContext(operation: .allocate, path: path, descriptor: descriptor, offset: offset))
    }

    /// The file's metadata (`statx` on the descriptor).
    public nonisolated(nonsending) func status() async throws -> FileStatus {
        try beginUse(.status)
        defer { endUse() }
        let empty = CPath(FilePath(""))
        defer { empty.free() }
        return try await FileStatus.load(runtime: runtime, directory: descriptor.rawValue, path: empty.pointer,
                                         flags: SystemConstants.atEmptyPath, context: IOErrorContext(operation: .status, path: path, descriptor: descriptor))
    }
}

/// One part of a batch: a range of the buffer and the file offset it maps to.
public struct BatchPart: Sendable, Hashable {
    public var range: Range<Int>
    public var offset: UInt64
    public init(range: Range<Int>, offset: UInt64) { self.range = range; self.offset = offset }
}

extension File {
    /// One part of a batch (see ``Spool/BatchPart``).
    public typealias BatchPart = Spool.BatchPart
}

extension IOBuffer {
    /// Checks that every range lies inside the buffer.
    func validate(_ ranges: [Range<Int>]) throws {
        if ranges.isEmpty { throw RuntimeError.invalidArgument("no segments given") }
        for r in ranges where r.lowerBound < 0 || r.upperBound > capacity {
            throw RuntimeError.invalidArgument("range \(r) is outside the buffer of \(capacity) bytes")
        }
    }
}
