import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Spool

/// Accepts under descriptor exhaustion: `EMFILE` pauses the accepts on the ring's timing
/// wheel (no spin), connections already accepted go on being served, and accepting resumes by
/// itself once descriptors are free. The descriptor limit is process-wide, so the real
/// scenario runs in a child process (this test binary again, with only the child test
/// selected) that lowers its own `RLIMIT_NOFILE` and restores it.
@Suite("Accept back-off under descriptor exhaustion", .timeLimit(.minutes(3)))
struct AcceptBackoffTests {
    static let childVariable = "SPOOL_TEST_EMFILE_CHILD"
    static var isChild: Bool { getenv(childVariable) != nil }

    @Test("EMFILE with a low RLIMIT_NOFILE: acceptConnections and accept() back off, keep serving, and resume; both backends",
          .enabled(if: !AcceptBackoffTests.isChild))
    func exhaustionInChildProcess() async throws {
        let (status, output) = try await runTestInChildProcess("AcceptBackoffTests/exhaustionScenario", variable: Self.childVariable)
        #expect(status == 0, "the child failed:\n\(output)")
        #expect(output.contains("Test run with 1 test"), "the child ran its scenario:\n\(output)")
        var cases = ["portable multishot", "portable single"]
        if ioUringUsable { cases += ["io_uring multishot", "io_uring single"] }
        for c in cases {
            #expect(output.contains("EMFILE scenario passed: \(c)"), "\(c):\n\(output)")
        }
    }

    /// The child's test: runs only when the parent test started this process for it.
    @Test("(child process) the EMFILE scenario itself", .enabled(if: AcceptBackoffTests.isChild))
    func exhaustionScenario() async throws {
        var backends: [Backend] = [.portable]
        if ioUringUsable { backends.append(.ioUring) }
        for backend in backends {
            for single in [false, true] {
                try await Self.scenario(backend: backend, single: single)
                print("EMFILE scenario passed: \(backend) \(single ? "single" : "multishot")")
            }
        }
    }

    /// One listener on a one-ring runtime; 12 clients connect after the descriptor limit was
    /// set so that only a couple can be accepted.
    static func scenario(backend: Backend, single: Bool) async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = backend
        let runtime = try Runtime(configuration: configuration)
        let pool = try await BufferPool(count: 64, bufferSize: 4096, runtime: runtime)
        let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
        let port = listener.localAddress.port ?? 0
        let accepted = Counter()
        let loopEnded = PosixLocked<String?>(nil)
        let serve: @Sendable (consuming StreamSocket) -> Void = { connection in
            accepted.increment()
            runtime.spawn(taking: connection, on: .current) { connection in
                try await connection.receiveBuffers(from: pool) { buffer in try await connection.write(taking: buffer) }
                try await connection.flush()
            }
        }
        // The accepts start once the limit is low: io_uring reads RLIMIT_NOFILE when a request
        // is prepared, so an accept armed before would keep the old limit.
        let go = Flag()
        let server = runtime.spawn(taking: listener) { listener in
            do {
                while !go.isSet { try await SpoolClock(runtime: runtime).sleep(until: .now + .milliseconds(2)) }
                if single {
                    while true { serve(try await listener.accept()) }
                } else {
                    try await listener.acceptConnections { connection in serve(connection) }
                }
            } catch {
                loopEnded.withLock { $0 = "\(error)" }
            }
        }
        let ring = runtime.rings[0]

