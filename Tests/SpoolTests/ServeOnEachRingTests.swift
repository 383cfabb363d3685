import Synchronization
import SystemPackage
import Testing

@testable import Spool

/// `Runtime.serveOnEachRing`: one `SO_REUSEPORT` listener per ring, each served by a body on
/// its own ring, and how that ends in a graceful shutdown. (The runtime as a
/// swift-service-lifecycle service is `SpoolServiceLifecycleTests`.)
@Suite("One listener per ring: serveOnEachRing", .serialized)
struct ServeOnEachRingTests {
    @Test("serveOnEachRing: one SO_REUSEPORT listener per ring; the kernel spreads connections over every ring")
    func spreadsConnections() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let perRing = PosixLocked<[Int: Int]>([:])
        let address = PosixLocked<SocketAddress?>(nil)
        let server = Task {
            try await runtime.serveOnEachRing(SocketAddress("127.0.0.1:0"), bound: { a in address.withLock { $0 = a } }) { listener, ring in
                #expect(Runtime.currentRingIndex == ring)
                try await listener.acceptConnections { connection in
                    perRing.withLock { $0[Runtime.currentRingIndex ?? -1, default: 0] += 1 }
                    runtime.spawn(taking: connection, on: .current) { connection in
                        var buffer = IOBuffer(capacity: 16)
                        let n = try await connection.read(into: &buffer)
                        if n > 0 { try await connection.writeAll(buffer.bytes) }
                        try await connection.close()
                    }
                }
            }
        }
        #expect(await eventually { address.withLock { $0 } != nil })
        let target = try #require(address.withLock { $0 })
        #expect(target.port != 0)
        for i in 0..<64 {
            let client = try await StreamSocket.connect(to: target, runtime: runtime)
            try await client.writeAll([UInt8(i)])
            var buffer = IOBuffer(capacity: 16)
            #expect(try await client.read(into: &buffer) == 1 && buffer.bytes == [UInt8(i)])
            try await client.close()
        }
        let counts = perRing.withLock { $0 }
        #expect(counts.values.reduce(0, +) == 64)
        #expect(counts[0, default: 0] > 0 && counts[1, default: 0] > 0, "both rings accepted: \(counts)")
        server.cancel()
        await #expect(throws: CancellationError.self) { try await server.value }
        await runtime.shutdownAndWait()
    }

    @Test("serveOnEachRing: bad input and a port in use are clear errors")
    func badInput() async throws {
        try await withTestRuntime(Runtime.Configuration(ringCount: 2)) { runtime in
            await #expect(throws: RuntimeError.self) {
                try await runtime.serveOnEachRing(SocketAddress("unix:/tmp/spool-never")) { _, _ in }
            }
            let taken = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)  // no SO_REUSEPORT
            await #expect(throws: IOError.self) {
                try await runtime.serveOnEachRing(taken.localAddress) { _, _ in }
            }
            try await taken.close()
            // A body that throws ends the others and its error comes back.
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await runtime.serveOnEachRing(SocketAddress("127.0.0.1:0")) { listener, ring in
                    if ring == 1 { throw Boom() }
                    try await listener.acceptConnections { _ in }
                }
            }
        }
    }

    @Test("serveOnEachRing during a graceful shutdown: every body ends on its own, then the call throws .shutdown")
    func serveOnEachRingDrains() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let ended = Counter()
        let bound = Flag()
        let server = Task {
            try await runtime.serveOnEachRing(SocketAddress("127.0.0.1:0"), bound: { _ in bound.set() }) { listener, _ in
                defer { ended.increment() }
                do {
                    try await listener.acceptConnections { _ in }
                } catch let e as RuntimeError where e == .shutdown {
                    try await SpoolClock(runtime: runtime).sleep(for: .milliseconds(50))  // finishing work, within the grace period
                    throw e
                }
            }
        }
        #expect(await eventually { bound.isSet })
        try await Task.sleep(for: .milliseconds(20))
        await runtime.shutdownAndWait(gracePeriod: .seconds(10))
        await #expect(throws: RuntimeError.shutdown) { try await server.value }
        #expect(ended.value == 2, "both bodies ran to their end")
    }
}
