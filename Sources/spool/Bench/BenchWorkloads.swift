import Spool
import SpoolRing
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The workloads of `spool bench`. Each measures Spool and its baseline for `slice` each,
/// checks what it produced, and returns one ``BenchResult``.
struct BenchWorkloads {
    let slice: Duration
    let runtime: Runtime

    // MARK: async NOP

    /// `runtime.nop()` awaited in a loop on the ring, against the same NOP on a raw ring
    /// (one `io_uring_enter` per NOP, no runtime): what an async call adds to the kernel's
    /// round trip.
    func nop() throws -> BenchResult {
        var result = BenchResult(name: "nop", title: "async NOP, per op", unit: "ns/op", higherIsBetter: false,
                                 baselineName: "raw io_uring NOP, one enter per op")
        let slice = self.slice
        let runtime = self.runtime
        let spool = try runOnRing(runtime) { () -> (Int, Duration) in
            let start = ContinuousClock.now
            var n = 0
            while ContinuousClock.now - start < slice {
                for _ in 0..<256 { try await runtime.nop() }
                n += 256
            }
            return (n, ContinuousClock.now - start)
        }
        if runtime.backend.backend == .portable {
            // No io_uring here: the peer is the smallest system call, one per op.
            result.baselineName = "one getppid system call per op (io_uring unavailable)"
            var n = 0
            var sum = 0
            let start = ContinuousClock.now
            while ContinuousClock.now - start < slice {
                for _ in 0..<256 { sum &+= Int(getppid()) }
                n += 256
            }
            let elapsed = ContinuousClock.now - start
            result.spool = BenchMath.seconds(spool.1) * 1e9 / Double(spool.0)
            result.baseline = BenchMath.seconds(elapsed) * 1e9 / Double(n)
            result.verified = sum != 0 && spool.0 > 0
            return result
        }
        let ring = try Ring(options: RingOptions(submissionEntries: 64))
        var n = 0
        var completed = 0
        let start = ContinuousClock.now
        while ContinuousClock.now - start < slice {
            for _ in 0..<256 {
                guard let sqe = ring.nextSubmission() else { break }
                sqe.prepareNop()
                sqe.userData = 1
                try ring.submit(waitingFor: 1)
                ring.reapCompletions { if $0.userData == 1 && $0.result == 0 { completed += 1 } }
                n += 1
            }
        }
        let elapsed = ContinuousClock.now - start
        result.spool = BenchMath.seconds(spool.1) * 1e9 / Double(spool.0)
        result.baseline = BenchMath.seconds(elapsed) * 1e9 / Double(n)
        result.verified = completed == n && spool.0 > 0
        return result
    }

    // MARK: Timers

    /// Tasks sleeping 1 ms on the ring's timing wheel (`SpoolClock`), 1,000 at a time, against
    /// the same with `Task.sleep` on the default executor: timers armed and fired per second.
    func timers() throws -> BenchResult {
        var result = BenchResult(name: "timers", title: "timers armed and fired (1 ms sleeps, 1,000 at a time)", unit: "k/s",
                                 higherIsBetter: true, baselineName: "Task.sleep on the default executor")
        let slice = self.slice
        let runtime = self.runtime
        let spool = try runOnRing(runtime) { () -> (Int, Int, Duration) in
            try await Self.sleepRounds(slice) { try await SpoolClock().sleep(for: .milliseconds(1)) }
        }
        let plain = try runOnDefaultExecutor { () -> (Int, Int, Duration) in
            try await Self.sleepRounds(slice) { try await Task.sleep(for: .milliseconds(1)) }
        }
        result.spool = Double(spool.1) / BenchMath.seconds(spool.2) / 1000
        result.baseline = Double(plain.1) / BenchMath.seconds(plain.2) / 1000
        // Every sleep lasted at least its 1 ms (none fired early).
        result.verified = spool.1 > 0 && plain.1 > 0 && spool.0 == spool.1 && plain.0 == plain.1
        return result
    }