        // The client side runs on a plain thread: a blocked global-executor thread makes
        // libdispatch's pool monitor open /proc files, and it traps when it cannot (EMFILE).
        let report = PosixLocked<[String]>([])
        await onForeignThreadAsync {
            let problems = Self.clientSide(port: port, ring: ring, accepted: accepted, loopEnded: loopEnded, go: go)
            report.withLock { $0 = problems }
        }
        for problem in report.withLock({ $0 }) { Issue.record("\(backend) \(single ? "single" : "multishot"): \(problem)") }
        #expect(accepted.value == 12)
        #expect(loopEnded.withLock { $0 } == nil)
        server.cancel()
        _ = await server.result
        #expect(loopEnded.withLock { $0 }?.contains("CancellationError") == true)
        await runtime.shutdownAndWait()
    }

    /// The clients (a plain thread, blocking sockets): 12 sockets made before the limit drops
    /// (connecting takes no descriptor), the limit set so that exactly two more descriptors can
    /// be opened, then connect all, check the back-off, and get each served in turn. Returns
    /// what went wrong.
    static func clientSide(port: UInt16, ring: RingExecutor, accepted: Counter, loopEnded: PosixLocked<String?>, go: Flag) -> [String] {
        var problems: [String] = []
        func check(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { problems.append(what()) } }
        let episodesBefore = ring.acceptBackoffEpisodes.load(ordering: .relaxed)
        let clients = (0..<12).map { _ in socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        defer { for c in clients { close(c) } }
        check(clients.allSatisfy { $0 >= 0 }, "socket")
        for c in clients {
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        let highest = openDescriptors().keys.max() ?? 0
        var low = saved
        low.rlim_cur = rlim_t(highest + 1 + 8)
        check(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low) == 0, "setrlimit")
        defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) }
        // Fill every free number under the limit, then free two: room for two connections.
        var fillers: [Int32] = []
        while true {
            let fd = dup(0)
            if fd < 0 { break }
            fillers.append(fd)
        }
        check(errno == EMFILE && fillers.count >= 2, "filling the table: errno \(errno), \(fillers.count)")
        for fd in fillers.suffix(2) { close(fd) }
        fillers.removeLast(min(2, fillers.count))
        defer { for fd in fillers { close(fd) } }
        go.set()

        for c in clients {
            check(connectLoopback(c, port: port) == 0, "connect: errno \(errno)")
        }
        // The accepts hit EMFILE and back off; the loop goes on.
        var waited = 0
        while ring.acceptBackoffEpisodes.load(ordering: .relaxed) == episodesBefore && waited < 500 {
            usleep(10_000)
            waited += 1
        }
        check(ring.acceptBackoffEpisodes.load(ordering: .relaxed) > episodesBefore, "no back-off episode began")
        let first = accepted.value
        check(first == 2, "accepted \(first) of \(clients.count) with room for two")
        // No spin while saturated: a wait at least doubles each time, from 10 ms.
        let waitsBefore = ring.acceptBackoffWaits.load(ordering: .relaxed)
        usleep(1_500_000)
        let waits = ring.acceptBackoffWaits.load(ordering: .relaxed) - waitsBefore
        check(waits <= 12, "\(waits) accept attempts in 1.5 s of exhaustion")
        check(loopEnded.withLock { $0 } == nil, "the accept loop ended: \(loopEnded.withLock { $0 } ?? "")")
        // A connection accepted before the limit is still served.
        check(echo(clients[0], "early"), "the first connection was not served during the episode")
        // Closing served clients frees descriptors; the rest are accepted and served in turn.
        for (i, c) in clients.enumerated() {
            check(echo(c, "client \(i)"), "client \(i) was not served")
            shutdown(c, Int32(SHUT_WR))
            var byte: UInt8 = 0
            check(read(c, &byte, 1) == 0, "client \(i): the server did not close its side")
        }
        return problems
    }

    /// Sends `text` on the blocking socket `fd` and reads it back whole.
    static func echo(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { return false }
        var back = [UInt8](repeating: 0, count: bytes.count)
        var got = 0
        while got < bytes.count {
            let n = back.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, bytes.count - got) }
            if n <= 0 { return false }
            got += n
        }
        return back == bytes
    }

    @Test("a failed accept's errno: resource failures wait 10 ms doubling to 1 s, connection failures retry, the rest are thrown; one episode per run")
    func classification() async throws {
        try await withTestRuntime { runtime in
            for e in [EMFILE, ENFILE, ENOBUFS, ENOMEM, EPERM] {
                #expect(AcceptBackoff.classify(Errno(rawValue: e)) == .wait(.milliseconds(10)), "errno \(e)")
            }
            for e in [ECONNABORTED, EPROTO, ENETDOWN, EHOSTUNREACH, ENETUNREACH, EINTR, EAGAIN] {
                #expect(AcceptBackoff.classify(Errno(rawValue: e)) == .retry, "errno \(e)")
            }
            for e in [EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP, EFAULT] {
                #expect(AcceptBackoff.classify(Errno(rawValue: e)) == .fatal, "errno \(e)")
            }
            let ring = runtime.rings[0]
            let episodes = ring.acceptBackoffEpisodes.load(ordering: .relaxed)
            var backoff = AcceptBackoff(address: try SocketAddress("127.0.0.1:1"), ring: ring)
            var delays: [Duration] = []
            for _ in 0..<9 {
                if case .wait(let d) = backoff.failed(.tooManyOpenFiles) { delays.append(d) }
            }
            #expect(delays == [10, 20, 40, 80, 160, 320, 640, 1000, 1000].map { .milliseconds($0) })
            #expect(backoff.failed(.connectionAbort) == .retry)
            #expect(ring.acceptBackoffEpisodes.load(ordering: .relaxed) == episodes + 1)
            backoff.succeeded()
            #expect(backoff.failed(.noMemory) == .wait(.milliseconds(10)))
            #expect(ring.acceptBackoffEpisodes.load(ordering: .relaxed) == episodes + 2)
        }
    }
}
