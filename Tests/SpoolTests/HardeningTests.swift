import Glibc
import Logging
@testable import Spool
import SpoolRing
import Synchronization
import SystemPackage
import Testing

/// Regression tests for the defects issue 6 lists, one or more per defect. Each runs its
/// risky part under `withinDeadline`, so a regression fails instead of hanging.
@Suite("Runtime hardening: the defects of issue 6", .timeLimit(.minutes(1)))
struct HardeningTests {
    // MARK: 1. Starvation

    @Test("1. a Task.yield() loop on a ring does not starve it: a read, a Task.sleep and shutdown all finish")
    func yieldLoopDoesNotStarve() async throws {
        let runtime = try Runtime()
        let stop = Flag()
        let spins = Counter()
        let spinner = runtime.spawn {
            while !stop.isSet {
                await Task.yield()
                spins.increment()
            }
        }
        #expect(await eventually { spins.value > 100 })
        let bytes = try await withinDeadline(.seconds(30), "a read beside a yield loop") {
            try await runtime.spawn { () -> Int in
                let file = try await File.open("/etc/passwd")
                let data = try await file.read(upToCount: 64, at: 0)
                try await file.close()
                return data.count
            }.value
        }
        #expect((bytes ?? 0) > 0)
        let slept = try await withinDeadline(.seconds(30), "a Task.sleep on the spinning ring") {
            try await runtime.spawn { () -> Bool in
                try await Task.sleep(for: .milliseconds(5))
                return true
            }.value
        }
        #expect(slept == true)
        let snapshot = try await withinDeadline(.seconds(30), "a snapshot of the spinning ring") { await runtime.combinedSnapshot() }
        #expect((snapshot??.statistics.budgetExhausted ?? 0) > 0, "the budget, not an empty queue, ended the passes")
        stop.set()
        try await spinner.value
        let done = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait(); return true }
        #expect(done == true)
    }

    // MARK: 2. Wake re-arm when the SQ is full

    @Test("2. the wake read is re-armed even when the SQ is full at that moment: posts from other threads still wake the ring", .requiresIOUring)
    func wakeRearmWithFullSubmissionQueue() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 2))
        try await runtime.nop()  // the ring is up and parked with its wake read in the kernel
        try await Task.sleep(for: .milliseconds(20))
        // The job below is posted from this (non-ring) thread, so the ring wakes through its
        // eventfd: the wake read completes and must be re-armed in the very pass in which the
        // job fills the 2-entry SQ and the kernel refuses to take entries (17 × EBUSY stalls
        // the flush).
        faults.fail(.submissionQueueFull, with: EBUSY, count: Ring.maximumStalledAttempts + 1)
        let filled = try await withinDeadline(.seconds(30), "a batch filling the SQ") {
            try await runtime.spawn { () -> OperationOutcome in
                let results = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
                defer { results.deallocate() }
                return await runtime.performBatch([.nop, .nop], results: results)
            }.value
        }
        #expect(filled == .completed(0))
        #expect(faults.injected["sq-full flush"] == Ring.maximumStalledAttempts + 1, "the flush stalled with the SQ full")
        // Now the ring parks. Work from this thread must still wake it.
        for _ in 0..<5 {
            try await Task.sleep(for: .milliseconds(10))
            let woke = try await withinDeadline(.seconds(30), "an off-ring operation after the stalled re-arm") {
                try await runtime.nop()
                return true
            }
            #expect(woke == true)
        }
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }

    // MARK: 3. Shutdown's cancel-all when the SQ is full

    @Test("3. shutdown's cancel-all waits for SQ room instead of being dropped: a read that never completes is still cancelled", .requiresIOUring)
    func cancelAllWithFullSubmissionQueue() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 2))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let reader = runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        faults.fail(.cancelAll, with: EBUSY, count: Ring.maximumStalledAttempts + 1)
        // One job on the ring asks for shutdown and, in the same pass, fills the SQ, so the
        // cancel-all finds no room and the kernel refuses the flush.
        let filler = runtime.spawn { () -> OperationOutcome in
            runtime.shutdown()  // from a ring thread: only requests it
            let results = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
            defer { results.deallocate() }
            return await runtime.performBatch([.nop, .nop], results: results)
        }
        let stopped = try await withinDeadline(.seconds(30), "shutdown with a full SQ") {
            await runtime.shutdownAndWait()
            return true
        }
        #expect(stopped == true)
        #expect(faults.injected["cancel-all"] == Ring.maximumStalledAttempts + 1, "the cancel-all's flush stalled")
        #expect(try await filler.value == .completed(0))
        let read = try await withinDeadline(.seconds(30), "the cancelled read's caller") { try await reader.value }
        #expect(read == .runtime(.shutdown))
    }

    @Test("review: completions moved aside while the submit path recovers from EBUSY are delivered before the ring waits",
          .requiresIOUring, arguments: [(SubmitSite.submissionQueueFull, 3), (SubmitSite.park, 1)])
    func spilledCompletionsAreNotStranded(site: SubmitSite, reads: Int) async throws {
        // Two NOPs complete inside the first SQ-full flush (their CQEs wait in the CQ); then an
        // EBUSY at `site` makes the submit path move those CQEs aside before it retries. The
        // reads never complete, so if the ring then blocks for a completion, the NOPs' callers
        // are stranded.
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 2))
        try await runtime.nop()
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        faults.fail(site, with: EBUSY, count: 1, skipping: site == .submissionQueueFull ? 1 : 0)
        let nops = Counter()
        let work = runtime.spawn { () -> [ReadOutcome] in
            await withTaskGroup(of: ReadOutcome?.self) { group in
                for _ in 0..<2 { group.addTask { try? await runtime.nop(); nops.increment(); return nil } }
                for _ in 0..<reads { group.addTask { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) } }
                return await group.reduce(into: []) { if let r = $1 { $0.append(r) } }
            }
        }
        let delivered = await eventually { nops.value == 2 }
        #expect(delivered, "the NOPs' callers resumed while the reads still wait")
        #expect(faults.injectedCount == 1)
        _ = try pipe.writeEnd.writeAll([UInt8](repeating: 1, count: 16 * reads))  // 16 bytes per reader
        let results = try await withinDeadline(.seconds(30), "the reads") { try await work.value }
        #expect(results?.count == reads)
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }

    @Test("review: shutdown is not held up by a task that never stops running on the ring")
    func shutdownWithEndlessTask() async throws {
        let runtime = try Runtime()
        let stop = Flag()
        let looper = runtime.spawn { () -> Int in
            var failures = 0
            while !stop.isSet {
                do { try await runtime.nop() } catch { failures += 1 }
                await Task.yield()
            }
            return failures
        }
        try await Task.sleep(for: .milliseconds(20))
        let done = try await withinDeadline(.seconds(30), "shutdown beside an endless task") {
            await runtime.shutdownAndWait()
            return true
        }
        #expect(done == true)
        try await Task.sleep(for: .milliseconds(50))  // the looper meets the stopped runtime
        stop.set()
        #expect(try await looper.value > 0, "after shutdown its I/O failed fast")
    }

    // MARK: 4. Broken ring

    @Test("4a. a ring that breaks inside the SQ-full flush: every caller resumes once with the ring's errno, none is queued and lost", .requiresIOUring)
    func breakDuringFlush() async throws {
        let logged = LogCapture()
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 1, submissionEntries: 2, logger: Logger(label: "test") { _ in logged }))
        faults.fail(.submissionQueueFull, with: EBADF)
        let outcomes = try await withinDeadline(.seconds(30), "eight operations on a breaking ring") {
            try await runtime.spawn { () -> [String] in
                await withTaskGroup(of: String.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do { try await runtime.nop(); return "ok" } catch { return "\(error)" }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }.value
        }
        let all = try #require(outcomes)
        #expect(all.count == 8, "every caller resumed exactly once")
        #expect(all.allSatisfy { $0 == "\(RuntimeError.broken(.badFileDescriptor))" }, "\(all)")
        #expect(runtime.health == [.broken(.badFileDescriptor)])
        #expect(!runtime.isHealthy)
        // 12. new work fails fast with the ring's errno, not "shutdown".
        await #expect(throws: RuntimeError.broken(.badFileDescriptor)) { try await runtime.nop() }
        #expect(logged.messages.contains { $0.contains("broken") && $0.contains("errno 9") }, "\(logged.messages)")
        _ = try await withinDeadline(.seconds(30), "shutdown of a broken runtime") { await runtime.shutdownAndWait() }
    }

    @Test("4b. a ring that breaks with a read in the kernel resumes that caller only after the kernel let go: its buffer is never written",
          .requiresIOUring, arguments: [SubmitSite.park, .eager])
    func brokenRingKeepsContract1(_ site: SubmitSite) async throws {
        // `.park`: the NOP below waits for the next park (no eager submit); `.eager`: the NOP's
        // own eager submit is the enter that breaks the ring.
        var configuration = Runtime.Configuration(ringCount: 1, submissionEntries: 16)
        configuration.inlineCompletion = site == .eager
        let (runtime, faults) = try runtimeWithFaults(configuration)
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let writer = pipe.writeEnd
        let reader = dupReader(pipe.readEnd)
        let ring = runtime.rings[0]
        let releasedAtResume = Flag()
        let task = runtime.spawn { () -> (String, [UInt8], Int) in
            let file = File(adopting: reader, runtime: runtime)
            var buffer = IOBuffer(capacity: 8)
            var what = "returned"
            do { try await file.readAtCurrentPosition(into: &buffer) } catch { what = "\(error)" }
            if ring.kernelReleasedBrokenRing.load(ordering: .acquiring) { releasedAtResume.set() }
            // Resumed: the kernel must be done with `buffer`. Data written now stays in the pipe.
            let wrote = (try? writer.writeAll(Array("late".utf8))) ?? -1
            let after = buffer.withUnsafeMutableBytes { Array($0) }
            return (what, after, wrote)
        }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        faults.fail(site, with: EBADF)
        // Wake the ring so that it enters the kernel again, into the injected fault.
        let nop = Task { () -> String in
            do { try await runtime.nop(); return "ok" } catch { return "\(error)" }
        }
        let result = try await withinDeadline(.seconds(30), "the read's caller on a broken ring") { try await task.value }
        let (what, after, wrote) = try #require(result)
        #expect(what == "\(RuntimeError.broken(.badFileDescriptor))")
        #expect(releasedAtResume.isSet, "the caller resumed only after the kernel released the ring")
        #expect(wrote == 4)
        #expect(after == [UInt8](repeating: 0, count: 8), "the kernel never wrote the buffer")
        try await Task.sleep(for: .milliseconds(20))
        #expect(drainAvailable(pipe.readEnd) == 4, "the late data stayed in the pipe: the read was gone from the kernel")
        #expect(await nop.value == "\(RuntimeError.broken(.badFileDescriptor))")
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
    }

    @Test("12. a broken ring leaves the round robin: the other ring takes all new work", .requiresIOUring)
    func brokenRingLeavesRoundRobin() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(ringCount: 2, submissionEntries: 8))
        faults.fail(.park, with: EIO)
        // Whichever ring parks first breaks; wait for one to.
        #expect(await eventually {
            _ = try? await runtime.nop()
            return runtime.health.contains(.broken(.ioError))
        })
        #expect(runtime.health.filter { $0 == .healthy }.count == 1)
        for _ in 0..<20 {
            let ran = try await withinDeadline(.seconds(30), "work on the healthy ring") {
                try await runtime.spawn { () -> Bool in
                    try await runtime.nop()
                    return true
                }.value
            }
            #expect(ran == true)
        }
        _ = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait() }
        #expect(runtime.health.contains(.broken(.ioError)) && runtime.health.contains(.stopped))
    }

    // MARK: 5. close() releases the descriptor in every outcome

    @Test("5a. close() from a cancelled task still closes the descriptor")
    func closeWhenCancelled() async throws {
        try await withTestRuntime { runtime in
            let dir = TemporaryDirectory()
            let path = dir.file("cancelled-close")
            try writeFile(path, [1, 2, 3])
            let file = try await File.open(path)
            let fd = file.descriptor.rawValue
            let box = FileBox(file)
            let t = runtime.spawn { () -> String in
                withUnsafeCurrentTask { $0?.cancel() }
                guard let f = box.file.take() else { return "no file" }
                do { try await f.close(); return "closed" } catch { return "\(error)" }
            }
            #expect(try await t.value == "closed")
            #expect(descriptorTarget(fd)?.hasSuffix("cancelled-close") != true, "the descriptor was released")
        }
    }

    @Test("5b. close() after the runtime shut down closes the descriptor synchronously (File and SharedFile)")
    func closeAfterShutdown() async throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("a"), [1])
        try writeFile(dir.file("b"), [2])
        let runtime = try Runtime()
        let a = try await File.open(dir.file("a"), runtime: runtime)
        let b = try await File.open(dir.file("b"), runtime: runtime).shared()
        let (fa, fb) = (a.descriptor.rawValue, b.descriptor.rawValue)
        await runtime.shutdownAndWait()
        try await a.close()
        try await b.close()
        #expect(descriptorTarget(fa)?.hasSuffix("/a") != true)
        #expect(descriptorTarget(fb)?.hasSuffix("/b") != true)
        await #expect(throws: IOError.self) { try await b.close() }
    }

    @Test("5c. a close waiting for admission when the runtime shuts down still closes the descriptor")
    func closeWaitingForAdmission() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1, submissionEntries: 4, inFlightLimit: 1))
        let dir = TemporaryDirectory()
        try writeFile(dir.file("waiting-close"), [1])
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let blocker = runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        let file = try File(adopting: FileDescriptor.open(dir.file("waiting-close"), .readOnly), runtime: runtime)
        let fd = file.descriptor.rawValue
        let box = FileBox(file)
        let closer = runtime.spawn { () -> String in
            do { try await box.file.take()!.close(); return "closed" } catch { return "\(error)" }
        }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 1 })
        await runtime.shutdownAndWait()
        #expect(try await closer.value == "closed")
        #expect(try await blocker.value == .runtime(.shutdown))
        #expect(descriptorTarget(fd)?.hasSuffix("waiting-close") != true, "the descriptor was released")
    }

    @Test("review: SharedFile.close waits for calls already using the descriptor, and refuses new ones at once")
    func sharedFileCloseWaitsForUsers() async throws {
        try await withTestRuntime { runtime in
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.writeEnd.close() }
            let shared = File(adopting: pipe.readEnd, runtime: runtime).shared()
            let fd = shared.descriptor.rawValue
            let target = descriptorTarget(fd)
            let reader = runtime.spawn { () -> [UInt8] in
                var buffer = IOBuffer(capacity: 4)
                try await shared.readAtCurrentPosition(into: &buffer)
                return buffer.bytes
            }
            #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
            let closed = Flag()
            let closer = runtime.spawn { try await shared.close(); closed.set() }
            try await Task.sleep(for: .milliseconds(50))
            #expect(!closed.isSet, "close waits while a read uses the descriptor")
            #expect(descriptorTarget(fd) == target, "the descriptor is still open under the read")
            await #expect(throws: IOError.self) { _ = try await shared.read(upToCount: 1, at: 0) }
            _ = try pipe.writeEnd.writeAll(Array("data".utf8))
            let read = try await withinDeadline(.seconds(30), "the read") { try await reader.value }
            #expect(read == Array("data".utf8))
            _ = try await withinDeadline(.seconds(30), "the close") { try await closer.value }
            #expect(closed.isSet)
            #expect(descriptorTarget(fd) != target, "released after the last user")
        }
    }

    // MARK: 6. IOBuffer.count

    @Test("6. IOBuffer.count cannot leave 0...capacity: setCount rejects it with a typed error")
    func bufferCountIsBounded() throws {
        var buffer = IOBuffer(capacity: 16)
        buffer.withUnsafeMutableBytes { $0.storeBytes(of: 0x4142_4344, as: UInt32.self) }
        try buffer.setCount(4)
        #expect(buffer.bytes == [0x44, 0x43, 0x42, 0x41])
        #expect(throws: RuntimeError.self) { try buffer.setCount(17) }
        #expect(throws: RuntimeError.self) { try buffer.setCount(-1) }
        #expect(buffer.count == 4, "a rejected count leaves the buffer as it was")
        try buffer.setCount(16)
        #expect(buffer.bytes.count == 16)
    }

    // MARK: 7. A plain Task {} can do I/O

    @Test("7. inside Runtime.withRuntime, a plain Task {} does I/O without passing the runtime; a detached task with it")
    func plainTaskDoesIO() async throws {
        try await withTestRuntime { runtime in
            let plain = Task { () -> Int in
                #expect(RingExecutor.current == nil)
                let file = try await File.open("/etc/passwd")
                let n = try await file.read(upToCount: 32, at: 0).count
                try await file.close()
                return n
            }
            let read = try await plain.value
            #expect(read == 32)
            // A detached task inherits no task-local: it finds the newest running runtime
            // (with other tests' runtimes alive in this process, that may not be this one,
            // so this test passes its own; the lookup order is tested in FileTests).
            let detached = Task.detached { () -> Int in
                let status = try await File.status(of: "/etc/passwd", runtime: runtime)
                return Int(status.size)
            }
            let size = try await detached.value
            #expect(size > 0)
        }
    }

    @Test("7. Runtime.run: a plain Task {} started in its body does I/O")
    func plainTaskInRun() throws {
        let n = try Runtime.run { _ in
            try await Task { () -> Int in
                let file = try await File.open("/etc/passwd")
                let bytes = try await file.read(upToCount: 16, at: 0)
                try await file.close()
                return bytes.count
            }.value
        }
        #expect(n == 16)
    }

    // MARK: 8. Platform flag values

    @Test("8. File.Options map to the platform's own open(2) flags: O_DIRECT is what the kernel reports back")
    func platformFlags() async throws {
        #expect(File.Options.direct.openFlags & SystemConstants.openDirect != 0)
        #expect(File.Options.direct.openFlags & SystemConstants.openCloseOnExec != 0)
        #expect(File.Options.inheritable.openFlags & SystemConstants.openCloseOnExec == 0)
        #expect(File.Options([.create, .exclusive]).openFlags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL)
        try await withTestRuntime { _ in
            let dir = TemporaryDirectory()
            try writeFile(dir.file("direct"), [UInt8](repeating: 7, count: 4096))
            do {
                let file = try await File.open(dir.file("direct"), options: [.direct])
                let flags = fcntl(file.descriptor.rawValue, F_GETFL)
                #expect(flags & SystemConstants.openDirect != 0, "the kernel sees O_DIRECT")
                try await file.close()
            } catch let e as IOError where e.errno == .invalidArgument {
                // A file system without O_DIRECT (tmpfs): the flag was still the right one.
            }
        }
    }

    // MARK: 9. Admission order and memory

    @Test("9a. a cancelled waiter's recycled slot is not admitted out of turn")
    func cancelledWaiterDoesNotJumpQueue() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1, submissionEntries: 4, inFlightLimit: 1))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let order = OrderLog()
        let blocker = runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        let first = runtime.spawn { try await runtime.nop(); order.append("first") }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 1 })
        let second = runtime.spawn { try await runtime.nop(); order.append("second") }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 2 })
        first.cancel()  // its slot is freed and handed to the next caller
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 1 })
        let third = runtime.spawn { try await runtime.nop(); order.append("third") }
        #expect(await eventually { (await runtime.combinedSnapshot()?.waiting ?? 0) == 2 })
        _ = try pipe.writeEnd.writeAll([UInt8(1)])
        #expect(try await blocker.value == .read(1, [1]))
        try await second.value
        try await third.value
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(order.entries == ["second", "third"])
        await runtime.shutdownAndWait()
    }

    @Test("9b. after a burst of 100,000 waiters the slot slab and the job queue return to their baseline")
    func memoryReturnsAfterBurst() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 64))
        let baseline = try #require(await runtime.combinedSnapshot())
        try await runtime.spawn {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<100_000 { group.addTask { try await runtime.nop() } }
                try await group.waitForAll()
            }
            // A batch of 100,000 parts: 100,000 slots at once, all but 128 waiting.
            let results = UnsafeMutablePointer<Int32>.allocate(capacity: 100_000)
            defer { results.deallocate() }
            let parts = [OperationRequest](repeating: .nop, count: 100_000)
            let outcome = await runtime.performBatch(parts, results: results)
            #expect(outcome == .completed(0))
        }.value
        let after = try #require(await runtime.combinedSnapshot())
        #expect(after.slotsInUse == 0)
        #expect(after.peakSlotCapacity >= 100_000, "the burst did grow the slab")
        #expect(after.slotCapacity <= baseline.slotCapacity * 2, "slab back near its baseline (\(after.slotCapacity) slots, was \(baseline.slotCapacity))")
        #expect(after.slabBytes < 64 * 1024)
        #expect(after.jobQueueCapacity <= 1024, "job queue back near its baseline (\(after.jobQueueCapacity))")
        await runtime.shutdownAndWait()
    }
}

/// A log handler that keeps every message (for tests of what the runtime logs).
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lock = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lock.withLock { $0.append("\(event.level): \(event.message)") }
    }
    var messages: [String] { lock.withLock { $0 } }
}

/// An append-only list of names shared between tasks.
final class OrderLog: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ name: String) { list.withLock { $0.append(name) } }
    var entries: [String] { list.withLock { $0 } }
}

/// A runtime over an injected system-call layer, and the injector that scripts its faults.
func runtimeWithFaults(_ configuration: Runtime.Configuration) throws -> (Runtime, SubmitFaultInjector) {
    let faults = SubmitFaultInjector()
    var configuration = configuration
    configuration.faults = faults
    return (try Runtime(configuration: configuration), faults)
}