    /// Rounds of 1,000 concurrent sleeps until `slice` is over; returns the sleeps that
    /// ended and the time taken.
    /// Returns the sleeps that lasted at least their 1 ms, all sleeps, and the time taken.
    private static func sleepRounds(_ slice: Duration, _ sleep: @escaping @Sendable () async throws -> Void) async throws -> (Int, Int, Duration) {
        let start = ContinuousClock.now
        var done = 0
        var total = 0
        while ContinuousClock.now - start < slice {
            total += 1000
            done += try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        let before = ContinuousClock.now
                        try await sleep()
                        return ContinuousClock.now - before >= .milliseconds(1) ? 1 : 0
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        return (done, total, ContinuousClock.now - start)
    }

    // MARK: Files

    /// 4 KiB random reads of `path` at queue depth `depth`: Spool per operation (QD tasks
    /// on the ring, each awaiting `read(into:at:)`) and, for QD > 1, one task reading QD at a
    /// time with `read(into:batch:)`; against blocking `pread` from QD plain tasks. A ticker
    /// task on the default executor measures what the blocking reads cost other tasks.
    func fileReads(path: String, size: Int, depth: Int, direct: Bool) throws -> BenchResult {
        let state = direct ? "O_DIRECT" : "warm page cache"
        var result = BenchResult(name: "file-\(direct ? "direct" : "warm")-qd\(depth)", title: "4 KiB random reads, QD \(depth), \(state)",
                                 unit: "kIOPS", higherIsBetter: true, baselineName: "blocking pread from \(depth) task\(depth == 1 ? "" : "s")")
        let slice = self.slice
        let runtime = self.runtime
        let blocks = UInt64(size / 4096)
        let perOp = try runOnRing(runtime) { () -> (Int, Duration, Bool) in
            let file = try await File.open(FilePath(path), options: direct ? [.direct] : [], runtime: runtime).shared()
            let start = ContinuousClock.now
            let counts = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for t in 0..<depth {
                    group.addTask {
                        var rng = XorShift(seed: 7 &+ UInt64(t))
                        var buffer = IOBuffer(capacity: 4096, alignment: 4096)
                        var n = 0
                        var ok = true
                        while ContinuousClock.now - start < slice {
                            for _ in 0..<64 {
                                let block = rng.next() % blocks
                                let count = try await file.read(into: &buffer, at: block * 4096)
                                ok = count == 4096 && buffer.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == BenchTempFile.stamp(block) && ok
                            }
                            n += 64
                        }
                        return (n, ok)
                    }
                }
                return try await group.reduce((0, true)) { ($0.0 + $1.0, $0.1 && $1.1) }
            }
            let elapsed = ContinuousClock.now - start
            try await file.close()
            return (counts.0, elapsed, counts.1)
        }
        var spoolRate = Double(perOp.0) / BenchMath.seconds(perOp.1)
        var verified = perOp.2
        var note: String? = nil
        if depth > 1 {
            let batch = try runOnRing(runtime) { () -> (Int, Duration, Bool) in
                let file = try await File.open(FilePath(path), options: direct ? [.direct] : [], runtime: runtime)
                var rng = XorShift(seed: 99)
                var buffer = IOBuffer(capacity: depth * 4096, alignment: 4096)
                var parts = (0..<depth).map { BatchPart(range: ($0 * 4096)..<(($0 + 1) * 4096), offset: 0) }
                var n = 0
                var ok = true
                let start = ContinuousClock.now
                while ContinuousClock.now - start < slice {
                    for i in parts.indices { parts[i].offset = (rng.next() % blocks) * 4096 }
                    ok = try await file.read(into: &buffer, batch: parts).allSatisfy { $0 == 4096 } && ok
                    ok = buffer.withUnsafeBytes { raw in
                        parts.allSatisfy { raw.loadUnaligned(fromByteOffset: $0.range.lowerBound, as: UInt64.self) == BenchTempFile.stamp($0.offset / 4096) }
                    } && ok
                    n += depth
                }
                let elapsed = ContinuousClock.now - start
                try await file.close()
                return (n, elapsed, ok)
            }
            let batchRate = Double(batch.0) / BenchMath.seconds(batch.1)
            verified = verified && batch.2
            note = "Spool is the better of per-op \(Formatting.fixed(spoolRate / 1000, 1)) kIOPS and batch \(Formatting.fixed(batchRate / 1000, 1)) kIOPS"
            result.extras = [("per-op", spoolRate / 1000), ("batch", batchRate / 1000)]
            spoolRate = max(spoolRate, batchRate)
        }
        // The baseline, with a ticker on the same executor measuring how late it wakes.
        let flags = O_RDONLY | (direct ? SystemConstants.openDirect : 0)
        let plain = try runOnDefaultExecutor { () -> (Int, Duration, Bool, Double) in
            let fd = open(path, flags)
            guard fd >= 0 else { throw Errno(rawValue: errno) }
            defer { close(fd) }
            let stop = Atomic<Bool>(false)
            let ticker = Task { () -> [Double] in
                var lateness: [Double] = []
                while !stop.load(ordering: .relaxed) {
                    let before = ContinuousClock.now
                    try? await Task.sleep(for: .milliseconds(1))
                    lateness.append(BenchMath.seconds(ContinuousClock.now - before - .milliseconds(1)) * 1e6)
                }
                return lateness
            }
            let start = ContinuousClock.now
            let counts = await withTaskGroup(of: (Int, Bool).self) { group in
                for t in 0..<depth {
                    group.addTask {
                        var rng = XorShift(seed: 7 &+ UInt64(t))
                        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
                        defer { buffer.deallocate() }
                        var n = 0
                        var ok = true
                        while ContinuousClock.now - start < slice {
                            for _ in 0..<64 {
                                let block = rng.next() % blocks
                                ok = pread(fd, buffer, 4096, off_t(block * 4096)) == 4096
                                    && buffer.loadUnaligned(as: UInt64.self) == BenchTempFile.stamp(block) && ok
                            }
                            n += 64
                        }
                        return (n, ok)
                    }
                }
                return await group.reduce((0, true)) { ($0.0 + $1.0, $0.1 && $1.1) }
            }
            let elapsed = ContinuousClock.now - start
            stop.store(true, ordering: .relaxed)
            let lateness = await ticker.value
            return (counts.0, elapsed, counts.1, BenchMath.percentile(lateness, 0.99))
        }
        result.spool = spoolRate / 1000
        result.baseline = Double(plain.0) / BenchMath.seconds(plain.1) / 1000
        result.verified = verified && plain.2
        let cost = "while pread ran, a 1 ms ticker on the default executor woke up to \(Formatting.fixed(plain.3 / 1000, 1)) ms late (p99)"
        result.note = [note, cost].compactMap { $0 }.joined(separator: "; ")
        return result
    }

