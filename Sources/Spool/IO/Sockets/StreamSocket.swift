import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A connected stream socket (TCP, or a Unix stream socket): one owner, reads and writes
/// through its runtime's rings.
///
/// Every call returns only after the kernel has finished with the memory it was given, also
/// when the calling task is cancelled (the request is cancelled in the kernel and the call
/// throws `CancellationError`). A closed peer reads as 0 bytes; a write to a peer that is
/// gone throws `IOError` with `EPIPE` (never `SIGPIPE`) or `ECONNRESET`. Errors are
/// ``IOError`` (naming the call, the descriptor and, where known, the address),
/// `CancellationError` and ``RuntimeError``.
///
/// **Thread-safety:** `~Copyable` and `Sendable`: one owner at a time, which may move it into
/// another task (`Task { [stream = consume stream] in … }`); its calls may come from any task,
/// fastest from a task on a ring. **Lifetime:** ``close()`` releases the descriptor in every outcome; a stream dropped
/// without it closes its descriptor in `deinit`, on any thread.
public struct StreamSocket: ~Copyable, Sendable {
    /// The socket's descriptor. Valid until the stream is closed or dropped.
    public let descriptor: FileDescriptor
    /// The runtime whose rings run this stream's I/O.
    public let runtime: Runtime
    /// Owned sends (``write(taking:)-(ReceivedBuffer)``), in order: the queue is made by the
    /// first one, so a connection that only reads, or is idle, does not carry it.
    let sends: SendQueueSlot
    private var closed = false

    /// Memory that owned sends (``write(taking:)-(ReceivedBuffer)``) queued or in the kernel
    /// may pin per stream before a writer waits: 256 KiB. A lease counts as its pool's whole
    /// buffer and an ``IOBuffer`` as its capacity, whatever few bytes they carry, so a peer
    /// that never reads holds at most this much (and at most its pool's
    /// ``BufferPool/maximumHeldPerStream`` leases).
    public static let maximumQueuedSendBytes = 256 * 1024

    /// Wraps a connected socket; the stream takes ownership of it.
    public init(adopting descriptor: FileDescriptor, runtime: Runtime) {
        self.descriptor = descriptor
        self.runtime = runtime
        self.sends = SendQueueSlot()
    }

    deinit {
        // With owned sends still in the kernel, the queue closes the descriptor after the
        // last one completes (its number must not be reused before).
        if !closed && !(sends.existing?.orphan() ?? false) { DescriptorClose.close(descriptor.rawValue) }
    }

    /// The most a single read or write moves (larger buffers move in several calls).
    public static let maximumTransfer = File.maximumTransfer

