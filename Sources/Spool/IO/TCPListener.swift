import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket: binds, listens, and accepts connections through its runtime's
/// rings.
///
/// ```swift
/// let listener = try TCPListener.bind(SocketAddress("127.0.0.1:0"))
/// print("listening on", listener.localAddress)        // the port the kernel chose
/// let connection = try await listener.accept()
/// ```
///
/// **Thread-safety:** `~Copyable` and `Sendable`: one owner at a time, which may move it into
/// an accept loop's task (`Task { [listener = consume listener] in … }`) and stop that loop by
/// cancelling the task (the pending ``accept()`` throws `CancellationError`). **Lifetime:** ``close()`` releases the descriptor in every
/// outcome; a listener dropped without it closes its descriptor in `deinit`, on any thread.
public struct TCPListener: ~Copyable, Sendable {
    /// The listening socket's descriptor. Valid until the listener is closed or dropped.
    public let descriptor: FileDescriptor
    /// The address it is bound to, with the port the kernel chose when asked for port 0.
    public let localAddress: SocketAddress
    /// The runtime whose rings run its accepts.
    public let runtime: Runtime
    private var closed = false

    private init(descriptor: FileDescriptor, localAddress: SocketAddress, runtime: Runtime) {
        self.descriptor = descriptor
        self.localAddress = localAddress
        self.runtime = runtime
    }

    deinit {
        if !closed { _ = Glibc.close(descriptor.rawValue) }
    }

    /// Binds a socket to `address` and listens.
    /// - Parameters:
    ///   - backlog: connections the kernel queues before `accept` takes them.
    ///   - reuseAddress: `SO_REUSEADDR` (default on: a restarted server can bind at once).
    ///   - reusePort: `SO_REUSEPORT` (several listeners share the port; the kernel spreads
    ///     connections).
    /// - Throws: ``IOError`` (`bind` with `EADDRINUSE` or `EACCES` and the address, …),
    ///   ``RuntimeError/invalidArgument(_:)`` for a Unix address or a negative backlog.
    public static func bind(
        _ address: SocketAddress, backlog: Int32 = 511, reuseAddress: Bool = true, reusePort: Bool = false,
        runtime: Runtime? = nil
    ) throws -> TCPListener {
        let runtime = try runtime ?? Runtime.requireCurrent()
        guard address.family != .unix else { throw RuntimeError.invalidArgument("TCPListener binds IPv4 or IPv6 addresses (got \(address))") }
        guard backlog >= 0 else { throw RuntimeError.invalidArgument("backlog must not be negative (got \(backlog))") }
        let fd = try SocketCalls.create(for: address, type: Int32(SOCK_STREAM.rawValue))
        do {
            if reuseAddress { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, 1) }
            if reusePort { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, 1) }
            try SocketCalls.bind(fd, to: address)
            try SocketCalls.listen(fd, backlog: backlog, address: address)
            let bound = try SocketCalls.address(of: fd, peer: false)
            return TCPListener(descriptor: fd, localAddress: bound, runtime: runtime)
        } catch {
            SocketCalls.closeQuietly(fd)
            throw error
        }
    }

    /// Waits for the next connection (its peer: ``TCPStream/peerAddress()``). Cancellable: a
    /// cancelled accept throws `CancellationError` and leaves no descriptor open, unless the
    /// kernel had already accepted a connection, which is then returned.
    /// - Throws: ``IOError`` (`accept`, with the listener's address), `CancellationError`,
    ///   ``RuntimeError``.
    public nonisolated(nonsending) func accept() async throws -> TCPStream {
        let fd = try await runtime.perform(.accept(fd: descriptor.rawValue, address: nil, length: nil))
            .value(IOErrorContext(operation: .accept, descriptor: descriptor, address: localAddress))
        return TCPStream(adopting: FileDescriptor(rawValue: fd), runtime: runtime)
    }

    /// Stops listening and closes the socket. Not cancellable; releases the descriptor in
    /// every outcome.
    public nonisolated(nonsending) consuming func close() async throws {
        closed = true
        try await File.release(descriptor, path: nil, runtime: runtime)
    }
}
