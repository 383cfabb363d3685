import Synchronization
import SystemPackage
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

extension SocketTests {
    /// UDP and Unix datagram sockets against the real kernel: addresses both ways, connected
    /// sockets and ICMP refusals, truncation, multishot receive into a pool, cancellation
    /// without leaks, and bad input.
    @Suite("Datagram sockets: UDP and Unix")
    struct DatagramSocketTests {
        static let udpTables = ["/proc/net/udp", "/proc/net/udp6"]

        @Test("UDP with addresses: two senders, replies to each, 1 B to 65,507 B, every byte checked", arguments: ["127.0.0.1:0", "[::1]:0"])
        func addresses(_ text: String) async throws {
            try await withTestRuntime { runtime in
                let server = try DatagramSocket.bind(SocketAddress(text), runtime: runtime)
                let serverAddress = try server.localAddress()
                #expect((serverAddress.port ?? 0) > 0)
                let maximum = serverAddress.family == .ipv4 ? 65_507 : 65_527
                for size in [1, 1000, maximum] {
                    let a = try DatagramSocket.unbound(serverAddress.family, runtime: runtime)
                    let b = try DatagramSocket.unbound(serverAddress.family, runtime: runtime)
                    let messageA = StreamSocketTests.message(size, seed: 1)
                    let messageB = StreamSocketTests.message(size, seed: 2)
                    try await a.send(messageA, to: serverAddress)
                    try await b.send(messageB, to: serverAddress)
                    var buffer = IOBuffer(capacity: 65_536)
                    for _ in 0..<2 {
                        let got = try await server.receive(into: &buffer)
                        #expect(!got.truncated && got.count == size)
                        // An unbound socket is bound to the wildcard address at its first send: compare ports.
                        let expected = got.sender.port == (try a.localAddress()).port ? messageA : messageB
                        #expect(buffer.bytes == expected, "payload from \(got.sender)")
                        try await server.send(buffer, to: got.sender)  // echo to the sender
                    }
                    let replyA = try await a.receive(into: &buffer)
                    #expect(replyA.sender == serverAddress && buffer.bytes == messageA)
                    let replyB = try await b.receive(into: &buffer)
                    #expect(replyB.sender == serverAddress && buffer.bytes == messageB)
                    try await a.close()
                    try await b.close()
                }
                try await server.close()
            }
        }

        @Test("a connected UDP socket: send without an address; a refused peer is ECONNREFUSED with context")
        func connected() async throws {
            try await withTestRuntime { runtime in
                let server = try DatagramSocket.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let serverAddress = try server.localAddress()
                let client = try DatagramSocket.unbound(.ipv4, runtime: runtime)
                try client.connect(to: serverAddress)
                #expect(try client.peerAddress() == serverAddress)
                try await client.send([7, 8, 9])
                var buffer = IOBuffer(capacity: 16)
                let got = try await server.receive(into: &buffer)
                let clientAddress = try client.localAddress()  // bound by connect: 127.0.0.1 and a port
                #expect(buffer.bytes == [7, 8, 9] && got.sender == clientAddress)
                try await server.close()
                // Nobody listens there any more: the kernel's ICMP answer fails a later call.
                try await client.send([1])
                do {
                    _ = try await client.receive(into: &buffer)
                    Issue.record("received from a closed port")
                } catch let error as IOError {
                    #expect(error.operation == .receiveMessage && error.errno == .connectionRefused && error.descriptor == client.descriptor)
                }
                try await client.close()
            }
        }

        @Test("truncation: a datagram longer than the buffer is cut and says so")
        func truncation() async throws {
            try await withTestRuntime { runtime in
                let server = try DatagramSocket.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let client = try DatagramSocket.unbound(.ipv4, runtime: runtime)
                let message = StreamSocketTests.message(2000, seed: 5)
                try await client.send(message, to: try server.localAddress())
                var buffer = IOBuffer(capacity: 100)
                let got = try await server.receive(into: &buffer)
                #expect(got.truncated && got.count == 100 && buffer.bytes == Array(message.prefix(100)))
                try await client.close()
                try await server.close()
            }
        }

