import Glibc
import Logging
@testable import Spool
import SpoolRing
import Synchronization
import SystemPackage
import Testing

/// The portable backend (epoll and worker threads) against the same contract as io_uring:
/// choosing it, cancellation in every state it adds, exactly-once under races, shutdown under
/// load, descriptors, and bad input. The rest of the suite runs on it too (`.ci/run` runs it
/// with `SPOOL_BACKEND=portable`, and inside `.ci/no-io-uring`); these tests force it.
@Suite("The portable backend: epoll and worker threads behind the same API", .timeLimit(.minutes(2)))
struct PortableBackendTests {
    static func portable(_ edit: (inout Runtime.Configuration) -> Void = { _ in }) throws -> Runtime {
        var configuration = Runtime.Configuration(ringCount: 2)
        configuration.backend = .portable
        edit(&configuration)
        return try Runtime(configuration: configuration)
    }

    /// Requests the portable backends of `runtime`'s rings hold, read on each ring (its state is
    /// the ring thread's).
    static func pending(_ runtime: Runtime) async -> Int {
        var total = 0
        for ring in runtime.rings {
            total += (try? await runtime.spawn(on: .ring(ring.index)) { ring.reactor.portableBackend?.pending ?? 0 }.value) ?? 0
        }
        return total
    }