    // MARK: Network

    /// TCP echo ping-pong over loopback with 16 connections of 64-byte messages, every byte
    /// checked: Spool's echo server (multishot accept and receive, owned sends) against a
    /// blocking thread-per-connection server; the same one-thread `poll` client for both.
    func echo() throws -> BenchResult {
        var result = BenchResult(name: "echo", title: "TCP echo ping-pong, 16 connections × 64 B", unit: "k msg/s",
                                 higherIsBetter: true, baselineName: "blocking thread-per-connection server")
        let runtime = self.runtime
        // Spool's server, on the runtime.
        let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
        let spoolAddress = listener.localAddress
        let pool = try runOnRing(runtime) { try await BufferPool(count: 256, bufferSize: 4096, runtime: runtime) }
        let server = runtime.spawn(taking: listener) { listener in
            do {
                try await listener.acceptConnections { connection in
                    try? connection.setNoDelay(true)
                    runtime.spawn(taking: connection) { connection in
                        try? await connection.receiveBuffers(from: pool) { buffer in try await connection.write(taking: buffer) }
                        try? await connection.close()
                    }
                }
            } catch {}
            try? await listener.close()
        }
        // The server's CPU: its ring thread's (the client and the blocking server run on other
        // threads), read on the ring before and after.
        let spool: EchoClient.Outcome
        let spoolCPU: Double
        do {
            defer {
                server.cancel()  // stop accepting; the connections end as the client closes them
                _ = try? runOnDefaultExecutor { _ = await server.result }
            }
            // Every ring's thread: connections are spread over the rings.
            func ringsCPU() throws -> Int {
                try (0..<runtime.ringCount).reduce(0) { sum, i in sum + (try runOnRing(runtime, on: .ring(i)) { threadCPUNanoseconds() }) }
            }
            let cpuBefore = try ringsCPU()
            spool = try EchoClient.run(port: spoolAddress.port ?? 0, connections: 16, size: 64, slice: slice)
            spoolCPU = Double(try ringsCPU() - cpuBefore) / 1e9
        }
        // The blocking server.
        let blocking = try BlockingEchoServer()
        defer { blocking.stop() }
        let plain = try EchoClient.run(port: blocking.port, connections: 16, size: 64, slice: slice)
        let plainCPU = blocking.connectionCPUSeconds()
        result.spool = spool.rate / 1000
        result.baseline = plain.rate / 1000
        result.p50 = (spool.p50, plain.p50)
        result.p99 = (spool.p99, plain.p99)
        result.verified = spool.verified && plain.verified
        let spoolPerMessage = spoolCPU * 1e6 / Double(max(1, spool.messages))
        let plainPerMessage = (plainCPU ?? .nan) * 1e6 / Double(max(1, plain.messages))
        result.note = "server CPU per message: Spool \(Formatting.fixed(spoolPerMessage, 2)) µs (its ring threads; work the kernel hands to io-wq threads is not counted), "
            + "blocking \(Formatting.fixed(plainPerMessage, 2)) µs (16 threads); the client is one thread on the same 2 cores"
        return result
    }
}

/// Runs `body` in a task on `runtime`'s ring and blocks this thread for the result.
func runOnRing<T: Sendable>(_ runtime: Runtime, on placement: RingPlacement = .ring(0), _ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = BlockingResult<T>()
    let task = runtime.spawn(on: placement) { try await body() }
    Task.detached { box.set(await task.result) }
    return try box.wait()
}
