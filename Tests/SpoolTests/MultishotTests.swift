import Synchronization
import SystemPackage
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

extension SocketTests {
    /// Multishot accept and provided-buffer receive against the real kernel: echo with every
    /// byte checked, backpressure with a slow consumer, the accept queue bound, cancellation
    /// without leaks, shutdown, and bad input.
    @Suite("Multishot accept and receive with a buffer pool")
    struct MultishotTests {
        /// An echo server on the multishot API, in a task that owns the listener, until
        /// `connections` connections have ended; then the accept loop is cancelled and the
        /// listener closed.
        static func multishotEchoServer(
            _ listener: consuming StreamListener, pool: BufferPool, connections: Int, owned: Bool = false, runtime: Runtime
        ) async throws {
            let done = Counter()
            let handlers = Mutex<[Task<Void, any Error>]>([])
            let accepting = runtime.spawn(taking: listener) { listener in
                do {
                    try await listener.acceptConnections { connection in
                        let handler = runtime.spawn(taking: connection) { connection in
                            defer { done.increment() }
                            try await connection.receiveBuffers(from: pool) { buffer in
                                if owned {
                                    try await connection.write(taking: buffer)  // queued; the lease returns when sent
                                } else {
                                    try await connection.writeAll(buffer)
                                }
                            }
                            try await connection.close()  // sends what is still queued first
                        }
                        handlers.withLock { $0.append(handler) }
                    }
                } catch is CancellationError {
                    try await listener.close()
                    throw CancellationError()
                }
            }
            // The accept loop runs until cancelled: wait for every connection to end first.
            let start = ContinuousClock.now
            while done.value < connections && ContinuousClock.now - start < .seconds(60) { try await Task.sleep(for: .milliseconds(5)) }
            #expect(done.value == connections, "every connection ended within 60 s")
            accepting.cancel()
            await #expect(throws: CancellationError.self) { try await accepting.value }
            for h in handlers.withLock({ $0 }) { try await h.value }
        }

        @Test("multishot echo: 1 and 100 connections, 1 B to 1 MiB, every byte checked, writing each lease or handing it over; a pool of 64 × 4 KiB never over-leased",
              arguments: [1, 100], [false, true])
        func echo(connections: Int, owned: Bool) async throws {
            try await withTestRuntime(Runtime.Configuration()) { runtime in
                let pool = try await BufferPool(count: 64, bufferSize: 4096, runtime: runtime)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let sizes = connections == 1 ? [1, 100, 4096, 65_537, 1 << 20] : [1, 5000, 70_000]
                let clients = Task { () -> Bool in
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for c in 0..<connections {
                            group.addTask {
                                for (i, size) in sizes.enumerated() {
                                    let message = StreamSocketTests.message(size, seed: c * 17 + i)
                                    guard try await StreamSocketTests.echoRoundTrip(address, message, runtime: runtime) == message else { return false }
                                }
                                return true
                            }
                        }
                        return try await group.reduce(true) { $0 && $1 }
                    }
                }
                try await Self.multishotEchoServer(listener, pool: pool, connections: connections * sizes.count, owned: owned, runtime: runtime)
                #expect(try await clients.value, "every byte came back")
                #expect(pool.peakLeased <= pool.count)
                #expect(pool.leased == 0, "every buffer went back")
            }
        }

        @Test("a slow consumer behind a fast producer: leases never exceed the pool, the kernel stops and re-arms, nothing is lost")
        func slowConsumer() async throws {
            try await withTestRuntime(Runtime.Configuration()) { runtime in
                let pool = try await BufferPool(count: 8, bufferSize: 4096, runtime: runtime)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let total = 4 << 20
                let message = StreamSocketTests.message(total, seed: 3)
                let producer = Task {
                    let stream = try await StreamSocket.connect(to: address, runtime: runtime)
                    try await stream.writeAll(message)  // as fast as the peer's window lets it
                    try await stream.close()
                }
                let connection = try await listener.accept()
                var received: [UInt8] = []
                received.reserveCapacity(total)
                var held: [HeldLease] = []
                var turns = 0
                try await connection.receiveBuffers(from: pool) { buffer in
                    received += buffer.bytes
                    held.append(HeldLease(buffer))
                    turns += 1
                    // Hold every lease until the pool is dry (the kernel must stop: ENOBUFS), then
                    // dawdle before giving them all back.
                    if held.count == pool.count || turns % 64 == 0 {
                        #expect(pool.leased <= pool.count)
                        try await Task.sleep(for: .milliseconds(1))
                        held.removeAll()
                    }
                }
                held.removeAll()
                try await producer.value
                #expect(received == message, "every byte, in order")
                #expect(pool.peakLeased == pool.count, "the consumer held the whole pool at least once")
                let arms = try #require(await runtime.combinedSnapshot()).statistics.multishotArms
                #expect(arms >= 2, "the receive ran dry (ENOBUFS) and was re-armed when buffers came back")
                #expect(pool.leased == 0)
                try await connection.close()
                try await listener.close()
            }
        }