        @Test("Unix datagrams: a path and an abstract name; a bound sender has its address, an unbound one is unnamed")
        func unixDatagrams() async throws {
            try await withTestRuntime { runtime in
                let directory = TemporaryDirectory()
                let name = "spool-dgram-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                for text in ["unix:\(directory.path)/server.sock", "unix:@\(name)"] {
                    let address = try SocketAddress(text)
                    let server = try DatagramSocket.bind(address, runtime: runtime)
                    #expect(try server.localAddress() == address)
                    let named = try DatagramSocket.bind(SocketAddress("unix:@\(name)-client"), runtime: runtime)
                    let unnamed = try DatagramSocket.unbound(.unix, runtime: runtime)
                    try await named.send([1, 2], to: address)
                    try await unnamed.send([3, 4, 5], to: address)
                    var buffer = IOBuffer(capacity: 64)
                    let first = try await server.receive(into: &buffer)
                    let namedAddress = try named.localAddress()
                    #expect(buffer.bytes == [1, 2] && first.sender == namedAddress)
                    try await server.send([9], to: first.sender)
                    let second = try await server.receive(into: &buffer)
                    #expect(buffer.bytes == [3, 4, 5] && second.sender.isUnnamedUnix)
                    let reply = try await named.receive(into: &buffer)
                    #expect(buffer.bytes == [9] && reply.sender == address)
                    try await named.close()
                    try await unnamed.close()
                    try await server.close()
                }
            }
        }

        @Test("multishot receive: 2,000 datagrams from 4 senders into a pool of 16, each payload and sender checked; truncation flagged")
        func multishot() async throws {
            try await withTestRuntime(Runtime.Configuration()) { runtime in
                let pool = try await BufferPool(count: 16, bufferSize: 2048, runtime: runtime)
                let server = try DatagramSocket.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let address = try server.localAddress()
                let perSender = 500
                let senders = Task {
                    try await withThrowingTaskGroup(of: SocketAddress.self) { group in
                        for s in 0..<4 {
                            group.addTask {
                                let socket = try DatagramSocket.unbound(.ipv4, runtime: runtime)
                                for i in 0..<perSender {
                                    // Paced a little, so the socket's receive queue never overflows.
                                    if i % 8 == 0 { try await Task.sleep(for: .microseconds(200)) }
                                    var message = StreamSocketTests.message(100 + i % 700, seed: s * 1000 + i)
                                    message[0] = UInt8(s)
                                    message[1] = UInt8(i & 0xff)
                                    message[2] = UInt8(i >> 8)
                                    try await socket.send(message, to: address)
                                }
                                let local = try socket.localAddress()
                                try await socket.close()
                                return local
                            }
                        }
                        var all: [SocketAddress] = []
                        for try await a in group { all.append(a) }
                        return all
                    }
                }
                var seen = [Set<Int>](repeating: [], count: 4)
                var sendersSeen = [SocketAddress?](repeating: nil, count: 4)
                var bad = 0
                var count = 0
                do {
                    try await server.receiveDatagrams(from: pool) { datagram in
                        let bytes = datagram.payload.bytes
                        let s = Int(bytes[0]), i = Int(bytes[1]) | Int(bytes[2]) << 8
                        var expected = StreamSocketTests.message(100 + i % 700, seed: s * 1000 + i)
                        expected[0] = UInt8(s)
                        expected[1] = UInt8(i & 0xff)
                        expected[2] = UInt8(i >> 8)
                        if bytes != expected || datagram.truncated { bad += 1 }
                        if sendersSeen[s] == nil { sendersSeen[s] = datagram.sender }
                        if sendersSeen[s] != datagram.sender { bad += 1 }
                        seen[s].insert(i)
                        count += 1
                        if count == 4 * perSender { throw CancellationError() }  // done: end the receive
                    }
                } catch is CancellationError {}
                let senderAddresses = try await senders.value
                #expect(bad == 0)
                #expect(seen.allSatisfy { $0.count == perSender }, "every datagram arrived once")
                #expect(Set(sendersSeen.compactMap { $0?.port }) == Set(senderAddresses.map(\.port)), "each sender's port")
                #expect(pool.leased == 0)

                // A datagram longer than a buffer's payload room (256 - 144 bytes) arrives cut.
                let small = try await BufferPool(count: 2, bufferSize: 256, runtime: runtime)
                let client = try DatagramSocket.unbound(.ipv4, runtime: runtime)
                try await client.send(StreamSocketTests.message(200, seed: 8), to: address)
                do {
                    try await server.receiveDatagrams(from: small) { datagram in
                        #expect(datagram.truncated && datagram.payload.count == 112)
                        #expect(datagram.payload.bytes == Array(StreamSocketTests.message(200, seed: 8).prefix(112)))
                        throw CancellationError()
                    }
                } catch is CancellationError {}
                try await client.close()
                try await server.close()
            }
        }

