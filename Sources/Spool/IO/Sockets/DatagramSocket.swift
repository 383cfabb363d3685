import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket: UDP over IPv4 or IPv6, or a Unix datagram socket (the address decides).
/// Sends and receives whole messages through its runtime's rings, with addresses
/// (`sendmsg`/`recvmsg`), and can receive with one multishot request into a ``BufferPool``.
///
/// ```swift
/// let server = try DatagramSocket.bind(SocketAddress("127.0.0.1:9000"))
/// var buffer = IOBuffer(capacity: 2048)
/// let received = try await server.receive(into: &buffer)
/// try await server.send(buffer, to: received.sender)
/// ```
///
/// **Thread-safety:** `~Copyable` and `Sendable`: one owner at a time, which may move it
/// into a task (``Runtime/spawn(taking:on:_:)``). **Lifetime:** ``close()`` releases the
/// descriptor in every outcome; a socket dropped without it closes it in `deinit`, on any
/// thread. A Unix path it bound stays until you remove it.
public struct DatagramSocket: ~Copyable, Sendable {
    /// The socket's descriptor. Valid until the socket is closed or dropped.
    public let descriptor: FileDescriptor
    /// The runtime whose rings run this socket's I/O.
    public let runtime: Runtime
    private var closed = false

    /// Wraps a datagram socket; the value takes ownership of it.
    public init(adopting descriptor: FileDescriptor, runtime: Runtime) {
        self.descriptor = descriptor
        self.runtime = runtime
    }

    deinit {
        if !closed { DescriptorClose.close(descriptor.rawValue) }
    }