    @Test("choosing: SPOOL_BACKEND's spellings; an unknown value is a clear error; an explicit choice wins; automatic follows the probe and says why")
    func choosing() throws {
        #expect(Backend(parsing: "IO_URING") == .ioUring)
        #expect(Backend(parsing: "epoll") == .portable)
        #expect(Backend(parsing: "auto") == .automatic)
        #expect(Backend(parsing: "kqueue") == nil)
        let usable: Result<Void, RuntimeError> = .success(())
        let refused: Result<Void, RuntimeError> = .failure(.unavailable(.notPermitted, reason: "io_uring is blocked by a seccomp profile or security policy."))
        #expect(try BackendChoice.resolve(.automatic, environment: "portable", probe: { usable }).backend == .portable)
        #expect(try BackendChoice.resolve(.automatic, environment: "portable", probe: { usable }).reason == "SPOOL_BACKEND=portable")
        #expect(try BackendChoice.resolve(.automatic, environment: "", probe: { usable }).backend == .ioUring)
        #expect(try BackendChoice.resolve(.ioUring, environment: "portable", probe: { refused }).backend == .ioUring, "the environment overrides only .automatic")
        #expect(try BackendChoice.resolve(.portable, environment: "io_uring", probe: { usable }).backend == .portable)
        let fallback = try BackendChoice.resolve(.automatic, environment: nil, probe: { refused })
        #expect(fallback.backend == .portable)
        #expect(fallback.reason.contains("seccomp") && fallback.reason.contains("Operation not permitted"), "\(fallback.reason)")
        #expect(try BackendChoice.resolve(.automatic, environment: "automatic", probe: { usable }).backend == .ioUring)
        #expect(throws: RuntimeError.invalidArgument("SPOOL_BACKEND=kqueue is not a backend: use io_uring, portable or automatic")) {
            try BackendChoice.resolve(.automatic, environment: "kqueue", probe: { usable })
        }
    }

    @Test("the probe: a refused setup, or a ring whose enter is refused, is unavailable with the sentence")
    func probe() {
        var setupRefused = RingSystemCalls.kernel
        setupRefused.setup = { _, _ in -EPERM }
        guard case .failure(.unavailable(let errno, let reason)) = IOUringProbe.probe(systemCalls: setupRefused) else {
            Issue.record("a refused setup must be unavailable")
            return
        }
        #expect(errno == .notPermitted)
        #expect(reason.contains("seccomp"))
        guard ioUringUsable else { return }  // the rest needs a ring to set up
        var enterRefused = RingSystemCalls.kernel
        enterRefused.enter = { _, _, _, _, _, _ in -EPERM }
        guard case .failure = IOUringProbe.probe(systemCalls: enterRefused) else {
            Issue.record("a ring whose enter is refused must not count as usable")
            return
        }
        if case .failure(let e) = IOUringProbe.probe(systemCalls: .kernel) { Issue.record("the kernel's own calls: \(e)") }
    }

    @Test("a portable runtime says so, logs its choice once, never makes a ring, and releases its epoll and workers at shutdown")
    func runtimeReports() async throws {
        let log = LogCapture()
        let runtime = try Self.portable { $0.logger = Logger(label: "test", factory: { _ in log }) }
        #expect(runtime.backend.backend == .portable)
        #expect(runtime.backend.reason == "configured")
        #expect(runtime.rings.allSatisfy { $0.reactor.ioUringBackend == nil && $0.reactor.portableBackend != nil && $0.ringDescriptor.load(ordering: .relaxed) == -1 })
        #expect(log.messages.filter { $0.contains("portable backend") }.count == 1, "\(log.messages)")
        let epolls = runtime.rings.compactMap { $0.reactor.portableBackend?.epoll.descriptor.rawValue }
        #expect(epolls.allSatisfy { descriptorTarget($0) == "anon_inode:[eventpoll]" })
        // Work of every kind: a file (workers and the page cache), a socket pair (epoll).
        let dir = TemporaryDirectory()
        try await runtime.spawn {
            let file = try await File.open(dir.file("f"), .readWrite, options: [.create], runtime: runtime)
            try await file.writeAll(Array("portable".utf8), at: 0)
            #expect(try await file.read(upToCount: 100, at: 0) == Array("portable".utf8))
            try await file.sync()
            try await file.close()
            let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let client = try await StreamSocket.connect(to: listener.localAddress, runtime: runtime)
            let server = try await listener.accept()
            try await client.writeAll(Array("ping".utf8))
            var buffer = IOBuffer(capacity: 4)
            #expect(try await server.readFully(into: &buffer) == 4)
            #expect(buffer.bytes == Array("ping".utf8))
        }.value
        await runtime.shutdownAndWait()
        #expect(runtime.rings.allSatisfy { $0.reactor.portableBackend?.isClosed == true }, "each ring closed its reactor (and its epoll)")
        #expect(runtime.fileWorkers?.files.runningCount == 0 && runtime.fileWorkers?.peers.runningCount == 0)
    }

    @Test(".ioUring where io_uring is refused fails with the actionable sentence", .enabled(if: !ioUringUsable))
    func forcedWhereRefused() throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = .ioUring
        do {
            _ = try Runtime(configuration: configuration)
            Issue.record("a forced io_uring runtime started where io_uring is refused")
        } catch .unavailable(let errno, let reason) {
            #expect(errno != nil)
            #expect(reason.hasSuffix("."), "one sentence: \(reason)")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(Runtime.current == nil || Runtime.current?.backend.backend == .portable)
    }

    @Test("cancellation in every state the backend adds: waiting for readiness, a worker job queued, a job waiting on a peer running (its caller leaves at once; the job's descriptor is closed when it ends)")
    func cancellationStates() async throws {
        let runtime = try Self.portable { $0.ringCount = 1; $0.blockingThreads = 1 }
        // Waiting for readiness: a pipe read with nothing to read.
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let reader = Task(executorPreference: runtime.executor) { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { await Self.pending(runtime) == 1 })
        reader.cancel()
        #expect(await reader.value == .cancelled)
        _ = try pipe.writeEnd.writeAll([9])
        #expect(await readOneByte(dupReader(pipe.readEnd), runtime: runtime) == .read(1, [9]), "the cancelled read took nothing")

        // A worker job running: open(2) of a FIFO blocks until a writer opens it (on the peer
        // pool, one thread).
        let dir = TemporaryDirectory()
        let fifo = dir.file("fifo")
        #expect(mkfifo(fifo.string, 0o600) == 0)
        @Sendable func openFIFO() async throws -> String {
            do {
                let file = try await File.open(fifo, .readOnly, runtime: runtime)
                try await file.close()
                return "opened"
            } catch is CancellationError {
                return "cancelled"
            }
        }
        let opening = runtime.spawn { try await openFIFO() }
        #expect(await eventually { runtime.fileWorkers?.peers.runningCount == 1 })
        // A worker job queued behind it: a second FIFO open.
        let queued = runtime.spawn { try await openFIFO() }
        #expect(await eventually { runtime.fileWorkers?.peers.queued == 1 })
        queued.cancel()
        #expect(try await queued.value == "cancelled")
        #expect(runtime.fileWorkers?.peers.queued == 0, "the queued job was withdrawn")
        // The running one: cancelling it resumes its caller at once, while open(2) still waits.
        opening.cancel()
        let left = try await withinDeadline(.seconds(5), "the running FIFO open's caller leaves") { try await opening.value }
        #expect(left == "cancelled")
        #expect(runtime.fileWorkers?.peers.runningCount == 1, "the open itself still waits for a writer")
        let writer = open(fifo.string, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        #expect(writer >= 0)
        #expect(await eventually { runtime.fileWorkers?.peers.runningCount == 0 })
        #expect(await eventually { openDescriptors().values.filter { $0 == fifo.string }.count == 1 }, "only the writer's descriptor of the FIFO is left")
        close(writer)
        await runtime.shutdownAndWait()
    }

    @Test("a watched descriptor closed by a Spool handle's deinit, its number then reused by a new pipe: the new one's events arrive")
    func reusedDescriptorNumber() async throws {
        let runtime = try Self.portable { $0.ringCount = 1 }
        let ring = runtime.rings[0]
        let first = try FileDescriptor.pipe()
        defer { try? first.writeEnd.close(); try? first.readEnd.close() }
        let second = try FileDescriptor.pipe()
        defer { try? second.writeEnd.close(); try? second.readEnd.close() }
        // A number near the top of the descriptor limit, which the other tests running beside this
        // one do not reach meanwhile (the number is free between the close and the dup2 below).
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let high = Int32(clamping: min(limit.rlim_cur, UInt(Int32.max))) - 16
        let number = FileDescriptor(rawValue: fcntl(first.readEnd.rawValue, F_DUPFD_CLOEXEC, high))
        #expect(number.rawValue >= high)
        /// Writes `byte` to `fd` once the ring is parked with an operation pending (the read waits in epoll).
        @Sendable func writeWhenWaiting(_ fd: FileDescriptor, _ byte: UInt8) {
            startDetachedThread {
                while !(ring.parkedInKernel.load(ordering: .relaxed) && ring.activeOperations.load(ordering: .relaxed) >= 1) { usleep(1000) }
                var b = byte
                _ = Glibc.write(fd.rawValue, &b, 1)
            }
        }
        let bytes = try await withinDeadline(.seconds(30), "reads on a reused descriptor number") {
            try await runtime.spawn { () -> [UInt8] in
                var got: [UInt8] = []
                do {
                    let file = File(adopting: number, runtime: runtime)
                    var buffer = IOBuffer(capacity: 4)
                    writeWhenWaiting(first.writeEnd, 1)
                    _ = try await file.readAtCurrentPosition(into: &buffer)  // waits: the number is watched
                    got += buffer.bytes
                }  // dropped: its deinit closes the number
                #expect(dup2(second.readEnd.rawValue, number.rawValue) == number.rawValue)
                let file = File(adopting: number, runtime: runtime)
                var buffer = IOBuffer(capacity: 4)
                writeWhenWaiting(second.writeEnd, 2)
                _ = try await file.readAtCurrentPosition(into: &buffer)
                got += buffer.bytes
                try await file.close()
                return got
            }.value
        }
        #expect(bytes == [1, 2])
        await runtime.shutdownAndWait()
    }

    @Test("exactly once under races: 1,000 pipe reads, half cancelled from other threads while the data arrives")
    func exactlyOnceUnderRaces() async throws {
        let runtime = try Self.portable()
        let count = 1000
        let pipes = try (0..<count).map { _ in try FileDescriptor.pipe() }
        defer { for p in pipes { try? p.readEnd.close(); try? p.writeEnd.close() } }
        let resumes = ResumeCount()
        let tasks = pipes.map { p in
            Task(executorPreference: runtime.executors[Int.random(in: 0..<2)]) { () -> ReadOutcome in
                let outcome = await readOneByte(dupReader(p.readEnd), runtime: runtime)
                resumes.value.add(1, ordering: .relaxed)
                return outcome
            }
        }
        await onForeignThreadAsync { [tasks, pipes] in
            for (i, p) in pipes.enumerated() {
                if i % 2 == 0 { tasks[i].cancel() }
                var b: UInt8 = UInt8(truncatingIfNeeded: i)
                _ = Glibc.write(p.writeEnd.rawValue, &b, 1)
            }
        }
        var read = 0, cancelled = 0
        for (i, t) in tasks.enumerated() {
            switch await t.value {
            case .read(1, let bytes): read += 1; #expect(bytes == [UInt8(truncatingIfNeeded: i)])
            case .cancelled: cancelled += 1; #expect(i % 2 == 0)
            case let other: Issue.record("read \(i): \(other)")
            }
        }
        #expect(read + cancelled == count)
        #expect(resumes.value.load(ordering: .relaxed) == count, "each caller resumed exactly once")
        #expect(cancelled <= count / 2)
        let snapshot = try #require(await runtime.combinedSnapshot())
        #expect(snapshot.slotsInUse == 0)
        #expect(await Self.pending(runtime) == 0)
        await runtime.shutdownAndWait()
    }

    @Test("shutdown under load: 400 pipe reads, 1,000 sleepers, a multishot accept and worker jobs blocked in open(2); every caller resumes once; sockets released")
    func shutdownUnderLoad() async throws {
        let runtime = try Self.portable { $0.blockingThreads = 4; $0.shutdownDrainLimit = .seconds(60) }
        // Reads count against the in-flight cap (512 per ring): stay under it, so the opens below start.
        let pipes = try (0..<400).map { _ in try FileDescriptor.pipe() }
        defer { for p in pipes { try? p.readEnd.close(); try? p.writeEnd.close() } }
        let reads = pipes.map { p in Task(executorPreference: runtime.executors[Int(p.readEnd.rawValue) % 2]) { await readOneByte(dupReader(p.readEnd), runtime: runtime) } }
        let sleepers = (0..<1000).map { _ in runtime.spawn { try await Task.sleep(for: .seconds(60), clock: SpoolClock()) } }
        let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
        let port = try listener.localAddress.port ?? 0
        let accepting = runtime.spawn(taking: listener) { listener -> Int in
            var n = 0
            try await listener.acceptConnections { _ in n += 1 }
            return n
        }
        let dir = TemporaryDirectory()
        let fifos = (0..<3).map { dir.file("fifo\($0)") }
        for f in fifos { #expect(mkfifo(f.string, 0o600) == 0) }
        let opens = fifos.map { f in runtime.spawn { () -> String in
            do {
                let file = try await File.open(f, .readOnly, runtime: runtime)
                try await file.close()
                return "opened"
            } catch { return "\(error)" }
        } }
        #expect(await eventually { runtime.fileWorkers?.peers.runningCount == 3 })
        #expect(await eventually { await Self.pending(runtime) >= 404 })
        let start = ContinuousClock.now
        let finished = Flag()
        startDetachedThread {
            runtime.shutdown(gracePeriod: .zero)
            finished.set()
        }
        for r in reads { #expect(await r.value == .runtime(.shutdown)) }
        for s in sleepers { await #expect(throws: RuntimeError.shutdown) { try await s.value } }
        await #expect(throws: RuntimeError.shutdown) { try await accepting.value }
        // Held waiters would hang above (the blocked jobs end only when the writers below open);
        // the bound covers 1,400 awaits from a default executor that ASan and the other suites starve.
        #expect(ContinuousClock.now - start < .seconds(30), "waiters resumed without waiting for the running jobs")
        // The opens wait on their peers: their callers left, and the rings close without them.
        #expect(await eventually { finished.isSet }, "the rings do not wait for jobs waiting on a peer")
        for f in fifos {
            let w = open(f.string, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            #expect(w >= 0)
            close(w)
        }
        for o in opens {
            let outcome = try await o.value
            #expect(outcome == "opened" || outcome == "\(RuntimeError.shutdown)", "\(outcome)")
        }
        #expect(await eventually { finished.isSet })
        #expect(runtime.rings.allSatisfy { $0.thread.hasExited && $0.reactor.portableBackend?.isClosed == true })
        #expect(openSocketDescriptors(ports: [port]).isEmpty, "the listener's socket is closed")
        #expect(await eventually { fifos.allSatisfy { f in !openDescriptors().values.contains(f.string) } }, "the abandoned opens' descriptors were closed")
    }

    @Test("bad input gets typed errors: a closed descriptor, a directory read, a missing path, a socket call on a file, a refused connect")
    func badInput() async throws {
        let runtime = try Self.portable { $0.ringCount = 1 }
        let dir = TemporaryDirectory()
        try await runtime.spawn {
            await #expect(throws: IOError.self) { try await File.open(dir.file("missing"), .readOnly, runtime: runtime) }
            let directory = try await File.open(FilePath(dir.path), .readOnly, runtime: runtime)
            var buffer = IOBuffer(capacity: 16)
            do {
                _ = try await directory.read(into: &buffer, at: 0)
                Issue.record("reading a directory succeeded")
            } catch let e as IOError {
                #expect(e.errno == .isDirectory)
            }
            try await directory.close()
            // A descriptor number nothing can have open: at the hard limit (the File closes what it
            // adopts when dropped, so it must not be a number another test may be using).
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            let unusable = Int32(clamping: min(limit.rlim_max, UInt(Int32.max)))
            let closed = File(adopting: FileDescriptor(rawValue: unusable), runtime: runtime)
            do {
                _ = try await closed.read(into: &buffer, at: 0)
                Issue.record("reading a closed descriptor succeeded")
            } catch let e as IOError {
                #expect(e.errno == .badFileDescriptor)
            }
            // Nothing listens on this port: refused.
            let probe = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
            let address = probe.localAddress
            try await probe.close()
            do {
                _ = try await StreamSocket.connect(to: address, runtime: runtime)
                Issue.record("a connect to a closed port succeeded")
            } catch let e as IOError {
                #expect(e.errno == .connectionRefused)
            }
        }.value
        await runtime.shutdownAndWait()
    }

    @Test("a bogus descriptor number (2,000,000,000) on a socket call is EBADF before the registration table grows to it")
    func bogusDescriptor() async throws {
        let runtime = try Self.portable { $0.ringCount = 1 }
        let ring = runtime.rings[0]
        try await runtime.spawn(on: .ring(0)) {
            let bogus = StreamSocket(adopting: FileDescriptor(rawValue: 2_000_000_000), runtime: runtime)
            var buffer = IOBuffer(capacity: 16)
            do {
                _ = try await bogus.read(into: &buffer)
                Issue.record("reading a bogus descriptor succeeded")
            } catch let e as IOError {
                #expect(e.errno == .badFileDescriptor)
            }
            let capacity = ring.reactor.portableBackend?.registrations.capacity ?? -1
            #expect(capacity >= 0 && capacity < 100_000, "the registration table has \(capacity) slots")
        }.value
        await runtime.shutdownAndWait()
    }

    /// Whether this machine's /tmp refuses buffered `RWF_NOWAIT` writes (ext4, tmpfs do; XFS
    /// and btrfs take them), which the next test needs.
    static let tmpRefusesNoWaitWrites: Bool = {
        var template = Array("/tmp/spool-nowait-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return false }
        defer { close(fd); template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) } }
        var byte: UInt8 = 1
        return withUnsafePointer(to: &byte) { p in
            OperationRequest.write(fd: fd, buffer: UnsafeRawPointer(p), count: 1, offset: 0).attemptWithoutBlocking().failed(with: .notSupported)
        }
    }()

    @Test("a file whose first request is a buffered write refused RWF_NOWAIT (EOPNOTSUPP) is still known as a file: an uncached read goes to a worker, not a blocking read on the ring thread",
          .enabled(if: PortableBackendTests.tmpRefusesNoWaitWrites, "this /tmp takes buffered RWF_NOWAIT writes"))
    func noWaitRefusedBeforeClassified() async throws {
        let runtime = try Self.portable { $0.ringCount = 1 }
        let ring = runtime.rings[0]
        let dir = TemporaryDirectory()
        let path = dir.file("data")
        let size = 1 << 20
        let pattern = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let raw = try FileDescriptor.open(path, .readWrite, options: [.create], permissions: .ownerReadWrite)
        _ = try raw.writeAll(pattern)
        try raw.close()
        try await runtime.spawn(on: .ring(0)) {
            let file = try await File.open(path, .readWrite, runtime: runtime)
            // The first request on the descriptor: a buffered write, which ext4 and tmpfs refuse
            // with RWF_NOWAIT (EOPNOTSUPP), so it goes to a worker.
            try await file.writeAll(pattern[0..<4096], at: 0)
            let reg = try #require(ring.reactor.portableBackend?.registrations[file.descriptor.rawValue])
            #expect(reg.isFile, "the descriptor is classified as a regular file")
            // Drop the file from the page cache: the next read must wait for the disk.
            #expect(fdatasync(file.descriptor.rawValue) == 0)
            #expect(posix_fadvise(file.descriptor.rawValue, 0, 0, POSIX_FADV_DONTNEED) == 0)
            let jobsBefore = ring.reactor.portableBackend?.workerJobsStarted ?? 0
            var buffer = IOBuffer(capacity: 65536)
            let n = try await file.read(into: &buffer, at: 512 * 1024)
            #expect(n == 65536)
            #expect(buffer.bytes.elementsEqual(pattern[(512 * 1024)..<(512 * 1024 + 65536)]))
            let jobsAfter = ring.reactor.portableBackend?.workerJobsStarted ?? 0
            #expect(jobsAfter > jobsBefore, "the uncached read ran on a worker (\(jobsAfter - jobsBefore) jobs), not on the ring thread")
            try await file.close()
        }.value
        await runtime.shutdownAndWait()
    }

    @Test("a read with a timeout: on a silent pipe it times out and leaves the data for the next read")
    func linkedTimeout() async throws {
        let runtime = try Self.portable { $0.ringCount = 1 }
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let readEnd = dupReader(pipe.readEnd)
        try await runtime.spawn {
            let file = File(adopting: readEnd, runtime: runtime)
            var buffer = IOBuffer(capacity: 8)
            let start = ContinuousClock.now
            await #expect(throws: TimeoutError.self) { try await file.readAtCurrentPosition(into: &buffer, timeout: .milliseconds(100)) }
            #expect(ContinuousClock.now - start >= .milliseconds(100))
            _ = try pipe.writeEnd.writeAll([5])
            #expect(try await file.readAtCurrentPosition(into: &buffer, timeout: .seconds(5)) == 1)
            #expect(buffer.bytes == [5])
            try await file.close()
        }.value
        await runtime.shutdownAndWait()
    }
}

/// A counter shared between tasks.
final class ResumeCount: Sendable {
    let value = Atomic<Int>(0)
}

/// A short read of a stream does not always mean it is drained: a Unix socket's read stops
/// after a chunk that carried descriptors (SCM_RIGHTS), a TCP read stops at the urgent mark.
/// The bytes after it must be read without waiting for an edge that never comes.
@Suite("Portable: short stream reads with bytes left behind", .timeLimit(.minutes(1)))
struct PortableShortReadTests {
    enum Peer: String, CaseIterable, Sendable {
        case unixWithDescriptors
        case tcpWithUrgentByte
    }

    enum Reader: String, CaseIterable, Sendable {
        case receive
        case receiveBuffers
    }

    /// A connected pair: the end Spool reads, and the raw peer.
    static func pair(_ peer: Peer) throws -> (reader: Int32, peer: Int32) {
        switch peer {
        case .unixWithDescriptors:
            var fds: [Int32] = [0, 0]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
            return (fds[0], fds[1])
        case .tcpWithUrgentByte:
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(listener) }
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            try withUnsafeMutablePointer(to: &sin) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                    try #require(bind(listener, a, length) == 0)
                    try #require(listen(listener, 4) == 0)
                    try #require(getsockname(listener, a, &length) == 0)
                }
            }
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let connected = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0)
            let accepted = accept(listener, nil, nil)
            try #require(accepted >= 0)
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return (accepted, client)
        }
    }

    /// Sends "AAAA" with a break after it (a descriptor attached, or an urgent byte), then "BBBB".
    static func sendWithBreak(_ peer: Peer, on fd: Int32) {
        let a: [UInt8] = Array("AAAA".utf8), b: [UInt8] = Array("BBBB".utf8)
        switch peer {
        case .unixWithDescriptors:
            // The descriptor rides on the first chunk: the reader's recv stops after it.
            var payload = a
            let space = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size + 8
            let control = UnsafeMutableRawPointer.allocate(byteCount: space, alignment: 8)
            defer { control.deallocate() }
            memset(control, 0, space)
            payload.withUnsafeMutableBytes { bytes in
                var v = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
                withUnsafeMutablePointer(to: &v) { iov in
                    var m = msghdr()
                    m.msg_iov = iov
                    m.msg_iovlen = 1
                    m.msg_control = control
                    m.msg_controllen = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
                    let header = control.assumingMemoryBound(to: cmsghdr.self)
                    header.pointee.cmsg_len = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
                    header.pointee.cmsg_level = SOL_SOCKET
                    header.pointee.cmsg_type = Int32(SCM_RIGHTS)
                    var carried: [Int32] = [0, 0]
                    precondition(pipe(&carried) == 0, "pipe: errno \(errno)")
                    defer { close(carried[0]); close(carried[1]) }
                    (control + MemoryLayout<cmsghdr>.size).storeBytes(of: carried[0], as: Int32.self)
                    precondition(sendmsg(fd, &m, 0) == 4, "sendmsg with SCM_RIGHTS: errno \(errno)")
                }
            }
            _ = write(fd, b, b.count)
        case .tcpWithUrgentByte:
            _ = write(fd, a, a.count)
            var urgent: UInt8 = 0x55
            _ = send(fd, &urgent, 1, Int32(MSG_OOB))
            _ = write(fd, b, b.count)
        }
    }

    @Test("after the short read, the bytes behind the break are read at once", arguments: Peer.allCases, Reader.allCases)
    func bytesAfterTheBreak(peer: Peer, reader: Reader) async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = .portable
        let runtime = try Runtime(configuration: configuration)
        let (readerFD, peerFD) = try Self.pair(peer)
        defer { close(peerFD) }
        let reading = runtime.spawn { () async throws -> [UInt8] in
            let socket = StreamSocket(adopting: FileDescriptor(rawValue: readerFD), runtime: runtime)
            var got: [UInt8] = []
            switch reader {
            case .receive:
                // A first read that waits (the descriptor is then watched by epoll, its edges
                // consumed), answered by one byte: a short read.
                var buffer = IOBuffer(capacity: 64)
                let primer = Task.detached { usleep(20_000); _ = write(peerFD, "P", 1) }
                _ = try await socket.read(into: &buffer)
                got += buffer.bytes
                _ = await primer.value
                Self.sendWithBreak(peer, on: peerFD)
                do {
                    while got.count < 9 {
                        var buffer = IOBuffer(capacity: 64)
                        let n = try await socket.read(into: &buffer)
                        if n == 0 { break }
                        got += buffer.bytes
                    }
                } catch is CancellationError {
                }
            case .receiveBuffers:
                let pool = try await BufferPool(count: 8, bufferSize: 64, runtime: runtime)
                let primer = Task.detached {
                    usleep(20_000)
                    _ = write(peerFD, "P", 1)
                    usleep(20_000)
                    Self.sendWithBreak(peer, on: peerFD)
                }
                struct Done: Error {}
                do {
                    try await socket.receiveBuffers(from: pool) { buffer in
                        got += buffer.bytes
                        if got.count >= 9 { throw Done() }
                    }
                } catch is Done {
                } catch is CancellationError {
                }
                _ = await primer.value
            }
            try await socket.close()
            return got
        }
        // Bytes that never come: the reading task is cancelled after 5 s.
        let watchdog = Task.detached {
            try await Task.sleep(for: .seconds(5))
            reading.cancel()
        }
        let got = try await reading.value
        watchdog.cancel()
        #expect(got == Array("PAAAABBBB".utf8), "read \(String(decoding: got, as: UTF8.self))")
        await runtime.shutdownAndWait()
    }
}