    /// Connects to `address` (IPv4, IPv6 or a named Unix socket). Cancellable: a cancelled connect throws
    /// `CancellationError` and leaves no descriptor open.
    /// - Throws: ``IOError`` (`connect`, with the address: `ECONNREFUSED`, `ENETUNREACH`, …),
    ///   ``RuntimeError/invalidArgument(_:)`` for an unnamed Unix address.
    public static func connect(to address: SocketAddress, runtime: Runtime? = nil) async throws -> StreamSocket {
        let runtime = try runtime ?? Runtime.requireCurrent()
        guard !address.isUnnamedUnix else { throw RuntimeError.invalidArgument("cannot connect to an unnamed Unix address (got \(address))") }
        let fd = try SocketCalls.create(for: address, type: Int32(SOCK_STREAM.rawValue))
        // The kernel reads the address while the request runs: it lives until the call returns.
        let storage = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<sockaddr_storage>.size, alignment: 16)
        defer { storage.deallocate() }
        let length = address.withSocketAddress { p, n in
            storage.copyMemory(from: UnsafeRawPointer(p), byteCount: Int(n))
            return n
        }
        let outcome = await runtime.perform(.connect(fd: fd.rawValue, address: UnsafeRawPointer(storage), length: length))
        do {
            _ = try outcome.value(IOErrorContext(operation: .connect, descriptor: fd, address: address))
        } catch {
            SocketCalls.closeQuietly(fd)
            throw error
        }
        return StreamSocket(adopting: fd, runtime: runtime)
    }

    // MARK: Reading and writing

    /// Receives up to `buffer.capacity` bytes; sets and returns `buffer.count` (0: the peer
    /// closed its side).
    /// - Throws: ``IOError`` (`recv`: `ECONNRESET`, …), `CancellationError`, ``RuntimeError``.
    @discardableResult
    public nonisolated(nonsending) func read(into buffer: inout IOBuffer) async throws -> Int {
        let n = try await receive(buffer.base, count: buffer.capacity)
        buffer.setValidCount(n)
        return n
    }

    /// Receives until `buffer` is full or the peer closes; sets and returns `buffer.count`.
    /// If it throws (cancellation included), bytes already received are lost to the caller:
    /// the stream's position in the peer's data is then unknown.
    @discardableResult
    public nonisolated(nonsending) func readFully(into buffer: inout IOBuffer) async throws -> Int {
        var done = 0
        while done < buffer.capacity {
            let n = try await receive(buffer.base + done, count: buffer.capacity - done)
            if n == 0 { break }
            done += n
        }
        buffer.setValidCount(done)
        return done
    }

    /// Sends `buffer`'s valid bytes; returns how many the kernel took (possibly fewer: see
    /// ``writeAll(_:)-(IOBuffer)``).
    @discardableResult
    public nonisolated(nonsending) func write(_ buffer: borrowing IOBuffer) async throws -> Int {
        try await send(UnsafeRawPointer(buffer.base), count: buffer.count)
    }

    /// Sends all of `buffer`'s valid bytes, retrying short sends. If it throws (cancellation
    /// included), an unknown prefix of the bytes was sent.
    /// - Throws: ``IOError`` (`send`: `EPIPE`, `ECONNRESET`, …), `CancellationError`, ``RuntimeError``.
    public nonisolated(nonsending) func writeAll(_ buffer: borrowing IOBuffer) async throws {
        var done = 0
        while done < buffer.count {
            done += try await send(UnsafeRawPointer(buffer.base + done), count: buffer.count - done)
        }
    }

    /// Gathers `segments` of `buffer` into one send (`sendmsg` with one iovec per segment);
    /// returns how many bytes the kernel took (possibly fewer than the segments hold).
    /// - Throws: ``RuntimeError/invalidArgument(_:)`` for a segment outside the valid bytes;
    ///   as ``write(_:)``.
    @discardableResult
    public nonisolated(nonsending) func write(_ buffer: borrowing IOBuffer, segments: [Range<Int>]) async throws -> Int {
        try validate(segments, count: buffer.count)
        return try await sendVector(UnsafeRawPointer(buffer.base), segments)
    }

    /// Sends every byte of `segments` of `buffer`, in order, retrying short sends (each retry
    /// gathers what is left).
    /// - Throws: as ``write(_:segments:)``. If it throws, an unknown prefix was sent.
    public nonisolated(nonsending) func writeAll(_ buffer: borrowing IOBuffer, segments: [Range<Int>]) async throws {
        try validate(segments, count: buffer.count)
        var left = segments.filter { !$0.isEmpty }
        while !left.isEmpty {
            var n = try await sendVector(UnsafeRawPointer(buffer.base), left)
            // Drop what was sent: whole segments, then the front of a partly sent one.
            while n > 0, let first = left.first {
                if n >= first.count {
                    n -= first.count
                    left.removeFirst()
                } else {
                    left[0] = (first.lowerBound + n)..<first.upperBound
                    n = 0
                }
            }
        }
    }

    private func validate(_ segments: [Range<Int>], count: Int) throws {
        for s in segments where s.lowerBound < 0 || s.upperBound > count {
            throw RuntimeError.invalidArgument("segment \(s) is outside the buffer's \(count) valid bytes")
        }
        guard segments.count <= 1024 else {  // IOV_MAX on Linux
            throw RuntimeError.invalidArgument("at most 1024 segments (IOV_MAX) per send (got \(segments.count))")
        }
    }

    private nonisolated(nonsending) func sendVector(_ base: UnsafeRawPointer, _ segments: [Range<Int>]) async throws -> Int {
        let total = segments.reduce(0) { $0 + $1.count }
        if total == 0 { return 0 }
        let header = MessageHeader(iovecCapacity: segments.count)
        defer { header.free() }
        header.setSegments(base: base, segments)
        let n = Int(try await runtime.perform(.sendMessage(fd: descriptor.rawValue, message: header.message, flags: 0))
            .value(IOErrorContext(operation: .sendMessage, descriptor: descriptor)))
        if n == 0 { throw IOError(.sendMessage, errno: .ioError, descriptor: descriptor) }
        return n
    }

    /// Sends all of `bytes` (copied into an ``IOBuffer`` first).
    public nonisolated(nonsending) func writeAll(_ bytes: some Collection<UInt8>) async throws {
        let buffer = IOBuffer(bytes)
        try await writeAll(buffer)
    }

    /// Which direction ``shutdown(_:)`` ends.
    public enum Direction: Sendable, Hashable {
        /// No more reads (`SHUT_RD`).
        case read
        /// No more writes: the peer reads end of stream (`SHUT_WR`), a half-close.
        case write
        /// Both (`SHUT_RDWR`).
        case both
    }

    /// Ends one or both directions of the connection; the descriptor stays open.
    /// - Throws: ``IOError`` (`shutdown`: `ENOTCONN`, …), ``RuntimeError``.
    public nonisolated(nonsending) func shutdown(_ direction: Direction) async throws {
        let how: Int32
        switch direction {
        case .read: how = Int32(SHUT_RD)
        case .write: how = Int32(SHUT_WR)
        case .both: how = Int32(SHUT_RDWR)
        }
        _ = try await runtime.perform(.shutdownSocket(fd: descriptor.rawValue, how: how))
            .value(IOErrorContext(operation: .shutdownSocket, descriptor: descriptor))
    }

    nonisolated(nonsending) func receive(_ base: UnsafeMutableRawPointer, count: Int) async throws -> Int {
        guard count >= 0 else { throw RuntimeError.invalidArgument("receive count must not be negative (got \(count))") }
        let length = UInt32(min(count, Self.maximumTransfer))
        return Int(try await runtime.perform(.receive(fd: descriptor.rawValue, buffer: base, count: length, flags: 0))
            .value(IOErrorContext(operation: .receive, descriptor: descriptor)))
    }

    nonisolated(nonsending) func send(_ base: UnsafeRawPointer, count: Int) async throws -> Int {
        guard count >= 0 else { throw RuntimeError.invalidArgument("send count must not be negative (got \(count))") }
        let length = UInt32(min(count, Self.maximumTransfer))
        let request: OperationRequest
        if let threshold = runtime.zeroCopySendThreshold, count >= threshold {
            // Two completions; the call resumes after the second, when the kernel no longer
            // reads the buffer (the caller's borrow lasts that long).
            request = .sendZeroCopy(fd: descriptor.rawValue, buffer: base, count: length, flags: 0)
        } else {
            request = .send(fd: descriptor.rawValue, buffer: base, count: length, flags: 0)
        }
        let n = Int(try await runtime.perform(request).value(IOErrorContext(operation: .send, descriptor: descriptor)))
        if n == 0 && length > 0 { throw IOError(.send, errno: .ioError, descriptor: descriptor) }
        return n
    }

    // MARK: Addresses and options

    /// This end's address (`getsockname`).
    public func localAddress() throws(IOError) -> SocketAddress {
        try SocketCalls.address(of: descriptor, peer: false)
    }

    /// The peer's address (`getpeername`).
    public func peerAddress() throws(IOError) -> SocketAddress {
        try SocketCalls.address(of: descriptor, peer: true)
    }

    /// Sends small writes at once instead of coalescing them (`TCP_NODELAY`).
    public func setNoDelay(_ on: Bool) throws(IOError) {
        try SocketCalls.setOption(descriptor, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, on ? 1 : 0)
    }

    /// Whether `TCP_NODELAY` is set.
    public func noDelay() throws(IOError) -> Bool {
        try SocketCalls.option(descriptor, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) != 0
    }

    /// Probes an idle connection so a vanished peer is noticed (`SO_KEEPALIVE`).
    public func setKeepAlive(_ on: Bool) throws(IOError) {
        try SocketCalls.setOption(descriptor, level: SOL_SOCKET, name: SO_KEEPALIVE, on ? 1 : 0)
    }

    /// Whether `SO_KEEPALIVE` is set.
    public func keepAlive() throws(IOError) -> Bool {
        try SocketCalls.option(descriptor, level: SOL_SOCKET, name: SO_KEEPALIVE) != 0
    }

    // MARK: Closing

    /// Closes the socket; releases the descriptor in every outcome (as
    /// ``File/close()`` does).
    ///
    /// Owned sends still queued (``write(taking:)-(ReceivedBuffer)``) are sent first (this
    /// waits for the peer to take them); a failure of one of them is thrown after the
    /// descriptor is released. Cancelling the task cuts that wait short: the unsent rest is
    /// dropped, the send in the kernel is cancelled, the descriptor is closed once it has
    /// ended, and this throws `CancellationError`. The close itself is never skipped.
    public nonisolated(nonsending) consuming func close() async throws {
        closed = true
        var failure: (any Error)? = nil
        if let queue = sends.existing {
            do {
                try await queue.flush()
            } catch is CancellationError {
                if queue.orphan() { throw CancellationError() }  // the queue closes it when idle
            } catch {
                failure = error
            }
        }
        try await File.release(descriptor, path: nil, runtime: runtime)
        if let failure { throw failure }
    }
}
