import Synchronization
import SystemPackage
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

extension SocketTests {
    /// Owned sends (`write(taking:)`): ordering, the per-stream bound with a peer that never
    /// reads, cancellation of a waiting writer, a failure surfacing on the next call, and a stream
    /// dropped with sends pending (its descriptor closed after the last one, not before).
    @Suite("Owned sends")
    struct OwnedSendTests {
        /// A connected pair: (the server's accepted stream, the client stream), through `body`.
        static func withPair<T: Sendable>(
            _ runtime: Runtime, _ body: @Sendable (consuming StreamSocket, consuming StreamSocket, [UInt16]) async throws -> T
        ) async throws -> T {
            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
            let server = try await listener.accept()
            let ports = [listener.localAddress.port ?? 0, try client.localAddress().port ?? 0]
            try await listener.close()
            return try await body(server, client, ports)
        }

        @Test("1,000 owned writes of varied sizes arrive whole and in order; flush waits for all")
        func ordering() async throws {
            try await withTestRuntime { runtime in
                try await Self.withPair(runtime) { server, client, _ in
                    var expected: [UInt8] = []
                    let reader = runtime.spawn(taking: client) { client -> [UInt8] in
                        var all: [UInt8] = []
                        var buffer = IOBuffer(capacity: 64 * 1024)
                        while try await client.read(into: &buffer) > 0 { all += buffer.bytes }
                        try await client.close()
                        return all
                    }
                    for i in 0..<1000 {
                        let part = StreamSocketTests.message(1 + (i * 7919) % 20_000, seed: i)
                        expected += part
                        try await server.write(taking: IOBuffer(part))
                    }
                    try await server.flush()
                    #expect(server.sends.existing?.isIdleForTesting == true)
                    try await server.shutdown(.write)
                    #expect(try await reader.value == expected)
                    try await server.close()
                }
            }
        }

        @Test("a peer that never reads: the writer waits once the bound is reached; cancelling the waiting writer throws CancellationError")
        func boundAndCancellation() async throws {
            try await withTestRuntime { runtime in
                try await Self.withPair(runtime) { server, client, _ in
                    let queued = Counter()
                    let writer = runtime.spawn(taking: server) { server -> String in
                        var outcome = "finished"
                        do {
                            for _ in 0..<100_000 {
                                try await server.write(taking: IOBuffer(capacity: 64 * 1024).filled(with: 5))
                                queued.increment()
                            }
                        } catch is CancellationError {
                            outcome = "cancelled"
                        }
                        try? await server.close()  // cancelled again inside close's flush: the queue closes it later
                        return outcome
                    }
                    // The kernel's socket buffers take a few MiB; then the queue's 256 KiB; then the writer waits.
                    var last = -1
                    while queued.value != last {
                        last = queued.value
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    #expect(queued.value < 1000, "the writer stopped: \(queued.value) × 64 KiB queued")
                    writer.cancel()
                    #expect(try await writer.value == "cancelled")
                    try await client.close()
                }
            }
        }

        @Test("a send that fails (the peer reset) surfaces as IOError on the next write and on flush")
        func failure() async throws {
            try await withTestRuntime { runtime in
                try await Self.withPair(runtime) { server, client, _ in
                    // Reset: SO_LINGER 0, then close: the server's sends fail with ECONNRESET or EPIPE.
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    _ = setsockopt(client.descriptor.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    try await client.close()
                    var failed: IOError? = nil
                    for _ in 0..<1000 where failed == nil {
                        do {
                            try await server.write(taking: IOBuffer(capacity: 16 * 1024).filled(with: 1))
                            try await server.flush()
                        } catch let error as IOError {
                            failed = error
                        }
                    }
                    let error = try #require(failed)
                    #expect(error.operation == .send && [.connectionReset, .brokenPipe].contains(error.errno) && error.descriptor == server.descriptor)
                    await #expect(throws: IOError.self) { try await server.flush() }
                    await #expect(throws: IOError.self) { try await server.write(taking: IOBuffer([1])) }
                    do {
                        try await server.close()  // the descriptor is released all the same
                        Issue.record("close did not report the failed send")
                    } catch is IOError {}
                }
            }
        }

        @Test("a stream dropped with owned sends pending closes its descriptor after the last send, and the peer gets what was in the kernel")
        func droppedWithSendsPending() async throws {
            try await withTestRuntime { runtime in
                let ports = Mutex<[UInt16]>([])
                try await Self.withPair(runtime) { server, client, p in
                    ports.withLock { $0 = p }
                    let message = StreamSocketTests.message(2 << 20, seed: 4)
                    try await server.write(taking: IOBuffer(message))
                    _ = consume server  // dropped: the send is still in the kernel (2 MiB, nobody reads yet)
                    var received: [UInt8] = []
                    var buffer = IOBuffer(capacity: 64 * 1024)
                    while try await client.read(into: &buffer) > 0 { received += buffer.bytes }
                    #expect(received == message, "the send in the kernel completed; then the descriptor was closed (end of stream)")
                    try await client.close()
                }
                #expect(await eventually { openSocketDescriptors(ports: ports.withLock { $0 }).isEmpty })
            }
        }
    }
}

extension IOBuffer {
    /// This buffer with every byte set to `value` and `count == capacity`.
    consuming func filled(with value: UInt8) -> IOBuffer {
        try! set(repeatElement(value, count: capacity))
        return self
    }
}