/// A Unix stream connect to a listener whose backlog is full answers `EAGAIN` and no readiness
/// edge ever says the backlog has room: it must be tried again until the listener accepts.
@Suite("Portable: a Unix connect to a full backlog", .timeLimit(.minutes(1)))
struct PortableUnixConnectTests {
    @Test("a Unix connect that finds the backlog full (EAGAIN) completes once the listener accepts; a timeout still ends it",
          arguments: ioUringUsable ? [Backend.portable, .ioUring] : [.portable])
    func fullBacklog(backend: Backend) async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = backend
        let runtime = try Runtime(configuration: configuration)
        let dir = TemporaryDirectory()
        let path = dir.path + "/listener"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let bound = withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        try #require(bound == 0)
        try #require(listen(listener, 0) == 0)
        // One connection waits in the backlog (0: one fits), so the next connect finds it full.
        let first = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(first) }
        let queued = withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(first, $0, length) } }
        try #require(queued == 0)
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        let refused = withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(probe, $0, length) } }
        let probeErrno = errno
        close(probe)
        try #require(refused == -1 && probeErrno == EAGAIN, "the backlog is full (connect: \(refused), errno \(probeErrno))")
        let address = try SocketAddress(unixPath: FilePath(path))
        // A timeout ends a connect that keeps finding the backlog full.
        try await runtime.spawn {
            await #expect(throws: TimeoutError.self) {
                _ = try await withTimeout(.milliseconds(200)) { try await StreamSocket.connect(to: address, runtime: runtime) }
            }
        }.value
        // The listener accepts the queued one after 100 ms: the connect goes through.
        let acceptor = Task.detached { () -> Int32 in
            usleep(100_000)
            return accept(listener, nil, nil)
        }
        let connected = try await withinDeadline(.seconds(10), "the connect completes once the backlog has room") {
            try await runtime.spawn {
                let socket = try await StreamSocket.connect(to: address, runtime: runtime)
                try await socket.writeAll([42])
                try await socket.close()
                return true
            }.value
        }
        #expect(connected == true)
        let accepted = await acceptor.value
        #expect(accepted >= 0)
        close(accepted)
        await runtime.shutdownAndWait()
    }
}

