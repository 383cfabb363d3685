import ArgumentParser
import Dispatch
import Logging
import ServiceLifecycle
import Spool
import SpoolServiceLifecycle
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `spool echo`: a TCP echo server on Spool's public API, with one `SO_REUSEPORT` listener
/// per ring, multishot accept and multishot receive into a per-ring buffer pool. Runs as a
/// swift-service-lifecycle `ServiceGroup` until SIGINT or SIGTERM, then shuts down gracefully.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Run a TCP echo server (one listener per ring, multishot accept and receive into per-ring buffer pools) until SIGINT or SIGTERM.",
        discussion: """
            Prints 'listening on HOST:PORT' once it accepts connections. On SIGINT or SIGTERM it stops \
            accepting, gives open connections --grace-period to finish, ends the rest, and prints a summary.
            """
    )

    @Option(help: "The port to listen on; 0 lets the kernel choose (printed at start).")
    var port: UInt16 = 0

    @Option(help: "The address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Rings (threads), each with its own listener; default: one per core.")
    var threads: Int = Runtime.Configuration.coreCount

    @Option(help: "Receive buffers per ring, shared by that ring's connections (a power of two).")
    var buffers: Int = 1024

    @Option(help: "Bytes per receive buffer.")
    var bufferSize: Int = 16 * 1024

    @Option(help: "Seconds open connections may go on after SIGINT/SIGTERM before they are ended.")
    var gracePeriod: Double = 1

    @Option(help: "Log a warning when a ring's loop stalls this many milliseconds (0: off).")
    var stallMilliseconds: Int = 100

    @Flag(help: "Serve each connection with no task while it is idle (StreamSocket.serveOnArrival) instead of a task per connection.")
    var onArrival = false

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be in 1...1024") }
        guard gracePeriod >= 0, gracePeriod <= 3600 else { throw ValidationError("--grace-period must be in 0...3600 seconds") }
        guard stallMilliseconds >= 0 else { throw ValidationError("--stall-milliseconds must not be negative") }
    }

    func run() throws {
        let address: SocketAddress
        do {
            address = try host.contains(":") ? SocketAddress(ipv6: host, port: port) : SocketAddress(ipv4: host, port: port)
        } catch {
            throw ValidationError("\(error)")
        }
        var logger = Logger(label: "spool.echo")
        logger.logLevel = .warning
        var configuration = Runtime.Configuration(ringCount: threads, logger: logger)
        if stallMilliseconds > 0 { configuration.stallThreshold = .milliseconds(stallMilliseconds) }
        let runtime: Runtime
        do {
            runtime = try Runtime(configuration: configuration)
        } catch {
            printError("spool echo: \(error)")
            throw ExitCode(1)
        }
        let server = EchoServer(runtime: runtime, address: address, buffers: buffers, bufferSize: bufferSize,
                                gracePeriod: .milliseconds(Int(gracePeriod * 1000)), onArrival: onArrival)
        let group = ServiceGroup(
            services: [RuntimeService(runtime, gracePeriod: .milliseconds(Int(gracePeriod * 1000))), server],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let r: Result<Void, any Error>
            do { try await group.run(); r = .success(()) } catch { r = .failure(error) }
            outcome.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        if case .failure(let error) = outcome.withLock({ $0! }) {
            printError("spool echo: \(error)")
            throw ExitCode(1)
        }
        let counts = server.counts
        let spread = counts.perRing.withLock { $0 }.sorted { $0.key < $1.key }.map { "ring \($0.key): \($0.value)" }.joined(separator: ", ")
        printLine("spool echo: stopped gracefully; \(counts.served.load(ordering: .relaxed)) connections, \(counts.echoed.load(ordering: .relaxed)) bytes received on \(runtime.ringCount) rings (\(spread.isEmpty ? "none" : spread))")
    }
}

/// The echo server itself, as a user of Spool would write it: a `Service` whose graceful
/// shutdown stops accepting; the runtime service beside it then lets open connections finish
/// for the grace period and ends the rest (the runtime's bounded shutdown).
struct EchoServer: Service {
    /// Connections accepted and bytes echoed, counted from every connection's task.
    final class Counts: Sendable {
        let served = Atomic<Int>(0)
        let echoed = Atomic<Int>(0)
        /// Connections accepted by each ring.
        let perRing = Mutex<[Int: Int]>([:])
    }

    let runtime: Runtime
    let address: SocketAddress
    let buffers: Int
    let bufferSize: Int
    let gracePeriod: Duration
    /// Each connection served by `serveOnArrival` (no task while idle) instead of a task.
    var onArrival = false
    let counts = Counts()

    func run() async throws {
        let (runtime, counts, buffers, bufferSize, onArrival) = (self.runtime, self.counts, self.buffers, self.bufferSize, self.onArrival)
        // Accept until the graceful shutdown (SIGINT/SIGTERM) cancels the accept loops.
        do {
            try await cancelWhenGracefulShutdown {
                try await runtime.serveOnEachRing(self.address, bound: { printLine("spool echo: listening on \($0)") }) { listener, ring in
                    // This ring's pool: its connections receive on this ring.
                    let pool = try await BufferPool(count: buffers, bufferSize: bufferSize, runtime: runtime)
                    // Counted here and recorded once: no lock per connection.
                    var accepted = 0
                    defer { counts.perRing.withLock { $0[ring, default: 0] += accepted } }
                    try await listener.acceptConnections { connection in
                        accepted += 1
                        if onArrival {
                            Self.serveOnArrival(connection, pool: pool, counts: counts)
                        } else {
                            Self.serve(connection, pool: pool, counts: counts, runtime: runtime)
                        }
                    }
                }
            }
        } catch is CancellationError {
            // The graceful shutdown: no more accepts.
        } catch let error as RuntimeError where error == .shutdown {
            // The runtime began shutting down first.
        }
        // Open connections are the runtime's: its graceful shutdown (RuntimeService, next in
        // the group) gives them the grace period and ends the rest.
    }

    /// Echoes one connection with no task while it is idle, until the peer closes it (or the
    /// runtime's shutdown ends it: the runtime service's grace period covers those that are
    /// echoing).
    static func serveOnArrival(_ connection: consuming StreamSocket, pool: BufferPool, counts: Counts) {
        counts.served.add(1, ordering: .relaxed)
        try? connection.setNoDelay(true)
        try? connection.serveOnArrival(from: pool) { connection, buffer in
            counts.echoed.add(buffer.count, ordering: .relaxed)
            try await connection.write(taking: buffer)
        }
    }

    /// Echoes one connection on the current ring until the peer closes it: the README's
    /// pattern. The runtime service's graceful shutdown gives its task the grace period, then
    /// cancels what is left (this server keeps no list of its connections: one more entry per
    /// connection, and one more frame in its task).
    static func serve(_ connection: consuming StreamSocket, pool: BufferPool, counts: Counts, runtime: Runtime) {
        counts.served.add(1, ordering: .relaxed)
        try? connection.setNoDelay(true)
        runtime.spawn(taking: connection, on: .current) { connection in
            do {
                try await connection.receiveBuffers(from: pool) { buffer in
                    counts.echoed.add(buffer.count, ordering: .relaxed)
                    // Handed over: queued behind earlier sends, back in the pool once sent;
                    // this waits only if the peer falls 256 KiB behind.
                    try await connection.write(taking: buffer)
                }
            } catch {
                // The peer reset or we are stopping: either way, this connection is done.
            }
            try? await connection.close()
        }
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
