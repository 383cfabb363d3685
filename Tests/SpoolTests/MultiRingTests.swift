import Dispatch
import Synchronization
import SystemPackage
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// Counts how many times each of `total` callers resumed.
final class ResumeLedger: Sendable {
    private let counts: PosixLocked<[Int]>
    init(_ total: Int) { counts = PosixLocked([Int](repeating: 0, count: total)) }
    func resumed(_ i: Int) { counts.withLock { $0[i] += 1 } }
    var all: [Int] { counts.withLock { $0 } }
}

@Suite("Many rings: placement, cross-ring wakes, graceful shutdown", .serialized)
struct MultiRingTests {
    static let roundTrips = 100_000

    @Test("ping-pong between two rings: 100,000 round trips, no deadlock, no lost wake, woken with MSG_RING")
    func pingPongBetweenRings() async throws {
        try await withTestRuntime(Runtime.Configuration(ringCount: 2)) { runtime in
            let ping = Baton(), pong = Baton()
            let n = Self.roundTrips
            let a = runtime.spawn(on: .ring(0)) { () -> Int? in
                for _ in 0..<n {
                    ping.signal()
                    await pong.wait()
                }
                return Runtime.currentRingIndex
            }
            let b = runtime.spawn(on: .ring(1)) { () -> (Int, Int?) in
                var count = 0
                for _ in 0..<n {
                    await ping.wait()
                    count += 1
                    pong.signal()
                }
                return (count, Runtime.currentRingIndex)
            }
            let done = try await withinDeadline(.seconds(120), "100,000 round trips between rings") {
                (try await a.value, try await b.value)
            }
            let (ringOfA, (count, ringOfB)) = try #require(done)
            #expect(ringOfA == 0 && ringOfB == 1, "each task stayed on its ring")
            #expect(count == n)
            let messages = runtime.rings.map { $0.wakeSignal.messages.load(ordering: .relaxed) }
            if runtime.rings[0].acceptsMessageRingWakes.load(ordering: .relaxed) {
                #expect(messages[0] > 0 && messages[1] > 0, "parked rings were woken by MSG_RING from their sibling: \(messages)")
            }
        }
    }

    @Test("ping-pong between a plain thread and a ring: 100,000 round trips through the eventfd")
    func pingPongWithForeignThread() async throws {
        try await withTestRuntime(Runtime.Configuration(ringCount: 2)) { runtime in
            let toRing = Baton()
            let toThread = DispatchSemaphore(value: 0)
            let n = Self.roundTrips
            let ringSide = runtime.spawn(on: .ring(1)) { () -> Int in
                var count = 0
                for _ in 0..<n {
                    await toRing.wait()
                    count += 1
                    toThread.signal()
                }
                return count
            }
            let writesBefore = runtime.rings[1].wakeSignal.writes.load(ordering: .relaxed)
            let finished = Flag()
            let thread = Task.detached {
                await onForeignThreadAsync {
                    for _ in 0..<n {
                        toRing.signal()
                        toThread.wait()
                    }
                    finished.set()
                }
            }
            let count = try await withinDeadline(.seconds(120), "100,000 round trips with a foreign thread") {
                try await ringSide.value
            }
            await thread.value
            #expect(count == n)
            #expect(finished.isSet)
            #expect(runtime.rings[1].wakeSignal.writes.load(ordering: .relaxed) > writesBefore, "the thread woke the parked ring through its eventfd")
        }
    }

    @Test("with MSG_RING wakes turned off, siblings wake each other through the eventfd")
    func eventFDWakesBetweenRings() async throws {
        var configuration = Runtime.Configuration(ringCount: 2)
        configuration.wakesSiblingsWithMessageRing = false
        try await withTestRuntime(configuration) { runtime in
            let ping = Baton(), pong = Baton()
            let n = 10_000
            let a = runtime.spawn(on: .ring(0)) { for _ in 0..<n { ping.signal(); await pong.wait() } }
            let b = runtime.spawn(on: .ring(1)) { for _ in 0..<n { await ping.wait(); pong.signal() } }
            let done = try await withinDeadline(.seconds(60), "10,000 round trips over eventfds") {
                try await a.value
                try await b.value
                return true
            }
            #expect(done == true)
            #expect(runtime.rings.allSatisfy { $0.wakeSignal.messages.load(ordering: .relaxed) == 0 })
            #expect(runtime.rings.contains { $0.wakeSignal.writes.load(ordering: .relaxed) > 0 })
        }
    }