/// Worker jobs that wait on a peer (a FIFO's open waits for the other end) run apart from the
/// file calls, and a cancel or timeout ends their caller's wait; the job finishes on its own
/// later and what it made (a descriptor) is closed.
@Suite("Portable: worker jobs that wait on a peer", .timeLimit(.minutes(1)))
struct PortablePeerJobTests {
    @Test("as many FIFO opens as there are worker threads, waiting for writers: opens, stats and reads of files go on; cancelling the FIFO opens resumes them at once; nothing leaks when the writers come")
    func fifoOpens() async throws {
        var configuration = Runtime.Configuration(ringCount: 1)
        configuration.backend = .portable
        configuration.blockingThreads = 4
        let runtime = try Runtime(configuration: configuration)
        let dir = TemporaryDirectory()
        let fifos = (0..<4).map { dir.path + "/fifo\($0)" }
        for path in fifos { try #require(mkfifo(path, 0o600) == 0) }
        let data = dir.file("data")
        let raw = try FileDescriptor.open(data, .readWrite, options: [.create], permissions: .ownerReadWrite)
        _ = try raw.writeAll([UInt8](repeating: 9, count: 8192))
        try raw.close()
        // Four opens of FIFOs for reading: each waits for a writer, on a worker thread.
        var openers: [Task<Void, any Error>] = []
        for path in fifos {
            openers.append(runtime.spawn {
                let fifo = try await File.open(FilePath(path), .readOnly, runtime: runtime)
                try await fifo.close()
            })
        }
        #expect(await eventually { runtime.fileWorkers?.peers.runningCount == 4 }, "the four opens wait in open(2) on the peer pool")
        // File calls go on meanwhile.
        let served = try await withinDeadline(.seconds(5), "an open, a stat and a read beside four waiting FIFO opens") {
            try await runtime.spawn {
                let file = try await File.open(data, runtime: runtime)
                #expect(try await file.status().size == 8192)
                var buffer = IOBuffer(capacity: 4096)
                #expect(try await file.read(into: &buffer, at: 0) == 4096)
                try await file.close()
                return true
            }.value
        }
        #expect(served == true)
        // Cancelling the waiting opens resumes their callers at once.
        for opener in openers { opener.cancel() }
        let resumed = try await withinDeadline(.seconds(5), "the cancelled FIFO opens resume") { [openers] in
            var cancelled = 0
            for opener in openers {
                if case .failure(let error) = await opener.result, error is CancellationError { cancelled += 1 }
            }
            return cancelled
        }
        #expect(resumed == 4, "\(resumed ?? 0) of 4 opens ended with CancellationError")
        // A timeout ends one too.
        try await runtime.spawn {
            await #expect(throws: TimeoutError.self) {
                try await withTimeout(.milliseconds(100)) { _ = try await File.open(FilePath(fifos[0]), .readOnly, runtime: runtime) }
            }
        }.value
        // The writers come: the abandoned opens finish on their own and their descriptors close.
        var writers: [Int32] = []
        for path in fifos {
            let w = open(path, O_WRONLY | O_NONBLOCK)
            if w >= 0 { writers.append(w) }
        }
        #expect(writers.count == 4, "every FIFO had its reader open waiting")
        #expect(await eventually { runtime.fileWorkers?.peers.runningCount == 0 }, "the abandoned opens returned")
        for w in writers { close(w) }
        let closed = await eventually { openDescriptors().values.allSatisfy { !$0.hasPrefix(dir.path + "/fifo") } }
        #expect(closed, "the abandoned opens' descriptors were closed: \(openDescriptors().values.filter { $0.hasPrefix(dir.path) })")
        await runtime.shutdownAndWait()
    }
}
