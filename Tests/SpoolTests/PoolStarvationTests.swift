import Synchronization
import Testing

@testable import Spool

/// Many receivers share a pool too small for them: each buffer that comes back wakes one
/// waiting receiver (the oldest), not all of them, so an overloaded pool costs O(1) re-arms
/// per buffer, and nobody is stranded while a buffer is free. Both backends.
@Suite("A dry pool wakes one receiver per buffer", .timeLimit(.minutes(2)))
struct PoolStarvationTests {
    static let senders = 16
    static let bytesPerSender = 24 * 1024

    @Test("16 receivers with data waiting on a 2-buffer pool: about one re-arm per buffer received, every byte delivered (portable; io_uring wakes every waiter, see BufferPool.giveBack)",
          arguments: [Backend.portable])
    func oneWakePerBuffer(backend: Backend) async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = backend
        try await withTestRuntime(configuration) { runtime in
            let pool = try await BufferPool(count: 2, bufferSize: 1024, runtime: runtime)
            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let address = listener.localAddress
            let buffers = Counter(), bytes = Counter(), finished = Counter()
            let mostWaiting = PosixLocked(0)
            let server = runtime.spawn(taking: listener) { listener in
                try await listener.acceptConnections { connection in
                    runtime.spawn(taking: connection, on: .current) { connection in
                        var expected: UInt8 = 0
                        var wrong = 0
                        try await connection.receiveBuffers(from: pool, maximumQueued: 1) { buffer in
                            for byte in buffer.bytes {
                                if byte != expected { wrong += 1 }
                                expected &+= 1
                            }
                            bytes.add(buffer.count)
                            buffers.add(1)
                            let waiting = pool.waitingReceivers
                            mostWaiting.withLock { $0 = max($0, waiting) }
                            // Hold the lease a while: the pool stays dry and the others wait.
                            try await Task.sleep(for: .microseconds(300))
                        }
                        #expect(wrong == 0)
                        finished.add(1)
                    }
                }
            }
            // Every sender's bytes are in the server's socket before its receive arms.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<Self.senders {
                    group.addTask {
                        let client = try await StreamSocket.connect(to: address, runtime: runtime)
                        let message = (0..<Self.bytesPerSender).map { UInt8(truncatingIfNeeded: $0) }
                        try await client.writeAll(message)
                        try await client.close()
                    }
                }
                try await group.waitForAll()
            }
            _ = try await withinDeadline(.seconds(60), "every receiver drains its sender") {
                while finished.value < Self.senders { try await Task.sleep(for: .milliseconds(5)) }
            }
            server.cancel()
            _ = await server.result
            #expect(bytes.value == Self.senders * Self.bytesPerSender, "every byte delivered")
            #expect(mostWaiting.withLock { $0 } >= 4, "receivers starved: up to \(mostWaiting.withLock { $0 }) waited for a buffer at once")
            let arms = try #require(await runtime.combinedSnapshot()).statistics.multishotArms
            // With a wake for every waiter per buffer, each of ~14 waiting receivers re-arms
            // and all but one fail with ENOBUFS: about 14 arms per buffer.
            #expect(arms <= 3 * buffers.value, "\(arms) arms for \(buffers.value) buffers received")
            print("PoolStarvationTests: \(backend): \(arms) arms for \(buffers.value) buffers")
        }
    }

    /// How the waiter ahead in line leaves.
    enum Leaving: String, CaseIterable, Sendable {
        /// Cancelled while it waits, before the buffer comes back.
        case cancelledBeforeTheBuffer
        /// Cancelled after the returned buffer woke it and before it ran: its wake is taken.
        case cancelledAfterItsWake
    }

    @Test("a waiter that leaves does not strand the one behind it: a one-buffer pool, the first waiter cancelled",
          arguments: ioUringUsable ? [Backend.ioUring, .portable] : [.portable], Leaving.allCases)
    func leavingWaiterPassesTheWakeOn(backend: Backend, leaving: Leaving) async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = backend
        try await withTestRuntime(configuration) { runtime in
            let pool = try await BufferPool(count: 1, bufferSize: 512, runtime: runtime)
            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let address = listener.localAddress
            let received = Counter()
            let held = HeldLeaseBox()
            // Three connections, accepted in order: A takes the only buffer and keeps it; B
            // and C have bytes waiting and wait for a buffer, B first.
            let clientA = try await StreamSocket.connect(to: address, runtime: runtime)
            let clientB = try await StreamSocket.connect(to: address, runtime: runtime)
            let clientC = try await StreamSocket.connect(to: address, runtime: runtime)
            try await clientA.writeAll([UInt8](repeating: 1, count: 512))
            try await clientB.writeAll([UInt8](repeating: 2, count: 2048))
            try await clientC.writeAll([UInt8](repeating: 3, count: 2048))
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<3 {
                let connection = try await listener.accept()
                tasks.append(runtime.spawn(taking: connection) { connection in
                    try await connection.receiveBuffers(from: pool, maximumQueued: 1) { buffer in
                        if index == 0 { held.keep(buffer) } else if index == 2 { received.add(buffer.count) }
                    }
                })
                _ = try await withinDeadline(.seconds(10), "the receivers take the buffer and wait, in order") {
                    while pool.leased < 1 || pool.waitingReceivers < index { try await Task.sleep(for: .milliseconds(1)) }
                }
                // Only receives with bytes waiting wait for a buffer (A, idle, holds no place in
                // line that a returned buffer's one wake could be spent on).
                if backend == .portable { #expect(pool.waitingReceivers == index) }
            }
            let waiterB = tasks[1]
            switch leaving {
            case .cancelledBeforeTheBuffer:
                waiterB.cancel()
                _ = await waiterB.result
                held.drop()
            case .cancelledAfterItsWake:
                // On the ring itself: the buffer's return wakes B (its resumption is queued on
                // this ring, behind this job), and B is cancelled before it can run.
                try await runtime.spawn {
                    held.drop()
                    waiterB.cancel()
                }.value
            }
            let served = try await withinDeadline(.seconds(10), "C is served though B left") {
                while received.value < 2048 { try await Task.sleep(for: .milliseconds(1)) }
                return true
            }
            #expect(served == true, "C received \(received.value) of 2048 bytes (pool: \(pool.taken) taken, \(pool.leased) leased, \(pool.waitingReceivers) waiting)")
            for task in tasks { task.cancel() }
            for task in tasks { _ = await task.result }
            try await clientA.close()
            try await clientB.close()
            try await clientC.close()
            try await listener.close()
        }
    }
}

/// A lease kept by one task and dropped by another (under a lock).
final class HeldLeaseBox: Sendable {
    private let lease = Mutex<ReceivedBuffer?>(nil)
    func keep(_ buffer: consuming ReceivedBuffer) {
        nonisolated(unsafe) var buffer = Optional(buffer)
        lease.withLock { $0 = buffer.take() }
    }
    func drop() { lease.withLock { $0 = nil } }
}