    @Test("spawn places tasks on the chosen, the current or the next ring; a bad index is an error")
    func placement() async throws {
        try await withTestRuntime(Runtime.Configuration(ringCount: 3)) { runtime in
            #expect(runtime.ringCount == 3)
            for i in 0..<3 {
                #expect(try await runtime.spawn(on: .ring(i)) { Runtime.currentRingIndex }.value == i)
            }
            let nested = try await runtime.spawn(on: .ring(2)) { () -> Int? in
                try await runtime.spawn(on: .current) { Runtime.currentRingIndex }.value
            }.value
            #expect(nested == 2, ".current keeps the task on the caller's ring")
            // From a thread that is not a ring, .current means .next.
            #expect(try await runtime.spawn(on: .current) { Runtime.currentRingIndex }.value != nil)
            var seen = Set<Int>()
            for _ in 0..<6 { if let i = try await runtime.spawn { Runtime.currentRingIndex }.value { seen.insert(i) } }
            #expect(seen == [0, 1, 2], "round robin reaches every ring")
            await #expect(throws: RuntimeError.self) { try await runtime.spawn(on: .ring(3)) { 1 }.value }
            await #expect(throws: RuntimeError.self) { try await runtime.spawn(on: .ring(-1)) { 1 }.value }
        }
    }

    @Test("rings pinned to cores run there")
    func pinning() async throws {
        var configuration = Runtime.Configuration(ringCount: 2)
        configuration.pinsRingsToCores = true
        try await withTestRuntime(configuration) { runtime in
            let cores = CPUAffinityProbe.allowed(status: "/proc/self/status")  // the process's (main thread's)
            for i in 0..<2 {
                let allowed = try await runtime.spawn(on: .ring(i)) { CPUAffinityProbe.allowed() }.value
                #expect(allowed == [cores[i % cores.count]], "ring \(i) runs on one core only")
            }
        }
    }

    @Test("work sent to a ring while it shuts down is never lost: every job runs")
    func messagesToStoppingRing() async throws {
        for _ in 0..<20 {
            let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
            let ran = Counter()
            let total = 400
            let tasks = PosixLocked<[Task<Void, Never>]>([])
            let posters = Task.detached {
                await withTaskGroup(of: Void.self) { group in
                    for p in 0..<4 {
                        group.addTask {
                            for _ in 0..<(total / 4) {
                                let t = Task(executorPreference: runtime.executors[p % 2]) { ran.increment() }
                                tasks.withLock { $0.append(t) }
                            }
                        }
                    }
                }
            }
            await onForeignThreadAsync { runtime.shutdown() }  // the blocking form, off the global executor
            await posters.value
            for t in tasks.withLock({ $0 }) { await t.value }
            #expect(ran.value == total)
        }
    }

    // MARK: Graceful shutdown