        @Test("a stuck consumer cannot take a shared pool: its receive pauses at maximumQueued and another connection keeps echoing",
              arguments: [4])
        func stuckConsumerDoesNotStarveOthers(maximumQueued: Int) async throws {
            try await withTestRuntime(Runtime.Configuration()) { runtime in
                let pool = try await BufferPool(count: 16, bufferSize: 4096, runtime: runtime)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let release = Flag()
                let server = runtime.spawn(taking: listener) { listener in
                    var first = true
                    do {
                        try await listener.acceptConnections { connection in
                            let stuck = first
                            first = false
                            _ = runtime.spawn(taking: connection) { connection in
                                try? await connection.receiveBuffers(from: pool, maximumQueued: maximumQueued) { buffer in
                                    // The first connection's consumer sticks on its first buffer.
                                    while stuck && !release.isSet { try await Task.sleep(for: .milliseconds(2)) }
                                    if !stuck { try await connection.writeAll(buffer) }
                                }
                                try? await connection.close()
                            }
                        }
                    } catch {}
                    try await listener.close()
                }
                let flood = Task {
                    let stream = try await StreamSocket.connect(to: address, runtime: runtime)
                    try await stream.writeAll([UInt8](repeating: 7, count: 1 << 20))
                    while !release.isSet { try await Task.sleep(for: .milliseconds(2)) }
                    try await stream.close()
                }
                #expect(await eventually { pool.taken >= maximumQueued }, "the stuck consumer's queue filled")
                try await Task.sleep(for: .milliseconds(100))
                #expect(pool.taken <= maximumQueued + 2, "the request paused: the kernel took no more for it")
                let message = StreamSocketTests.message(200_000, seed: 2)
                let echoed = try await withinDeadline(.seconds(30), "an echo beside a stuck consumer") {
                    try await StreamSocketTests.echoRoundTrip(address, message, runtime: runtime)
                }
                #expect(echoed == message)
                release.set()
                try await flood.value
                server.cancel()
                _ = await server.result
            }
        }