        @Test("cancelling a pending receive and a multishot receive: CancellationError, no socket or buffer left")
        func cancellation() async throws {
            try await withTestRuntime { runtime in
                let pool = try await BufferPool(count: 4, bufferSize: 1024, runtime: runtime)
                let socket = try DatagramSocket.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let port = try socket.localAddress().port ?? 0
                let task = runtime.spawn(taking: socket) { socket -> [String] in
                    var outcomes: [String] = []
                    var buffer = IOBuffer(capacity: 64)
                    do { _ = try await socket.receive(into: &buffer); outcomes.append("received") } catch is CancellationError { outcomes.append("cancelled") }
                    do { try await socket.receiveDatagrams(from: pool) { _ in }; outcomes.append("returned") } catch is CancellationError { outcomes.append("cancelled") }
                    try await socket.close()
                    return outcomes
                }
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) >= 1 })
                task.cancel()
                #expect(try await task.value == ["cancelled", "cancelled"])
                #expect(pool.leased == 0)
                #expect(await eventually { openSocketDescriptors(ports: [port], tables: Self.udpTables).isEmpty }, "the socket is closed")
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 1) == 0 })
            }
        }

        @Test("bad input: a destination of the wrong family, a pool too small for datagrams, a closed descriptor, address in use")
        func badInput() async throws {
            try await withTestRuntime { runtime in
                let socket = try DatagramSocket.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
                let v6 = try SocketAddress("[::1]:9")
                do {
                    try await socket.send([1], to: v6)
                    Issue.record("sent an IPv6 datagram from an IPv4 socket")
                } catch let error as IOError {
                    #expect(error.operation == .sendMessage && error.address == v6)
                }
                do {
                    _ = try DatagramSocket.bind(try socket.localAddress(), runtime: runtime)
                    Issue.record("bound a port in use")
                } catch let error as IOError {
                    #expect(error.operation == .bind && error.errno == .addressInUse)
                }
                let tiny = try await BufferPool(count: 2, bufferSize: 128, runtime: runtime)
                await #expect(throws: RuntimeError.self) { try await socket.receiveDatagrams(from: tiny) { _ in } }
                // A descriptor that was closed behind the socket's back: EBADF, with the descriptor.
                // (A high number: descriptors are allocated lowest first, so tests running beside
                // this one do not reuse it before the send.)
                let low = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                let fd = fcntl(low, F_DUPFD_CLOEXEC, 10_000)
                _ = Glibc.close(low)
                _ = Glibc.close(fd)
                let stale = DatagramSocket(adopting: FileDescriptor(rawValue: fd), runtime: runtime)
                do {
                    try await stale.send([1], to: try socket.localAddress())
                    Issue.record("sent on a closed descriptor")
                } catch let error as IOError {
                    #expect(error.errno == .badFileDescriptor && error.descriptor?.rawValue == fd)
                }
                try? await stale.close()
                try await socket.close()
            }
        }
    }
}