    @Test("a grace period lets running work finish, and ends early once nothing is left")
    func gracePeriodLetsWorkFinish() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let clock = SpoolClock(runtime: runtime)
        let worker = runtime.spawn { () -> String in
            try await clock.sleep(for: .milliseconds(200))
            try await runtime.nop()  // I/O after the shutdown began still runs
            return "finished"
        }
        try await Task.sleep(for: .milliseconds(20))
        let start = ContinuousClock.now
        await runtime.shutdownAndWait(gracePeriod: .seconds(10))
        let took = ContinuousClock.now - start
        #expect(try await worker.value == "finished")
        #expect(took < .seconds(5), "the shutdown ended once the work was done (\(took)), not after the grace period")
        #expect(runtime.shutdownPhase == .finished)
    }

    @Test("when the grace period ends, what is left is cancelled with the shutdown error")
    func gracePeriodEnds() async throws {
        var configuration = Runtime.Configuration(ringCount: 2)
        configuration.shutdownDrainLimit = .seconds(20)  // the documented bound, generous for a slow machine
        let runtime = try Runtime(configuration: configuration)
        let clock = SpoolClock(runtime: runtime)
        let sleeper = runtime.spawn { () -> String in
            do { try await clock.sleep(for: .seconds(60)); return "slept" } catch { return "\(error)" }
        }
        try await Task.sleep(for: .milliseconds(20))
        let start = ContinuousClock.now
        await onForeignThreadAsync { runtime.shutdown(gracePeriod: .milliseconds(300)) }  // the blocking form
        let took = ContinuousClock.now - start
        #expect(try await sleeper.value == "\(RuntimeError.shutdown)")
        #expect(took >= .milliseconds(300), "the grace period was honoured (\(took))")
        #expect(took < .milliseconds(300) + configuration.shutdownDrainLimit, "and the shutdown ended within it plus the drain limit (\(took))")
    }

    @Test("while draining: new tasks, blocking jobs and accepts are refused; an open connection still works")
    func drainingRefusesNewWork() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
        let address = listener.localAddress
        let accepted = Counter()
        let server = runtime.spawn(taking: listener) { listener -> String in
            do {
                try await listener.acceptConnections { connection in
                    accepted.increment()
                    runtime.spawn(taking: connection, on: .current) { connection in
                        var buffer = IOBuffer(capacity: 64)
                        while true {
                            let n = try await connection.read(into: &buffer)
                            if n == 0 { break }
                            try await connection.writeAll(buffer.bytes)
                        }
                        try await connection.close()
                    }
                }
                return "returned"
            } catch {
                try? await listener.close()
                return "\(error)"
            }
        }
        let client = try await StreamSocket.connect(to: address, runtime: runtime)
        #expect(await eventually { accepted.value == 1 })
        let shutdown = Task.detached { await runtime.shutdownAndWait(gracePeriod: .seconds(300)) }  // far beyond the deadline below
        #expect(await eventually { runtime.shutdownPhase == .draining })
        // The listener stops accepting, with the shutdown error.
        #expect(try await server.value == "\(RuntimeError.shutdown)")
        // New work is refused.
        await #expect(throws: RuntimeError.shutdown) { try await runtime.spawn { 1 }.value }
        await #expect(throws: RuntimeError.shutdown) { try await runtime.spawnBlocking { 1 } }
        // The open connection still echoes during the grace period.
        try await client.writeAll(Array("still here".utf8))
        var buffer = IOBuffer(capacity: 64)
        var got: [UInt8] = []
        while got.count < 10 {
            let n = try await client.read(into: &buffer)
            if n == 0 { break }
            got += buffer.bytes
        }
        #expect(got == Array("still here".utf8))
        // The client leaves; the connection task ends; the shutdown ends early.
        try await client.close()
        let ended = try await withinDeadline(.seconds(30), "the drained shutdown") { await shutdown.value; return true }
        #expect(ended == true)
        #expect(runtime.shutdownPhase == .finished)
    }

    @Test("a draining runtime ends and refuses its listeners' accepts also when they are called from another runtime's ring")
    func drainAcrossRuntimes() async throws {
        let a = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let b = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let single = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: a)
        let multi = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: a)
        let one = b.spawn(taking: single) { listener -> String in
            do { _ = try await listener.accept(); return "accepted" } catch { return "\(error)" }
        }
        let many = b.spawn(taking: multi) { listener -> String in
            do { try await listener.acceptConnections { _ in }; return "returned" } catch { return "\(error)" }
        }
        #expect(await eventually { (await a.combinedSnapshot()?.inFlight ?? 0) == 2 }, "both accepts run on runtime a's ring")
        let ended = try await withinDeadline(.seconds(30), "runtime a's graceful shutdown") {
            await a.shutdownAndWait(gracePeriod: .seconds(300))  // far beyond the deadline
            return true
        }
        #expect(ended == true)
        #expect(try await one.value == "\(RuntimeError.shutdown)")
        #expect(try await many.value == "\(RuntimeError.shutdown)")
        await b.shutdownAndWait()
    }

    @Test("shutdown called twice, from many threads at once and from a ring: all return, once")
    func concurrentShutdown() async throws {
        for _ in 0..<10 {
            let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
            let clock = SpoolClock(runtime: runtime)
            let sleeper = runtime.spawn { () -> String in
                do { try await clock.sleep(for: .seconds(60)); return "slept" } catch { return "\(error)" }
            }
            let fromRing = runtime.spawn(on: .ring(1)) { runtime.shutdown(gracePeriod: .milliseconds(50)) }
            let returned = Counter()
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<4 {
                    group.addTask {
                        if i % 2 == 0 {
                            await runtime.shutdownAndWait(gracePeriod: .milliseconds(i * 10))
                        } else {
                            await onForeignThreadAsync { runtime.shutdown(gracePeriod: .seconds(1)) }
                        }
                        returned.increment()
                    }
                }
            }
            try? await fromRing.value
            #expect(returned.value == 4)
            #expect(runtime.shutdownPhase == .finished)
            #expect(try await sleeper.value == "\(RuntimeError.shutdown)")
            await onForeignThreadAsync { runtime.shutdown() }  // again, after the end
            #expect(runtime.rings.allSatisfy { $0.thread.hasExited })
        }
    }

    @Test("shutdown under load: 10,000 operations, 10,000 sleepers, 100 blocking jobs; each caller resumes once, in bounded time")
    func shutdownUnderLoad() async throws {
        var configuration = Runtime.Configuration(ringCount: 2, submissionEntries: 4096, inFlightLimit: 8192)
        configuration.blockingThreads = 8
        configuration.shutdownDrainLimit = .seconds(30)  // generous: a slow CI machine under a sanitizer
        let runtime = try Runtime(configuration: configuration)
        let clock = SpoolClock(runtime: runtime)
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let operations = 10_000, sleepers = 10_000, jobs = 100
        let ledger = ResumeLedger(operations + sleepers + jobs)
        let outcomes = PosixLocked<[String: Int]>([:])
        let release = DispatchSemaphore(value: 0)
        let fd = pipe.readEnd.rawValue
        var tasks: [Task<Void, any Error>] = []
        for i in 0..<operations {
            tasks.append(runtime.spawn {
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
                let outcome = await runtime.perform(.read(fd: fd, buffer: buffer, count: 1, offset: UInt64.max))
                buffer.deallocate()  // the call returned: the kernel no longer holds it (contract 1)
                ledger.resumed(i)
                outcomes.withLock { $0["op \(outcome)", default: 0] += 1 }
            })
        }
        for i in 0..<sleepers {
            tasks.append(runtime.spawn {
                let outcome: String
                do { try await clock.sleep(for: .seconds(120)); outcome = "slept" } catch { outcome = "\(error)" }
                ledger.resumed(operations + i)
                outcomes.withLock { $0["sleep \(outcome)", default: 0] += 1 }
            })
        }
        for i in 0..<jobs {
            tasks.append(runtime.spawn {
                let outcome: String
                do { try await runtime.spawnBlocking { release.wait() }; outcome = "ran" } catch { outcome = "\(error)" }
                ledger.resumed(operations + sleepers + i)
                outcomes.withLock { $0["job \(outcome)", default: 0] += 1 }
            })
        }
        #expect(await eventually {
            let s = await runtime.combinedSnapshot()
            return (s?.inFlight ?? 0) + (s?.waiting ?? 0) >= operations && (s?.slotsInUse ?? 0) >= operations + sleepers
        }, "the load is in place")
        let perRing = await runtime.snapshots().map(\.slotsInUse)
        #expect(perRing.allSatisfy { $0 > 1000 }, "across all rings: \(perRing)")
        let grace: Duration = .milliseconds(200)
        let start = ContinuousClock.now
        await onForeignThreadAsync { runtime.shutdown(gracePeriod: grace) }  // the blocking form
        let took = ContinuousClock.now - start
        #expect(took < grace + configuration.shutdownDrainLimit, "returned within the grace period plus the bound (\(took))")
        for t in tasks { try await t.value }
        #expect(ledger.all.allSatisfy { $0 == 1 }, "every caller resumed exactly once")
        let counts = outcomes.withLock { $0 }
        #expect(counts["op \(OperationOutcome.shutdown)"] == operations, "\(counts)")
        #expect(counts["sleep \(RuntimeError.shutdown)"] == sleepers, "\(counts)")
        #expect(counts["job \(RuntimeError.shutdown)"] == jobs, "\(counts)")
        #expect(runtime.rings.allSatisfy { $0.thread.hasExited }, "every ring closed")
        #expect(runtime.rings.allSatisfy { $0.ringDescriptor.load(ordering: .relaxed) == -1 }, "ring descriptors closed")
        #expect(runtime.blockingPoolDepth.queued == 0)
        for _ in 0..<jobs { release.signal() }  // let the abandoned threads go
    }

    @Test("a stopped ring's descriptor number stays taken by a placeholder until every ring has finished", .requiresIOUring)
    func descriptorNumberReserved() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 2))
        let fd = runtime.rings[1].ringDescriptor.load(ordering: .relaxed)
        #expect(fd >= 0)
        #expect(descriptorTarget(fd) == "anon_inode:[io_uring]")
        faults.fail(.park, with: EBADF, ring: 1)
        _ = try? await runtime.spawn(on: .ring(1)) { 1 }.value
        #expect(await eventually { runtime.rings[1].thread.hasExited })
        // Ring 0 may still name the number in a MSG_RING: it must not be reused meanwhile.
        #expect(descriptorTarget(fd) == "/dev/null", "the number is held by the placeholder")
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "and stays close-on-exec")
        #expect(runtime.rings[1].ringDescriptor.load(ordering: .relaxed) == -1)
        // Ring 0 keeps working, and its wakes to the broken ring's executor are not lost.
        try await runtime.spawn(on: .ring(0)) {
            let done = Baton()
            Task(executorPreference: runtime.executors[1]) { done.signal() }  // runs on the global executor now
            await done.wait()
        }.value
        await runtime.shutdownAndWait()
        #expect(descriptorTarget(fd) != "/dev/null", "closed once every ring finished")
    }

    @Test("a grace period of .seconds(.max) does not overflow; a spawned task awaiting its own runtime's shutdown does not hold it up")
    func extremeGraceAndSelfShutdown() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let start = ContinuousClock.now
        let selfStopper = runtime.spawn { await runtime.shutdownAndWait(gracePeriod: .seconds(Int64.max)) }
        let ended = try await withinDeadline(.seconds(60), "a shutdown awaited by a spawned task, grace .max") {
            try await selfStopper.value
            return true
        }
        #expect(ended == true)
        #expect(ContinuousClock.now - start < .seconds(30), "nothing was left, so the grace period ended at once")
        #expect(runtime.shutdownPhase == .finished)
    }

    @Test("tasks that inherit a spawned task's count and wait for the shutdown lend it once: other work still holds the grace period, and it still ends early")
    func inheritedCountLentOnce() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 2))
        let clock = SpoolClock(runtime: runtime)
        let worker = runtime.spawn { () -> String in
            try await clock.sleep(for: .milliseconds(300))
            try await runtime.nop()
            return "finished"
        }
        let start = ContinuousClock.now
        let waiter = runtime.spawn {
            // Two children inherit this task's count; both wait for the shutdown.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await runtime.shutdownAndWait(gracePeriod: .seconds(120)) }
                group.addTask { await runtime.shutdownAndWait(gracePeriod: .seconds(120)) }
            }
        }
        let done = try await withinDeadline(.seconds(90), "a shutdown awaited by two children") {
            try await waiter.value
            return true
        }
        #expect(done == true)
        #expect(try await worker.value == "finished", "the worker's count still held the grace period")
        #expect(ContinuousClock.now - start < .seconds(30), "and the grace period ended once the worker was done")
    }

    @Test("a broken ring fails its own work fast; the other rings keep working; shutdown completes", .requiresIOUring)
    func brokenRingIsolated() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 2))
        faults.fail(.park, with: EBADF, ring: 1)
        // Ring 1 runs a task, parks again, and its enter fails: it breaks.
        _ = try? await runtime.spawn(on: .ring(1)) { 1 }.value
        #expect(await eventually { runtime.health[1] == .broken(.badFileDescriptor) })
        #expect(runtime.health[0] == .healthy)
        await #expect(throws: RuntimeError.broken(.badFileDescriptor)) { try await runtime.spawn(on: .ring(1)) { 1 }.value }
        for _ in 0..<100 { try await runtime.nop() }  // goes to the healthy ring
        #expect(try await runtime.spawn(on: .ring(0)) { try await runtime.nop(); return Runtime.currentRingIndex }.value == 0)
        let spread = try await withThrowingTaskGroup(of: Int?.self) { group in
            for _ in 0..<10 { group.addTask { try await runtime.spawn { try await runtime.nop(); return Runtime.currentRingIndex }.value } }
            return try await group.reduce(into: Set<Int?>()) { $0.insert($1) }
        }
        #expect(spread == [0], "new tasks go to the healthy ring only")
        let done = try await withinDeadline(.seconds(30), "shutdown with a broken ring") {
            await runtime.shutdownAndWait(gracePeriod: .milliseconds(100))
            return true
        }
        #expect(done == true)
        #expect(runtime.shutdownPhase == .finished)
    }
}

/// The calling thread's allowed CPUs, read from `/proc/thread-self/status` (a reading
/// independent of the runtime's own).
enum CPUAffinityProbe {
    static func allowed(status path: String = "/proc/thread-self/status") -> [Int] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { return [] }
        let status = String(decoding: bytes[0..<n], as: UTF8.self)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return [] }
        var out: [Int] = []
        for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = part.split(separator: "-").compactMap { Int($0.filter { !$0.isWhitespace }) }
            if bounds.count == 2 { out += Array(bounds[0]...bounds[1]) } else if let b = bounds.first { out.append(b) }
        }
        return out
    }
}
