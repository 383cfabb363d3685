import Glibc
@testable import Spool
import Synchronization
import SystemPackage
import Testing

extension SocketTests {
    /// TCP and Unix stream sockets against the real kernel: echo with every byte checked, half-close,
    /// resets, refusals, cancellation without leaks, and bad input.
    @Suite("Stream sockets: TCP and Unix", .timeLimit(.minutes(2)))
    struct StreamSocketTests {
        /// Serves `connections` echo connections on `listener`: each reads until the peer's
        /// half-close and writes back everything it read.
        static func echoServer(_ listener: borrowing StreamListener, connections: Int, runtime: Runtime) async throws {
            var handlers: [Task<Void, any Error>] = []
            for _ in 0..<connections {
                let stream = try await listener.accept()
                handlers.append(runtime.spawn(taking: stream) { stream in
                    var buffer = IOBuffer(capacity: 64 * 1024)
                    while try await stream.read(into: &buffer) > 0 {
                        try await stream.writeAll(buffer)
                    }
                    try await stream.close()
                })
            }
            for handler in handlers { try await handler.value }
        }

        /// One client: sends `message` in chunks, reading back as it goes (so neither side's
        /// buffers fill up), half-closes, and reads the rest.
        static func echoRoundTrip(
            _ address: SocketAddress, _ message: [UInt8], runtime: Runtime,
            echoed: @Sendable ([UInt8]) -> Void = { _ in }
        ) async throws -> [UInt8] {
            let stream = try await StreamSocket.connect(to: address, runtime: runtime)
            if address.family != .unix { try stream.setNoDelay(true) }
            var received: [UInt8] = []
            received.reserveCapacity(message.count)
            var buffer = IOBuffer(capacity: 64 * 1024)
            var sent = 0
            while sent < message.count {
                let chunk = min(16 * 1024, message.count - sent)
                try await stream.writeAll(message[sent..<(sent + chunk)])
                sent += chunk
                // The echo of this chunk: read until we have caught up with what was sent.
                while received.count < sent {
                    let n = try await stream.read(into: &buffer)
                    if n == 0 { break }
                    received += buffer.bytes
                }
            }
            echoed(received)
            try await stream.shutdown(.write)
            while true {
                let n = try await stream.read(into: &buffer)
                if n == 0 { break }
                received += buffer.bytes
            }
            try await stream.close()
            return received
        }

        static func message(_ size: Int, seed: Int) -> [UInt8] { (0..<size).map { pattern($0 &+ seed) } }

        @Test("echo: 1, 100 and 1,000 concurrent connections, messages of 1 B to 1 MiB, every byte checked", arguments: [1, 100, 1000])
        func echo(connections: Int) async throws {
            // The default configuration: 1,000 connections put about 2,000 peer-waiting requests in
            // flight, far past the cap (the CQ size), which they must not count against: capped,
            // the server's accept would wait behind its clients' reads forever.
            raiseDescriptorLimit()  // 1,000 connections are 2,000 sockets in this process
            try await withTestRuntime(Runtime.Configuration()) { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                #expect((address.port ?? 0) > 0, "port 0 chose a port")
                let sizes = connections == 1 ? [1, 100, 4096, 65_537, 1 << 20] : connections == 100 ? [1, 1000, 70_000] : [1, 3000]
                let total = connections * sizes.count
                let clients = Task { () -> Bool in
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for c in 0..<connections {
                            group.addTask {
                                for (i, size) in sizes.enumerated() {
                                    let message = Self.message(size, seed: c * 31 + i)
                                    let back = try await Self.echoRoundTrip(address, message, runtime: runtime)
                                    guard back == message else { return false }
                                }
                                return true
                            }
                        }
                        return try await group.reduce(true) { $0 && $1 }
                    }
                }
                try await Self.echoServer(listener, connections: total, runtime: runtime)
                #expect(try await clients.value, "every byte came back")
                try await listener.close()
            }
        }

        @Test("IPv6 loopback echo")
        func ipv6() async throws {
            try await withTestRuntime { runtime in
                let listener = try StreamListener.bind(SocketAddress("[::1]:0"), runtime: runtime)
                let address = listener.localAddress
                #expect(address.family == .ipv6)
                let client = Task { try await Self.echoRoundTrip(address, Self.message(10_000, seed: 6), runtime: runtime) }
                try await Self.echoServer(listener, connections: 1, runtime: runtime)
                #expect(try await client.value == Self.message(10_000, seed: 6))
                try await listener.close()
            }
        }

