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

/// The echo workload's client: `connections` blocking threads, each sending a `size`-byte
/// message and reading its whole echo before the next, checking every byte against a pattern
/// unique to the connection and the message.
enum EchoClient {
    struct Outcome {
        var rate: Double
        var p50: Double
        var p99: Double
        var verified: Bool
    }

    static func run(port: UInt16, connections: Int, size: Int, slice: Duration) throws -> Outcome {
        let deadline = ContinuousClock.now + slice
        let samples = Mutex<[Double]>([])
        let failures = Atomic<Int>(0)
        let start = ContinuousClock.now
        var threads: [pthread_t] = []
        for c in 0..<connections {
            threads.append(startThread {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                defer { close(fd) }
                guard connected == 0 else { failures.add(1, ordering: .relaxed); return }
                var message = [UInt8](repeating: 0, count: size)
                var echo = [UInt8](repeating: 0, count: size)
                var local: [Double] = []
                var seq: UInt64 = 0
                while ContinuousClock.now < deadline {
                    var rng = XorShift(seed: UInt64(c + 1) &* 0x9E37_79B9 &+ seq)
                    for i in 0..<size { message[i] = UInt8(truncatingIfNeeded: rng.next()) }
                    let sent = ContinuousClock.now
                    guard send(fd, message, size, Int32(MSG_NOSIGNAL)) == size else { failures.add(1, ordering: .relaxed); return }
                    var got = 0
                    while got < size {
                        let n = echo.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, size - got, 0) }
                        guard n > 0 else { failures.add(1, ordering: .relaxed); return }
                        got += n
                    }
                    local.append(BenchMath.seconds(ContinuousClock.now - sent) * 1e6)
                    if echo != message { failures.add(1, ordering: .relaxed) }
                    seq += 1
                }
                samples.withLock { $0 += local }
            })
        }
        for t in threads { pthread_join(t, nil) }
        let elapsed = ContinuousClock.now - start
        let all = samples.withLock { $0 }
        return Outcome(rate: Double(all.count) / BenchMath.seconds(elapsed), p50: BenchMath.percentile(all, 0.5),
                       p99: BenchMath.percentile(all, 0.99), verified: failures.load(ordering: .relaxed) == 0 && !all.isEmpty)
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
                pthread_detach(startThread {
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

    /// Stops accepting (connection threads end when their clients close).
    func stop() {
        stopped.value.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        pthread_join(acceptor, nil)
        close(listener)
    }
}
