import ArgumentParser
import Spool
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `spool echo`: a TCP echo server on Spool's public API, with multishot accept and
/// multishot receive into a shared buffer pool. Runs until SIGINT or SIGTERM.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Run a TCP echo server (multishot accept and receive into a shared buffer pool) until SIGINT or SIGTERM.",
        discussion: "Prints 'listening on HOST:PORT' once it accepts connections, and a summary when it stops."
    )

    @Option(help: "The port to listen on; 0 lets the kernel choose (printed at start).")
    var port: UInt16 = 0

    @Option(help: "The address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Receive buffers shared by all connections (a power of two).")
    var buffers: Int = 1024

    @Option(help: "Bytes per receive buffer.")
    var bufferSize: Int = 16 * 1024

    func run() throws {
        let address: SocketAddress
        do {
            address = try host.contains(":") ? SocketAddress(ipv6: host, port: port) : SocketAddress(ipv4: host, port: port)
        } catch {
            throw ValidationError("\(error)")
        }
        // SIGINT and SIGTERM write their number to a pipe (the async-signal-safe way), and
        // the server waits for it with a read through the ring.
        let stopSignal: FileDescriptor
        do {
            stopSignal = try StopSignals.install([SIGINT, SIGTERM])
        } catch {
            printError("spool echo: could not install signal handlers: \(error)")
            throw ExitCode(1)
        }
        let (buffers, bufferSize) = (self.buffers, self.bufferSize)
        do {
            let summary = try Runtime.run { runtime in
                try await EchoServer.run(address: address, buffers: buffers, bufferSize: bufferSize,
                                         stopSignal: stopSignal, runtime: runtime)
            }
            printLine("spool echo: stopped by \(summary.signal); \(summary.connections) connections, \(summary.bytes) bytes received")
        } catch {
            printError("spool echo: \(error)")
            throw ExitCode(1)
        }
    }
}

/// The echo server itself, as a user of Spool would write it.
enum EchoServer {
    /// Connections accepted and bytes echoed, counted from every connection's task, and the
    /// connections still open (by id: the handler task; nil while it is being started).
    final class Counts: Sendable {
        let served = Atomic<Int>(0)
        let echoed = Atomic<Int>(0)
        let open = Mutex<[Int: Task<Void, any Error>?]>([:])
    }

    struct Summary: Sendable {
        var signal: String
        var connections: Int
        var bytes: Int
    }

    static func run(address: SocketAddress, buffers: Int, bufferSize: Int, stopSignal: FileDescriptor, runtime: Runtime) async throws -> Summary {
        let pool = try await BufferPool(count: buffers, bufferSize: bufferSize, runtime: runtime)
        let listener = try StreamListener.bind(address, runtime: runtime)
        printLine("spool echo: listening on \(listener.localAddress)")

        let counts = Counts()
        let server = runtime.spawn(taking: listener) { listener in
            var next = 0
            do {
                try await listener.acceptConnections { connection in
                    let id = next
                    next += 1
                    counts.served.add(1, ordering: .relaxed)
                    try? connection.setNoDelay(true)
                    counts.open.withLock { $0[id] = .some(nil) }
                    let handler = runtime.spawn(taking: connection) { connection in
                        do {
                            try await connection.receiveBuffers(from: pool) { buffer in
                                counts.echoed.add(buffer.count, ordering: .relaxed)
                                // Handed over: queued behind earlier sends, back in the pool
                                // once sent; this waits only if the peer falls 256 KiB behind.
                                try await connection.write(taking: buffer)
                            }
                        } catch {
                            // The peer reset or we are stopping: either way, this connection is done.
                        }
                        try? await connection.close()
                        _ = counts.open.withLock { $0.removeValue(forKey: id) }
                    }
                    // Unless the handler already ended (and removed its entry), remember it.
                    counts.open.withLock { if $0[id] != nil { $0[id] = handler } }
                }
            } catch {
                // Cancelled at shutdown, or accept failed: stop listening either way.
            }
            try? await listener.close()
        }

        // Wait for SIGINT or SIGTERM (a read of the signalfd, through the ring).
        let signals = File(adopting: stopSignal, path: "<signal pipe>", runtime: runtime)
        var info = IOBuffer(capacity: 1)
        _ = try await signals.readAtCurrentPosition(into: &info)
        let number = Int32(info.bytes.first ?? 0)
        try await signals.close()

        // Stop accepting, then end every connection and wait for each to close.
        server.cancel()
        _ = await server.result
        let open = counts.open.withLock { $0.values.compactMap { $0 } }
        for task in open { task.cancel() }
        for task in open { _ = await task.result }
        return Summary(signal: number == SIGINT ? "SIGINT" : "SIGTERM",
                       connections: counts.served.load(ordering: .relaxed), bytes: counts.echoed.load(ordering: .relaxed))
    }
}

/// Signal handlers that write the signal's number to a pipe, so a task can wait for a signal
/// with an ordinary read (the handler does only `write`, which is async-signal-safe).
enum StopSignals {
    nonisolated(unsafe) static var writeEnd: Int32 = -1

    /// Installs the handler for `signals`; returns the pipe's read end (close-on-exec).
    static func install(_ signals: [Int32]) throws -> FileDescriptor {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        writeEnd = ends[1]
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(StopSignals.writeEnd, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            guard sigaction(signal, &action, nil) == 0 else { throw Errno(rawValue: errno) }
        }
        return FileDescriptor(rawValue: ends[0])
    }
}

/// Writes `line` and a newline to standard output at once (unbuffered: a harness reading the
/// port from a pipe sees it immediately).
func printLine(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}