        @Test("Unix stream sockets: a path and an abstract name echo; the path stays until removed; the accepted peer is unnamed")
        func unixStream() async throws {
            try await withTestRuntime { runtime in
                let directory = TemporaryDirectory()
                let name = "spool-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                for text in ["unix:\(directory.path)/echo.sock", "unix:@\(name)"] {
                    let listener = try StreamListener.bind(SocketAddress(text), runtime: runtime)
                    let address = listener.localAddress
                    #expect(address == (try SocketAddress(text)))
                    let client = Task { try await Self.echoRoundTrip(address, Self.message(300_000, seed: 12), runtime: runtime) }
                    let peer = try await listener.accept()
                    #expect(try peer.peerAddress().isUnnamedUnix)
                    #expect(try peer.localAddress() == address)
                    var buffer = IOBuffer(capacity: 64 * 1024)
                    while try await peer.read(into: &buffer) > 0 { try await peer.writeAll(buffer) }
                    try await peer.close()
                    #expect(try await client.value == Self.message(300_000, seed: 12))
                    try await listener.close()
                }
                // The bound path outlives the listener: binding it again is EADDRINUSE, with the address.
                let path = try SocketAddress("unix:\(directory.path)/echo.sock")
                do {
                    _ = try StreamListener.bind(path, runtime: runtime)
                    Issue.record("bound an existing socket path")
                } catch let error as IOError {
                    #expect(error.operation == .bind && error.errno == .addressInUse && error.address == path)
                }
                // Nobody listens on the path any more: the connect is refused.
                do {
                    _ = try await StreamSocket.connect(to: path, runtime: runtime)
                    Issue.record("connected to a closed listener's path")
                } catch let error as IOError {
                    #expect(error.operation == .connect && error.errno == .connectionRefused)
                }
            }
        }

        @Test("vectored writes: segments of a 3 MiB buffer arrive in order; a segment outside the buffer is refused")
        func vectoredWrites() async throws {
            try await withTestRuntime { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let total = 3 << 20
                let source = Self.message(total, seed: 21)
                // Out of order, uneven, with an empty one: the peer must get exactly these, in this order.
                let segments = [(total - 1000)..<total, 0..<1, 1..<70_000, 70_000..<70_000, 70_000..<(total - 1000)]
                let expected = segments.flatMap { source[$0] }
                let reader = Task {
                    let stream = try await StreamSocket.connect(to: address, runtime: runtime)
                    var received: [UInt8] = []
                    var buffer = IOBuffer(capacity: 64 * 1024)
                    while try await stream.read(into: &buffer) > 0 { received += buffer.bytes }
                    try await stream.close()
                    return received
                }
                let connection = try await listener.accept()
                let buffer = IOBuffer(source)
                await #expect(throws: RuntimeError.self) { try await connection.writeAll(buffer, segments: [0..<(total + 1)]) }
                try await connection.writeAll(buffer, segments: segments)
                try await connection.shutdown(.write)
                #expect(try await reader.value == expected)
                try await connection.close()
                try await listener.close()
            }
        }

        @Test("zero-copy sends above the threshold: 1 MiB echoes intact and each send waited for its notification")
        func zeroCopySends() async throws {
            var configuration = Runtime.Configuration(submissionEntries: 64)
            configuration.zeroCopySendThreshold = 4096
            try await withTestRuntime(configuration) { runtime in
                let supported = runtime.rings[0].zeroCopySendSupported.load(ordering: .relaxed)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let message = Self.message(1 << 20, seed: 33)
                let client = Task { try await Self.echoRoundTrip(address, message, runtime: runtime) }
                try await Self.echoServer(listener, connections: 1, runtime: runtime)
                #expect(try await client.value == message)
                let notifications = try #require(await runtime.combinedSnapshot()).statistics.zeroCopyNotifications
                if supported {
                    #expect(notifications > 0, "sends of 16 KiB chunks went zero-copy")
                } else {
                    #expect(notifications == 0)
                }
                try await listener.close()
            }
        }

        @Test("deadlines: withTimeout ends a pending accept, a read and a multishot receive with TimeoutError, leaving nothing open")
        func deadlines() async throws {
            try await withTestRuntime { runtime in
                let pool = try await BufferPool(count: 2, bufferSize: 1024, runtime: runtime)
                let ports = Mutex<[UInt16]>([])
                for step in ["accept", "read", "receiveBuffers"] {
                    await #expect(throws: TimeoutError.self, "\(step)") {
                        try await withTimeout(.milliseconds(50), runtime: runtime) {
                            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                            ports.withLock { $0.append(listener.localAddress.port ?? 0) }
                            if step == "accept" { _ = try await listener.accept() }
                            let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
                            let connection = try await listener.accept()
                            if step == "read" {
                                var buffer = IOBuffer(capacity: 16)
                                _ = try await connection.read(into: &buffer)
                            } else {
                                try await connection.receiveBuffers(from: pool) { _ in }
                            }
                            _ = client
                        }
                    }
                }
                #expect(pool.taken == 0)
                #expect(await eventually { openSocketDescriptors(ports: ports.withLock { $0 }).isEmpty }, "every socket was closed")
            }
        }

        @Test("half-close: the peer reads end of stream, then still answers; addresses and options")
        func halfClose() async throws {
            try await withTestRuntime { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let clientSide = Task { () -> String in
                    let client = try await StreamSocket.connect(to: address, runtime: runtime)
                    #expect(try client.peerAddress() == address)
                    #expect(try client.localAddress().host == "127.0.0.1")
                    try client.setNoDelay(true)
                    #expect(try client.noDelay())
                    try client.setKeepAlive(true)
                    #expect(try client.keepAlive())
                    try await client.writeAll(Array("hello".utf8))
                    try await client.shutdown(.write)
                    var buffer = IOBuffer(capacity: 64)
                    let n = try await client.readFully(into: &buffer)  // "bye", then the server's close
                    try await client.close()
                    return String(decoding: buffer.bytes.prefix(n), as: UTF8.self)
                }
                let stream = try await listener.accept()
                var buffer = IOBuffer(capacity: 64)
                let n = try await stream.readFully(into: &buffer)  // until the client's half-close
                #expect(String(decoding: buffer.bytes.prefix(n), as: UTF8.self) == "hello")
                try await stream.writeAll(Array("bye".utf8))
                try await stream.close()
                #expect(try await clientSide.value == "bye")
                try await listener.close()
            }
        }

        @Test("connection refused and address in use are IOErrors naming the address")
        func refusedAndInUse() async throws {
            try await withTestRuntime { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                do {
                    _ = try StreamListener.bind(address, runtime: runtime)
                    Issue.record("a second bind to \(address) succeeded")
                } catch let error as IOError {
                    #expect(error.operation == .bind && error.errno == .addressInUse && error.address == address)
                    #expect(error.description.contains("address \(address)"))
                }
                try await listener.close()
                do {
                    _ = try await StreamSocket.connect(to: address, runtime: runtime)
                    Issue.record("connect to a closed port succeeded")
                } catch let error as IOError {
                    #expect(error.operation == .connect && error.errno == .connectionRefused && error.address == address)
                }
            }
        }

        @Test("a peer that resets: the read throws ECONNRESET, a write EPIPE or ECONNRESET, and no SIGPIPE")
        func peerReset() async throws {
            try await withTestRuntime { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
                let server = try await listener.accept()
                // Linger 0: close sends RST instead of FIN.
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                #expect(setsockopt(server.descriptor.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size)) == 0)
                try await server.close()
                var buffer = IOBuffer(capacity: 16)
                do {
                    _ = try await client.read(into: &buffer)
                    Issue.record("a read from a reset connection succeeded")
                } catch let error as IOError {
                    #expect(error.operation == .receive && error.errno == .connectionReset)
                    #expect(error.descriptor == client.descriptor)
                }
                do {
                    for _ in 0..<4 { try await client.writeAll(Array(repeating: 1, count: 1000)) }
                    Issue.record("writes to a reset connection succeeded")
                } catch let error as IOError {
                    #expect(error.operation == .send && (error.errno == .brokenPipe || error.errno == .connectionReset))
                }
                try await client.close()
                try await listener.close()
            }
        }

        @Test("peer-waiting requests pass the in-flight cap: 100 connections echo under a cap of 8")
        func capDoesNotDeadlockSockets() async throws {
            try await withTestRuntime(Runtime.Configuration(submissionEntries: 64, inFlightLimit: 8)) { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let clients = Task { () -> Bool in
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for c in 0..<100 {
                            group.addTask { try await Self.echoRoundTrip(address, Self.message(2000, seed: c), runtime: runtime) == Self.message(2000, seed: c) }
                        }
                        return try await group.reduce(true) { $0 && $1 }
                    }
                }
                let server = runtime.spawn(taking: listener) { listener in
                    try await Self.echoServer(listener, connections: 100, runtime: runtime)
                    try await listener.close()
                }
                let served = try await withinDeadline(.seconds(30), "100 echo connections under a cap of 8") {
                    try await server.value
                    return try await clients.value
                }
                #expect(served == true)
                #expect((await runtime.combinedSnapshot()?.peakInFlight ?? 0) > 8, "more requests were in flight than the cap")
            }
        }

        @Test("socket traffic passes a capped request that never completes; a socket's close is capped and waits its turn")
        func cappedWaitersDoNotBlockSockets() async throws {
            try await withTestRuntime(Runtime.Configuration(ringCount: 1, submissionEntries: 64, inFlightLimit: 1)) { runtime in
                let pipe = try FileDescriptor.pipe()
                defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
                let stuck = runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 })
                let queued = runtime.spawn { try await runtime.nop() }  // waits for the cap
                #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) >= 1 })
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let echoed = Mutex<[UInt8]?>(nil)
                let client = Task {
                    try await Self.echoRoundTrip(address, Self.message(5000, seed: 9), runtime: runtime) { bytes in
                        echoed.withLock { $0 = bytes }
                    }
                }
                let server = runtime.spawn(taking: listener) { listener in
                    try await Self.echoServer(listener, connections: 1, runtime: runtime)
                    try await listener.close()
                }
                // Accept, connect, send and receive wait on a peer: they pass the cap.
                #expect(await eventually { echoed.withLock { $0 != nil } })
                #expect(echoed.withLock { $0 } == Self.message(5000, seed: 9))
                // Shutdowns and closes complete on their own, so they are capped: the client's
                // half-close waits behind the NOP.
                #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) >= 2 })
                _ = try pipe.writeEnd.writeAll([1])  // release the pipe read; the NOP and the closes follow
                _ = try await stuck.value
                try await queued.value
                try await withinDeadline(.seconds(30), "the closes after the cap frees") {
                    try await server.value
                    _ = try await client.value
                }
            }
        }

        @Test("cancelling a pending accept, connect and read: CancellationError each, no descriptor left")
        func cancellation() async throws {
            try await withTestRuntime { runtime in
                // A pending accept: the listener moves into the accepting task, which closes it.
                let quiet = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let ports = Mutex<[UInt16]>([quiet.localAddress.port ?? 0])
                let accept = runtime.spawn(taking: quiet) { quiet -> String in
                    let outcome: String
                    do { _ = try await quiet.accept(); outcome = "accepted" } catch is CancellationError { outcome = "cancelled" } catch { outcome = "\(error)" }
                    try? await quiet.close()
                    return outcome
                }
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 })
                accept.cancel()
                #expect(try await accept.value == "cancelled")

                // A pending connect: with backlog 0 the accept queue holds one connection and later
                // SYNs go unanswered while nobody accepts, so a connect waits.
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), backlog: 0, runtime: runtime)
                let address = listener.localAddress
                ports.withLock { $0.append(address.port ?? 0) }
                var held: [Task<String, any Error>] = []
                var cancelledConnect: String?
                for _ in 0..<8 {
                    let attempt = runtime.spawn { () -> String in
                        let s: StreamSocket
                        do { s = try await StreamSocket.connect(to: address, runtime: runtime) } catch is CancellationError { return "cancelled" } catch { return "\(error)" }
                        try? await Task.sleep(for: .seconds(30))  // holds its connection until cancelled
                        try? await s.close()
                        return "connected"
                    }
                    try await Task.sleep(for: .milliseconds(150))
                    let inFlight = await runtime.combinedSnapshot()?.inFlight ?? 0
                    if inFlight > 0 {  // the connect is still waiting in the kernel
                        attempt.cancel()
                        cancelledConnect = try await attempt.value
                        break
                    }
                    held.append(attempt)
                }
                #expect(cancelledConnect == "cancelled", "a connect that waited was cancelled")
                for h in held { h.cancel() }
                for h in held { _ = try await h.value }

                try await listener.close()  // its queued connection goes with it

                // A pending read on a silent connection, moved into the reading task.
                let silent = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                ports.withLock { $0.append(silent.localAddress.port ?? 0) }
                let reader = try await StreamSocket.connect(to: silent.localAddress, runtime: runtime)
                let read = runtime.spawn(taking: reader) { reader -> String in
                    var buffer = IOBuffer(capacity: 8)
                    let outcome: String
                    do { _ = try await reader.read(into: &buffer); outcome = "read" } catch is CancellationError { outcome = "cancelled" } catch { outcome = "\(error)" }
                    try? await reader.close()
                    return outcome
                }
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 })
                read.cancel()
                #expect(try await read.value == "cancelled")
                try await silent.close()
                let used = ports.withLock { $0 }
                #expect(await eventually { openSocketDescriptors(ports: used).isEmpty }, "no descriptor left open: \(openSocketDescriptors(ports: used))")
            }
        }

        @Test("bad input: a Unix path in no directory, a negative backlog, a descriptor that is not a socket")
        func badInput() async throws {
            try await withTestRuntime { runtime in
                let missing = try SocketAddress("unix:/nonexistent-spool-directory/x.sock")
                do {
                    _ = try await StreamSocket.connect(to: missing, runtime: runtime)
                    Issue.record("connected to a path that does not exist")
                } catch let error as IOError {
                    #expect(error.operation == .connect && error.errno == .noSuchFileOrDirectory && error.address == missing)
                }
                do {
                    _ = try StreamListener.bind(missing, runtime: runtime)
                    Issue.record("bound in a directory that does not exist")
                } catch let error as IOError {
                    #expect(error.operation == .bind && error.errno == .noSuchFileOrDirectory && error.address == missing)
                }
                #expect(throws: RuntimeError.self) { _ = try StreamListener.bind(SocketAddress("127.0.0.1:0"), backlog: -1, runtime: runtime) }
                // A pipe is not a socket: the kernel says ENOTSOCK, with the call and descriptor.
                let pipe = try FileDescriptor.pipe()
                defer { try? pipe.writeEnd.close() }
                let notSocket = StreamSocket(adopting: pipe.readEnd, runtime: runtime)
                var buffer = IOBuffer(capacity: 8)
                do {
                    _ = try await notSocket.read(into: &buffer)
                    Issue.record("recv on a pipe succeeded")
                } catch let error as IOError {
                    #expect(error.operation == .receive && error.errno == .notSocket)
                }
                #expect(throws: IOError.self) { _ = try notSocket.peerAddress() }
                try await notSocket.close()
            }
        }
    }
}

/// The descriptors of this process that are TCP sockets with a local or remote port in
/// `ports` (from `/proc/net/tcp{,6}` inodes matched against `/proc/self/fd`): a targeted leak
/// check that other tests' sockets, running in parallel, do not disturb.
func openSocketDescriptors(ports: [UInt16], tables: [String] = ["/proc/net/tcp", "/proc/net/tcp6"]) -> [Int32] {
    var inodes = Set<String>()
    for table in tables {
        guard let f = fopen(table, "r") else { continue }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, f) > 0 {
            let fields = String(cString: line!).split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[0] != "sl" else { continue }
            let local = fields[1].split(separator: ":").last.flatMap { UInt16($0, radix: 16) }
            let remote = fields[2].split(separator: ":").last.flatMap { UInt16($0, radix: 16) }
            if ports.contains(where: { $0 == local || $0 == remote }), fields[9] != "0" { inodes.insert(String(fields[9])) }
        }
        free(line)
    }
    return openDescriptors().compactMap { fd, target in
        inodes.contains(where: { target == "socket:[\($0)]" }) ? fd : nil
    }
}

/// Raises this process's descriptor limit to its hard limit (for tests with many sockets).
func raiseDescriptorLimit() {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}