        @Test("the accept queue bound: 300 connections behind a slow accept body all arrive, none lost or leaked")
        func acceptBound() async throws {
            raiseDescriptorLimit()
            try await withTestRuntime(Runtime.Configuration()) { runtime in
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), backlog: 1024, runtime: runtime)
                let address = listener.localAddress
                let count = 300
                let clients = Task {
                    try await withThrowingTaskGroup(of: [UInt8].self) { group in
                        for c in 0..<count {
                            if c == count * 2 / 3 {
                                // The last third connects only once the bound has paused the
                                // accept, so it must be re-armed for them (with two rings the
                                // kernel could otherwise queue all 300 before the pause lands).
                                _ = await eventually { (await runtime.combinedSnapshot()?.statistics.multishotPauses ?? 0) >= 1 }
                                try? await Task.sleep(for: .milliseconds(50))  // its cancel completes
                            }
                            group.addTask {
                                let stream = try await StreamSocket.connect(to: address, runtime: runtime)
                                var buffer = IOBuffer(capacity: 8)
                                _ = try await stream.readFully(into: &buffer)
                                try await stream.close()
                                _ = c
                                return buffer.bytes
                            }
                        }
                        var all: [[UInt8]] = []
                        for try await b in group { all.append(b) }
                        return all
                    }
                }
                var accepted = 0
                let served = runtime.spawn(taking: listener) { listener -> Int in
                    var n = 0
                    do {
                        try await listener.acceptConnections { connection in
                            if n % 50 == 0 { try await Task.sleep(for: .milliseconds(20)) }  // let the queue fill
                            try await connection.writeAll(withUnsafeBytes(of: UInt64(n).littleEndian) { Array($0) })
                            try await connection.close()
                            n += 1
                            if n == count { throw CancellationError() }
                        }
                    } catch is CancellationError {}
                    try await listener.close()
                    return n
                }
                accepted = try await served.value
                #expect(accepted == count)
                let marks = try await clients.value.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
                #expect(Set(marks) == Set((0..<UInt64(count))), "each connection got its own, exactly once")
                let stats = try #require(await runtime.combinedSnapshot()).statistics
                #expect(stats.multishotPauses >= 1, "the queue bound paused the accept at least once")
                #expect(stats.multishotArms >= 2, "and it was re-armed")
            }
        }

        @Test("cancelling a multishot accept and a multishot receive: CancellationError, no descriptor or buffer left")
        func cancellation() async throws {
            try await withTestRuntime { runtime in
                let pool = try await BufferPool(count: 4, bufferSize: 1024, runtime: runtime)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = listener.localAddress
                let port = address.port ?? 0
                let client = try await StreamSocket.connect(to: address, runtime: runtime)
                let clientPort = try client.localAddress().port ?? 0
                // The accepted connection's task receives until cancelled; the accept loop waits for more.
                let receiving = runtime.spawn(taking: listener) { listener -> String in
                    do {
                        try await listener.acceptConnections { connection in
                            do {
                                try await connection.receiveBuffers(from: pool) { _ in }
                            } catch is CancellationError {
                                try await connection.close()
                                throw CancellationError()
                            }
                        }
                        return "returned"
                    } catch is CancellationError {
                        try await listener.close()
                        return "cancelled"
                    }
                }
                try await client.writeAll([1, 2, 3])
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 && pool.leased == 0 })
                try await Task.sleep(for: .milliseconds(20))
                receiving.cancel()
                #expect(try await receiving.value == "cancelled")
                #expect(pool.leased == 0)
                try await client.close()
                #expect(await eventually { openSocketDescriptors(ports: [port, clientPort]).isEmpty }, "no socket left open")
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 1) == 0 }, "the multishot requests ended")
            }
        }

        @Test("shutdown ends a multishot receive with RuntimeError.shutdown")
        func shutdown() async throws {
            let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 64))
            let pool = try await BufferPool(count: 4, bufferSize: 1024, runtime: runtime)
            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
            let connection = try await listener.accept()
            let receiving = runtime.spawn(taking: connection) { connection -> String in
                do {
                    try await connection.receiveBuffers(from: pool) { _ in }
                    return "returned"
                } catch let error as RuntimeError {
                    return "\(error)"
                }
            }
            #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 })
            runtime.shutdown()
            #expect(try await receiving.value == "\(RuntimeError.shutdown)")
            _ = client
            _ = listener
        }

        @Test("shutdown wakes a receive waiting for a pool buffer held elsewhere, and a live pool does not keep the ring open")
        func shutdownWithDryPool() async throws {
            let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 64))
            let pool = try await BufferPool(count: 2, bufferSize: 1024, runtime: runtime)
            weak let kernelRing = runtime.rings[0].reactor.ioUringBackend?.ring
            #expect((kernelRing != nil) == (runtime.backend.backend == .ioUring))
            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
            let connection = try await listener.accept()
            let held = Mutex<[HeldLease]>([])
            let receiving = runtime.spawn(taking: connection) { connection -> String in
                do {
                    // Every lease is kept elsewhere: the pool runs dry and the receive waits for a buffer.
                    try await connection.receiveBuffers(from: pool) { buffer in
                        let lease = HeldLease(buffer)
                        held.withLock { $0.append(lease) }
                    }
                    return "returned"
                } catch let error as RuntimeError {
                    return "\(error)"
                }
            }
            for _ in 0..<8 { try await client.writeAll([UInt8](repeating: 1, count: 1024)) }
            #expect(await eventually { pool.taken == 2 && held.withLock { $0.count } == 2 })
            runtime.shutdown()
            let outcome = try await withinDeadline(.seconds(30), "the dry receive ends at shutdown") { try await receiving.value }
            #expect(outcome == "\(RuntimeError.shutdown)")
            #expect(kernelRing == nil, "the ring was closed although the pool and two leases are alive")
            held.withLock { $0.removeAll() }
            #expect(pool.taken == 0)
            _ = client
            _ = listener
        }

        @Test("bad input: a pool's count and size")
        func badInput() async throws {
            try await withTestRuntime { runtime in
                await #expect(throws: RuntimeError.self) { _ = try await BufferPool(count: 3, bufferSize: 1024, runtime: runtime) }
                await #expect(throws: RuntimeError.self) { _ = try await BufferPool(count: 0, bufferSize: 1024, runtime: runtime) }
                await #expect(throws: RuntimeError.self) { _ = try await BufferPool(count: 65536, bufferSize: 1024, runtime: runtime) }
                await #expect(throws: RuntimeError.self) { _ = try await BufferPool(count: 4, bufferSize: 0, runtime: runtime) }
                await #expect(throws: RuntimeError.self) { _ = try await BufferPool(count: 4, bufferSize: 64, maximumHeldPerStream: 0, runtime: runtime) }
                await #expect(throws: RuntimeError.self) { _ = try await BufferPool(count: 4, bufferSize: 64, maximumHeldPerStream: 5, runtime: runtime) }
            }
        }

        @Test("maximumQueued: .max is accepted (no overflow in the receive's byte limit) and the receive works")
        func maximumQueuedMax() async throws {
            try await withTestRuntime { runtime in
                let pool = try await BufferPool(count: 8, bufferSize: 16 * 1024, runtime: runtime)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
                let server = try await listener.accept()
                try await client.writeAll(Array("hello".utf8))
                try await client.shutdown(.write)
                var got: [UInt8] = []
                try await server.receiveBuffers(from: pool, maximumQueued: .max) { buffer in got += buffer.bytes }
                #expect(got == Array("hello".utf8))
                try await server.close()
                try await client.close()
                try await listener.close()
            }
        }

        @Test("a pool leaves its ring's list when its last user drops it, not before: the list does not keep it alive")
        func droppedPoolLeavesRing() async throws {
            try await withTestRuntime(Runtime.Configuration(ringCount: 1, submissionEntries: 64)) { runtime in
                let ring = runtime.rings[0]
                let before = ring.pools.withLock { $0.count }
                var pool: BufferPool? = try await BufferPool(count: 4, bufferSize: 64, runtime: runtime)
                let group = pool!.group
                let shared = pool!.shared
                #expect(ring.pools.withLock { $0.count } == before + 1)
                #expect(ring.pool(group: group) === shared)
                // Another user (a receive, a lease) holds the pool: it stays listed until that goes too.
                var other = pool
                pool = nil
                #expect(ring.pool(group: group) === shared, "another user still holds the pool")
                #expect(other != nil)
                other = nil
                #expect(ring.pool(group: group) == nil, "the last user dropped it: its deinit unlisted it")
                #expect(ring.pools.withLock { $0.count } == before)
            }
        }

        @Test("the bodies of receiveBuffers and acceptConnections run on the caller's executor: an actor's, with no hop")
        func bodiesRunOnCallersExecutor() async throws {
            try await withTestRuntime { runtime in
                let pool = try await BufferPool(count: 4, bufferSize: 1024, runtime: runtime)
                let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
                let connection = try await listener.accept()
                try await client.writeAll(Array("on the actor".utf8))
                try await client.shutdown(.write)
                let collector = IsolationCollector()
                let (bytes, onActor) = try await collector.receive(connection, pool: pool)
                #expect(bytes == Array("on the actor".utf8))
                #expect(!onActor.isEmpty && onActor.allSatisfy { $0 }, "each receive body ran isolated to the actor: \(onActor)")
                let second = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
                #expect(try await collector.acceptOne(listener), "the accept body ran isolated to the actor")
                _ = second
            }
        }
    }
}

