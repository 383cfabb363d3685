import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Starts a thread running `body` (the bench's blocking client and server are plain threads,
/// so that neither side of the comparison borrows the other's runtime).
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(&thread, nil, { raw in
        let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
        box.body()
        return nil
    }, box)
    return thread
}

/// The echo workload's client, the same for both servers: one thread driving `connections`
/// non-blocking sockets with `poll` (as a load generator is written), each sending a
/// `size`-byte message and reading its whole echo before the next, every byte checked against
/// a pattern unique to the connection and the message.
enum EchoClient {
    struct Outcome {
        var messages: Int
        var rate: Double
        var p50: Double
        var p99: Double
        var verified: Bool
    }

    private struct Connection {
        var fd: Int32
        var sent = 0
        var received = 0
        var seq: UInt64 = 0
        var started = ContinuousClock.now
        var message: [UInt8]
    }

    static func run(port: UInt16, connections count: Int, size: Int, slice: Duration) throws -> Outcome {
        let box = BlockingResult<Outcome>()
        let thread = startThread {
            box.set(Result { try drive(port: port, count: count, size: size, slice: slice) })
        }
        pthread_join(thread, nil)
        return try box.wait()
    }

    private static func pattern(_ c: Int, _ seq: UInt64, size: Int) -> [UInt8] {
        var rng = XorShift(seed: UInt64(c + 1) &* 0x9E37_79B9 &+ seq)
        return (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    private static func drive(port: UInt16, count: Int, size: Int, slice: Duration) throws -> Outcome {
        var conns: [Connection] = []
        defer { for conn in conns { close(conn.fd) } }
        for c in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let r = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard r == 0 else {
                let e = Errno(rawValue: errno)
                close(fd)
                throw e
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            conns.append(Connection(fd: fd, message: pattern(c, 0, size: size)))
        }
        var incoming = [UInt8](repeating: 0, count: size)
        var samples: [Double] = []
        var failed = false
        let start = ContinuousClock.now
        let deadline = start + slice
        var polls = conns.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
        while ContinuousClock.now < deadline && !failed {
            let n = poll(&polls, nfds_t(polls.count), 10)
            if n <= 0 { continue }
            for c in conns.indices where polls[c].revents != 0 {
                // Move this connection on until it would block: send the rest, then read the echo.
                while !failed {
                    if conns[c].sent < size {
                        let w = conns[c].message.withUnsafeBytes { send(conns[c].fd, $0.baseAddress! + conns[c].sent, size - conns[c].sent, Int32(MSG_NOSIGNAL)) }
                        if w > 0 { conns[c].sent += w; continue }
                        if errno != EAGAIN { failed = true }
                        break
                    }
                    let r = incoming.withUnsafeMutableBytes { recv(conns[c].fd, $0.baseAddress! + conns[c].received, size - conns[c].received, 0) }
                    if r <= 0 {
                        if r == 0 || errno != EAGAIN { failed = true }
                        break
                    }
                    conns[c].received += r
                    if conns[c].received == size {
                        if incoming != conns[c].message { failed = true }
                        let now = ContinuousClock.now
                        samples.append(BenchMath.seconds(now - conns[c].started) * 1e6)
                        conns[c].seq += 1
                        conns[c].sent = 0
                        conns[c].received = 0
                        conns[c].started = now
                        conns[c].message = pattern(c, conns[c].seq, size: size)
                    }
                }
                polls[c].events = Int16(conns[c].sent < size ? POLLOUT : POLLIN)
            }
        }
        let elapsed = ContinuousClock.now - start
        return Outcome(messages: samples.count, rate: Double(samples.count) / BenchMath.seconds(elapsed), p50: BenchMath.percentile(samples, 0.5),
                       p99: BenchMath.percentile(samples, 0.99), verified: !failed && !samples.isEmpty)
    }
}

/// The echo workload's baseline: a blocking server with one thread per connection, what a
/// Swift program without an event loop would write.
final class BlockingEchoServer: Sendable {
    let port: UInt16
    private let listener: Int32
    private let stopped: StopFlag
    private let acceptor: UInt  // pthread_t

    final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
        /// CPU nanoseconds of connection threads that have ended, and how many still run.
        let cpuNanoseconds = Atomic<Int>(0)
        let running = Atomic<Int>(0)
    }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            let e = Errno(rawValue: errno)
            close(fd)
            throw e
        }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        let stopped = StopFlag()
        self.stopped = stopped
        acceptor = startThread {
            while !stopped.value.load(ordering: .relaxed) {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                var one: Int32 = 1
                setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                stopped.running.add(1, ordering: .relaxed)
                pthread_detach(startThread {
                    defer {
                        stopped.cpuNanoseconds.add(threadCPUNanoseconds(), ordering: .relaxed)
                        stopped.running.subtract(1, ordering: .relaxed)
                    }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                        if n <= 0 { break }
                        var done = 0
                        while done < n {
                            let w = buffer.withUnsafeBytes { send(connection, $0.baseAddress! + done, n - done, Int32(MSG_NOSIGNAL)) }
                            if w <= 0 { break }
                            done += w
                        }
                    }
                    close(connection)
                })
            }
        }
    }

    /// CPU time its connection threads used, once all have ended (clients closed); waits up
    /// to 5 s for them (a thread still running then is not counted: nil).
    func connectionCPUSeconds() -> Double? {
        for _ in 0..<500 where stopped.running.load(ordering: .relaxed) > 0 { usleep(10_000) }
        if stopped.running.load(ordering: .relaxed) > 0 { return nil }
        return Double(stopped.cpuNanoseconds.load(ordering: .relaxed)) / 1e9
    }

    /// Stops accepting (connection threads end when their clients close).
    func stop() {
        stopped.value.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        pthread_join(acceptor, nil)
        close(listener)
    }
}

/// CPU time the calling thread has used, in nanoseconds.
func threadCPUNanoseconds() -> Int {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return t.tv_sec * 1_000_000_000 + t.tv_nsec
}
