import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Spool

/// `StreamSocket.serveOnArrival`: a connection served by a task only while buffers are queued.
/// Both backends, real sockets.
@Suite("Serving a stream with no task while it is idle", .timeLimit(.minutes(2)))
struct ServeOnArrivalTests {
    /// Why each served stream ended.
    final class Ends: Sendable {
        let peerClosed = Counter()
        let errors = Mutex<[String]>([])
        func record(_ error: (any Error)?) {
            if let error { errors.withLock { $0.append("\(error)") } } else { peerClosed.increment() }
        }
    }

    /// An echo server through `serveOnArrival` on `runtime`'s one ring: the accept task and
    /// the listener's address.
    static func echoServer(_ runtime: Runtime, pool: BufferPool, ends: Ends,
                           body: (@Sendable (borrowing StreamSocket, consuming ReceivedBuffer) async throws -> Void)? = nil)
        throws -> (Task<Void, any Error>, SocketAddress)
    {
        let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
        let address = listener.localAddress
        let serve = body ?? { connection, buffer in try await connection.write(taking: buffer) }
        let server = runtime.spawn(taking: listener) { listener in
            try await listener.acceptConnections { connection in
                try connection.serveOnArrival(from: pool, serve, onEnd: { ends.record($0) })
            }
        }
        return (server, address)
    }

