import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A listening stream socket (TCP over IPv4 or IPv6, or a Unix stream socket): binds,
/// listens, and accepts connections through its runtime's rings. The address decides the
/// kind.
///
/// ```swift
/// let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"))
/// print("listening on", listener.localAddress)        // the port the kernel chose
/// let connection = try await listener.accept()
/// ```
///
/// **Thread-safety:** `~Copyable` and `Sendable`: one owner at a time, which may move it into
/// an accept loop's task (`Task { [listener = consume listener] in … }`) and stop that loop by
/// cancelling the task (the pending ``accept()`` throws `CancellationError`). **Lifetime:** ``close()`` releases the descriptor in every
/// outcome; a listener dropped without it closes its descriptor in `deinit`, on any thread.
public struct StreamListener: ~Copyable, Sendable {
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
        if !closed { DescriptorClose.close(descriptor.rawValue) }
    }

    /// Binds a socket to `address` and listens. A Unix path is created by the bind (an existing
    /// file there is `EADDRINUSE`) and is not removed by ``close()``; an abstract name
    /// (`unix:@name`) vanishes with the socket.
    /// - Parameters:
    ///   - address: an IP address and port (port 0: the kernel picks), or a named Unix address.
    ///   - backlog: connections the kernel queues before `accept` takes them.
    ///   - reuseAddress: `SO_REUSEADDR` (default on: a restarted server can bind at once).
    ///     IP only; ignored for Unix addresses.
    ///   - reusePort: `SO_REUSEPORT` (several listeners share the port; the kernel spreads
    ///     connections). IP only; ignored for Unix addresses.
    ///   - runtime: the runtime whose rings run the accepts; by default the current one.
    /// - Throws: ``IOError`` (`bind` with `EADDRINUSE` or `EACCES` and the address, …),
    ///   ``RuntimeError/invalidArgument(_:)`` for an unnamed Unix address or a negative backlog.
    public static func bind(
        _ address: SocketAddress, backlog: Int32 = 511, reuseAddress: Bool = true, reusePort: Bool = false,
        runtime: Runtime? = nil
    ) throws -> StreamListener {
        let runtime = try runtime ?? Runtime.requireCurrent()
        guard !address.isUnnamedUnix else { throw RuntimeError.invalidArgument("a listener needs a named address (got \(address))") }
        guard backlog >= 0 else { throw RuntimeError.invalidArgument("backlog must not be negative (got \(backlog))") }
        let fd = try SocketCalls.create(for: address, type: Int32(SOCK_STREAM.rawValue))
        do {
            let ip = address.family != .unix
            if ip && reuseAddress { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, 1) }
            if ip && reusePort { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, 1) }
            try SocketCalls.bind(fd, to: address)
            try SocketCalls.listen(fd, backlog: backlog, address: address)
            let bound = try SocketCalls.address(of: fd, peer: false)
            return StreamListener(descriptor: fd, localAddress: bound, runtime: runtime)
        } catch {
            SocketCalls.closeQuietly(fd)
            throw error
        }
    }

    /// Waits for the next connection (its peer: ``StreamSocket/peerAddress()``). Cancellable: a
    /// cancelled accept throws `CancellationError` and leaves no descriptor open, unless the
    /// kernel had already accepted a connection, which is then returned.
    ///
    /// Like ``acceptConnections(_:)``, it rides out descriptor and memory exhaustion (`EMFILE`
    /// …) by waiting on a ring's timing wheel and trying again, and skips connections that died
    /// in the backlog: a loop around it needs no retry logic of its own.
    /// - Throws: ``IOError`` (`accept`, with the listener's address) for a failure that is the
    ///   listener's own, `CancellationError`, ``RuntimeError``.
    public nonisolated(nonsending) func accept() async throws -> StreamSocket {
        var backoff: AcceptBackoff? = nil
        while true {
            let outcome = await runtime.perform(.accept(fd: descriptor.rawValue, address: nil, length: nil))
            if case .completed(let r) = outcome, r < 0, let ring = RingExecutor.current ?? runtime.pickRing() {
                if backoff == nil { backoff = AcceptBackoff(address: localAddress, ring: ring) }
                switch backoff!.failed(Errno(rawValue: -r)) {
                case .fatal: break
                case .retry: continue
                case .wait(let delay):
                    try await AcceptBackoff.pause(delay, runtime: runtime)
                    continue
                }
            }
            let fd = try outcome.value(IOErrorContext(operation: .accept, descriptor: descriptor, address: localAddress))
            backoff?.succeeded()
            return StreamSocket(adopting: FileDescriptor(rawValue: fd), runtime: runtime)
        }
    }

    /// Stops listening and closes the socket. Not cancellable; releases the descriptor in
    /// every outcome.
    public nonisolated(nonsending) consuming func close() async throws {
        closed = true
        try await File.release(descriptor, path: nil, runtime: runtime)
    }
}