    /// Creates a socket bound to `address` (port 0: the kernel picks; read it with
    /// ``localAddress()``).
    /// - Parameters:
    ///   - address: an IP address and port, or a named Unix address.
    ///   - reuseAddress: `SO_REUSEADDR` (IP only).
    ///   - reusePort: `SO_REUSEPORT` (IP only): several sockets share the port.
    ///   - runtime: the runtime whose rings run the socket's I/O; by default the current one.
    /// - Throws: ``IOError`` (`bind`: `EADDRINUSE`, …, with the address),
    ///   ``RuntimeError/invalidArgument(_:)`` for an unnamed Unix address.
    public static func bind(
        _ address: SocketAddress, reuseAddress: Bool = false, reusePort: Bool = false, runtime: Runtime? = nil
    ) throws -> DatagramSocket {
        let runtime = try runtime ?? Runtime.requireCurrent()
        guard !address.isUnnamedUnix else { throw RuntimeError.invalidArgument("cannot bind an unnamed Unix address (got \(address))") }
        let fd = try SocketCalls.create(for: address, type: Int32(SOCK_DGRAM.rawValue))
        do {
            if address.family != .unix {
                if reuseAddress { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, 1) }
                if reusePort { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, 1) }
            }
            try SocketCalls.bind(fd, to: address)
        } catch {
            SocketCalls.closeQuietly(fd)
            throw error
        }
        return DatagramSocket(adopting: fd, runtime: runtime)
    }

    /// Creates an unbound socket of `family` (IP sockets get an ephemeral port at their
    /// first send; a Unix one stays unnamed, so nobody can answer it).
    /// - Throws: ``IOError`` (`socket`).
    public static func unbound(_ family: SocketAddress.Family, runtime: Runtime? = nil) throws -> DatagramSocket {
        let runtime = try runtime ?? Runtime.requireCurrent()
        let domain: Int32
        switch family {
        case .ipv4: domain = AF_INET
        case .ipv6: domain = AF_INET6
        case .unix: domain = AF_UNIX
        }
        let fd = socket(domain, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw IOError(.socket, errno: Errno(rawValue: errno)) }
        return DatagramSocket(adopting: FileDescriptor(rawValue: fd), runtime: runtime)
    }

    /// Sets the default destination (`connect(2)`, which for datagrams completes at once):
    /// ``send(_:)-(IOBuffer)`` then needs no address, and only `address`'s datagrams are
    /// received. An ICMP error for an earlier send surfaces as `ECONNREFUSED` on a later call.
    /// - Throws: ``IOError`` (`connect`, with the address).
    public func connect(to address: SocketAddress) throws(IOError) {
        let r = address.withSocketAddress { Glibc.connect(descriptor.rawValue, $0, $1) }
        if r != 0 { throw IOError(.connect, errno: Errno(rawValue: errno), descriptor: descriptor, address: address) }
    }

    /// This socket's address (`getsockname`).
    public func localAddress() throws(IOError) -> SocketAddress { try SocketCalls.address(of: descriptor, peer: false) }

    /// The connected peer's address (`getpeername`; `ENOTCONN` if not connected).
    public func peerAddress() throws(IOError) -> SocketAddress { try SocketCalls.address(of: descriptor, peer: true) }

    // MARK: Sending

    /// Sends `buffer`'s valid bytes as one datagram to `destination` (`sendmsg`). A datagram
    /// is sent whole or not at all: too large is `EMSGSIZE`.
    /// - Throws: ``IOError`` (`sendmsg`, with the destination), `CancellationError`, ``RuntimeError``.
    public nonisolated(nonsending) func send(_ buffer: borrowing IOBuffer, to destination: SocketAddress) async throws {
        try await sendMessage(UnsafeRawPointer(buffer.base), count: buffer.count, to: destination)
    }

    /// Sends `bytes` as one datagram to `destination` (copied into an ``IOBuffer`` first).
    public nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, to destination: SocketAddress) async throws {
        let buffer = IOBuffer(bytes)
        try await send(buffer, to: destination)
    }

    /// Sends `buffer`'s valid bytes as one datagram to the connected peer.
    /// - Throws: ``IOError`` (`sendmsg`: `EDESTADDRREQ` when not connected, `ECONNREFUSED`, …).
    public nonisolated(nonsending) func send(_ buffer: borrowing IOBuffer) async throws {
        try await sendMessage(UnsafeRawPointer(buffer.base), count: buffer.count, to: nil)
    }

    /// Sends `bytes` as one datagram to the connected peer.
    public nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws {
        let buffer = IOBuffer(bytes)
        try await send(buffer)
    }

    private nonisolated(nonsending) func sendMessage(_ base: UnsafeRawPointer, count: Int, to destination: SocketAddress?) async throws {
        let header = MessageHeader(iovecCapacity: 1)
        defer { header.free() }
        header.setBuffer(base, count: count)
        if let destination { header.setDestination(destination) }
        let sent = try await runtime.perform(.sendMessage(fd: descriptor.rawValue, message: header.message, flags: 0))
            .value(IOErrorContext(operation: .sendMessage, descriptor: descriptor, address: destination))
        if Int(sent) != count { throw IOError(.sendMessage, errno: .messageTooLong, descriptor: descriptor, address: destination) }
    }

    // MARK: Receiving

    /// What ``receive(into:)`` got besides the bytes.
    public struct Received: Sendable, Equatable {
        /// Bytes received (also `buffer.count`).
        public var count: Int
        /// Who sent it (an unnamed Unix socket: ``SocketAddress/isUnnamedUnix``).
        public var sender: SocketAddress
        /// The datagram was longer than the buffer; the rest is lost (`MSG_TRUNC`).
        public var truncated: Bool
    }

    /// Receives one datagram into `buffer` (`recvmsg`), up to its capacity; sets
    /// `buffer.count`. A longer datagram is cut: ``Received/truncated`` says so.
    /// - Throws: ``IOError`` (`recvmsg`), `CancellationError`, ``RuntimeError``.
    public nonisolated(nonsending) func receive(into buffer: inout IOBuffer) async throws -> Received {
        let header = MessageHeader(iovecCapacity: 1)
        defer { header.free() }
        header.setBuffer(UnsafeRawPointer(buffer.base), count: buffer.capacity)
        header.prepareForSource()
        let n = Int(try await runtime.perform(.receiveMessage(fd: descriptor.rawValue, message: header.message, flags: 0))
            .value(IOErrorContext(operation: .receiveMessage, descriptor: descriptor)))
        buffer.setValidCount(n)
        let truncated = header.message.pointee.msg_flags & Int32(MSG_TRUNC) != 0
        guard let sender = header.source else { throw IOError(.receiveMessage, errno: .addressFamilyNotSupported, descriptor: descriptor) }
        return Received(count: n, sender: sender, truncated: truncated)
    }

    /// Closes the socket. Not cancellable; releases the descriptor in every outcome.
    public nonisolated(nonsending) consuming func close() async throws {
        closed = true
        try await File.release(descriptor, path: nil, runtime: runtime)
    }
}