    @Test("20 connections echo 10 rounds each, every byte; idle, they hold no task; each peer's close ends its stream with nil and closes its descriptor",
          arguments: ioUringUsable ? [Backend.ioUring, .portable] : [.portable])
    func echoAndIdle(backend: Backend) async throws {
        let runtime = try singleRingRuntime(backend)
        let pool = try await BufferPool(count: 64, bufferSize: 4096, runtime: runtime)
        let ends = Ends()
        let (server, address) = try Self.echoServer(runtime, pool: pool, ends: ends)
        let port = address.port ?? 0
        let connections = 20
        let echoed = Counter()
        let mayClose = Flag()
        let clients = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for c in 0..<connections {
                    group.addTask {
                        let client = try await StreamSocket.connect(to: address, runtime: runtime)
                        var rounds = 0
                        for i in 0..<10 {
                            let message = (0..<(100 + 37 * c)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i &+ c) }
                            try await client.writeAll(message)
                            var got: [UInt8] = []
                            var buffer = IOBuffer(capacity: message.count)
                            while got.count < message.count {
                                let n = try await client.read(into: &buffer)
                                if n == 0 { break }
                                got += buffer.bytes
                            }
                            if got == message { rounds += 1 }
                        }
                        echoed.increment()
                        while !mayClose.isSet { try await Task.sleep(for: .milliseconds(2)) }
                        try await client.close()
                        return rounds
                    }
                }
                var total = 0
                for try await n in group { total += n }
                return total
            }
        }
        #expect(await eventually { echoed.value == connections }, "\(echoed.value) of \(connections) clients done")
        // Every connection is open and idle: the only task the runtime counts is the accept loop.
        #expect(await eventually { runtime.taskTracker.count == 1 }, "\(runtime.taskTracker.count) tasks for \(connections) idle connections")
        #expect(openSocketDescriptors(ports: [port]).count == 1 + 2 * connections)
        mayClose.set()
        #expect(try await clients.value == 10 * connections)
        #expect(await eventually { ends.peerClosed.value == connections }, "\(ends.peerClosed.value) ended by the peer's close; errors: \(ends.errors.withLock { $0 })")
        #expect(ends.errors.withLock { $0 }.isEmpty)
        #expect(await eventually { openSocketDescriptors(ports: [port]).count == 1 }, "open: \(openSocketDescriptors(ports: [port]).count)")
        #expect(pool.taken == 0)
        server.cancel()
        _ = await server.result
        await runtime.shutdownAndWait()
    }

    @Test("a body that throws ends its stream: onEnd gets that error, the descriptor closes (the peer reads the end), the buffer goes back",
          arguments: ioUringUsable ? [Backend.ioUring, .portable] : [.portable])
    func bodyThrows(backend: Backend) async throws {
        struct Refused: Error {}
        let runtime = try singleRingRuntime(backend)
        let pool = try await BufferPool(count: 16, bufferSize: 4096, runtime: runtime)
        let ends = Ends()
        let (server, address) = try Self.echoServer(runtime, pool: pool, ends: ends) { _, buffer in
            _ = consume buffer
            throw Refused()
        }
        let client = try await StreamSocket.connect(to: address, runtime: runtime)
        try await client.writeAll([1, 2, 3])
        var buffer = IOBuffer(capacity: 16)
        let n = try await client.read(into: &buffer)  // the suite's time limit bounds it
        #expect(n == 0, "the peer reads the end of the stream")
        #expect(await eventually { ends.errors.withLock { $0 }.count == 1 })
        #expect(ends.errors.withLock { $0 }.first?.contains("Refused") == true)
        #expect(ends.peerClosed.value == 0)
        #expect(await eventually { pool.taken == 0 })
        try await client.close()
        server.cancel()
        _ = await server.result
        await runtime.shutdownAndWait()
    }

    @Test("the runtime's shutdown ends 10 idle streams: onEnd gets RuntimeError.shutdown, every server descriptor closes",
          arguments: ioUringUsable ? [Backend.ioUring, .portable] : [.portable])
    func shutdownEndsIdleStreams(backend: Backend) async throws {
        let runtime = try singleRingRuntime(backend)
        let pool = try await BufferPool(count: 16, bufferSize: 4096, runtime: runtime)
        let ends = Ends()
        let (_, address) = try Self.echoServer(runtime, pool: pool, ends: ends)
        let port = address.port ?? 0
        var peers: [Int32] = []
        for _ in 0..<10 {
            let fd = connectedLoopbackSocket(port: port)
            try #require(fd >= 0)
            peers.append(fd)
        }
        // Accepted and armed, with no task: 10 peers, 10 served streams and the listener, and
        // only the accept loop counted.
        #expect(await eventually { openSocketDescriptors(ports: [port]).count == 21 && runtime.taskTracker.count == 1 })
        #expect(await eventually { await runtime.combinedSnapshot()?.statistics.multishotArms ?? 0 >= 11 }, "the 10 receives and the accept are armed")
        await runtime.shutdownAndWait()
        #expect(await eventually { ends.errors.withLock { $0 }.count == 10 }, "ended: \(ends.errors.withLock { $0 })")
        #expect(ends.errors.withLock { $0 }.allSatisfy { $0 == "\(RuntimeError.shutdown)" })
        // Only the raw peers are left.
        #expect(await eventually { openSocketDescriptors(ports: [port]).count == 10 }, "open: \(openSocketDescriptors(ports: [port]).count)")
        for fd in peers { close(fd) }
    }

    @Test("a peer that resets an idle stream: onEnd gets ECONNRESET, the descriptor closes",
          arguments: ioUringUsable ? [Backend.ioUring, .portable] : [.portable])
    func peerResets(backend: Backend) async throws {
        let runtime = try singleRingRuntime(backend)
        let pool = try await BufferPool(count: 16, bufferSize: 4096, runtime: runtime)
        let ends = Ends()
        let (server, address) = try Self.echoServer(runtime, pool: pool, ends: ends)
        let port = address.port ?? 0
        let fd = connectedLoopbackSocket(port: port)
        try #require(fd >= 0)
        #expect(await eventually { openSocketDescriptors(ports: [port]).count == 3 && runtime.taskTracker.count == 1 })
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
        #expect(await eventually { ends.errors.withLock { $0 }.count == 1 })
        #expect(ends.errors.withLock { $0 }.first?.contains("errno 104") == true, "\(ends.errors.withLock { $0 })")
        #expect(await eventually { openSocketDescriptors(ports: [port]).count == 1 })
        server.cancel()
        _ = await server.result
        await runtime.shutdownAndWait()
    }

    @Test("a graceful shutdown lets a running body finish: its echo arrives, then the stream ends with RuntimeError.shutdown",
          arguments: ioUringUsable ? [Backend.ioUring, .portable] : [.portable])
    func gracefulShutdownLetsBodyFinish(backend: Backend) async throws {
        let runtime = try singleRingRuntime(backend)
        let pool = try await BufferPool(count: 16, bufferSize: 4096, runtime: runtime)
        let ends = Ends()
        let started = Flag()
        let (_, address) = try Self.echoServer(runtime, pool: pool, ends: ends) { connection, buffer in
            started.set()
            try await Task.sleep(for: .milliseconds(300))  // cancelled, it would throw: no echo
            try await connection.write(taking: buffer)
            try await connection.flush()
        }
        let port = address.port ?? 0
        let fd = connectedLoopbackSocket(port: port)
        try #require(fd >= 0)
        defer { close(fd) }
        let sent: [UInt8] = [9, 8, 7]
        #expect(write(fd, sent, 3) == 3)
        #expect(await eventually { started.isSet })
        // The grace period also waits for the accept loop (a task), so it runs out: 1 s.
        await runtime.shutdownAndWait(gracePeriod: .seconds(1))
        var got = [UInt8](repeating: 0, count: 8)
        let n = recv(fd, &got, 8, Int32(MSG_DONTWAIT))
        #expect(n == 3 && Array(got.prefix(3)) == [9, 8, 7], "the body's echo arrived before the stream ended (\(n) bytes)")
        #expect(await eventually { ends.errors.withLock { $0 }.count == 1 }, "\(ends.errors.withLock { $0 })")
        #expect(ends.errors.withLock { $0 }.first == "\(RuntimeError.shutdown)")
        #expect(await eventually { openSocketDescriptors(ports: [port]).count == 1 }, "only the raw peer is left")
    }

    @Test("maximumQueued below 1 is invalidArgument, and the stream's descriptor is closed")
    func badBound() async throws {
        try await withTestRuntime { runtime in
            var fds: [Int32] = [0, 0]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            defer { close(fds[1]) }
            let pool = try await BufferPool(count: 4, bufferSize: 1024, runtime: runtime)
            let stream = StreamSocket(adopting: FileDescriptor(rawValue: fds[0]), runtime: runtime)
            var thrown: (any Error)? = nil
            do {
                try stream.serveOnArrival(from: pool, maximumQueued: 0) { _, _ in }
            } catch {
                thrown = error
            }
            #expect(thrown as? RuntimeError == .invalidArgument("maximumQueued must be at least 1 (got 0)"))
            var byte: UInt8 = 0
            #expect(recv(fds[1], &byte, 1, Int32(MSG_DONTWAIT)) == 0, "the peer reads the end: the descriptor was closed")
        }
    }
}