/// Calls `receiveBuffers` and `acceptConnections` from a `nonisolated(nonsending)` function
/// with closures that capture no actor: a body of a plain async function type would run on
/// the generic executor (`#isolation` nil); a `nonisolated(nonsending)` one runs on the caller's
/// executor, the actor.
actor IsolationCollector {
    func receive(_ socket: consuming StreamSocket, pool: BufferPool) async throws -> ([UInt8], [Bool]) {
        let result = try await receiveNoting(socket, pool: pool, expected: self)
        try await socket.close()
        return result
    }

    func acceptOne(_ listener: borrowing StreamListener) async throws -> Bool {
        try await acceptNoting(listener, expected: self)
    }
}

/// Reads to end of stream, noting per buffer whether the body ran isolated to `expected`.
nonisolated(nonsending) func receiveNoting(_ socket: borrowing StreamSocket, pool: BufferPool, expected: AnyObject) async throws -> ([UInt8], [Bool]) {
    var bytes: [UInt8] = []
    var onActor: [Bool] = []
    try await socket.receiveBuffers(from: pool) { buffer in
        bytes += buffer.bytes
        onActor.append((#isolation as AnyObject?) === expected)
    }
    return (bytes, onActor)
}

/// Accepts one connection, noting whether the body ran isolated to `expected`.
nonisolated(nonsending) func acceptNoting(_ listener: borrowing StreamListener, expected: AnyObject) async throws -> Bool {
    struct Accepted: Error { let onActor: Bool }
    do {
        try await listener.acceptConnections { connection in
            try? await connection.close()
            throw Accepted(onActor: (#isolation as AnyObject?) === expected)
        }
    } catch let accepted as Accepted {
        return accepted.onActor
    }
    return false
}

/// A lease moved out of a receive body and kept (an array cannot hold `~Copyable` values).
final class HeldLease: @unchecked Sendable {  // a test holder: one task sets it, the test drops it after
    var lease: ReceivedBuffer?
    init(_ lease: consuming ReceivedBuffer) { self.lease = consume lease }
}
