import CSpoolURing
import Glibc
@testable import Spool
import SpoolRing
import SystemPackage
import Testing

/// CPU time (user + system, in clock ticks) a thread of this process has used.
func threadCPUTicks(_ tid: Int32) -> Int? {
    guard let fd = Optional(open("/proc/self/task/\(tid)/stat", O_RDONLY)), fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 1024)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return nil }
    let text = String(decoding: bytes[0..<n], as: UTF8.self)
    // Fields after the ")" that ends the command name: state is field 3; utime 14, stime 15.
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let u = Int(fields[11]), let s = Int(fields[12]) else { return nil }
    return u + s
}

@Suite("Shutdown and runtime lifecycle")
struct ShutdownTests {
    @Test("shutdown with a read in flight: the caller resumes with RuntimeError.shutdown and its buffer is never written")
    func shutdownCancelsInFlight() async throws {
        var configuration = Runtime.Configuration()
        configuration.shutdownDrainLimit = .seconds(20)  // generous for a slow machine; the bound below is this
        let runtime = try Runtime(configuration: configuration)
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let writer = pipe.writeEnd
        let reader = dupReader(pipe.readEnd)
        let task = runtime.spawn { () -> (String, [UInt8]) in
            let file = File(adopting: reader, runtime: runtime)
            var buffer = IOBuffer(capacity: 8)
            var what = "returned"
            do { try await file.readAtCurrentPosition(into: &buffer) } catch let e as RuntimeError { what = "\(e)" } catch { what = "other: \(error)" }
            _ = try? writer.writeAll(Array("after".utf8))
            let after = buffer.withUnsafeMutableBytes { Array($0) }
            return (what, after)
        }
        #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
        let start = ContinuousClock.now
        await runtime.shutdownAndWait()
        #expect(ContinuousClock.now - start < configuration.shutdownDrainLimit, "shutdown ends in bounded time, without reaching the drain limit")
        let (what, after) = try await task.value
        #expect(what == "\(RuntimeError.shutdown)")
        #expect(after == [UInt8](repeating: 0, count: 8))
        #expect(drainAvailable(pipe.readEnd) == 5, "the late data stayed in the pipe")
    }

    @Test("callers waiting for admission resume with RuntimeError.shutdown")
    func shutdownFailsWaiters() async throws {
        let runtime = try Runtime(configuration: Runtime.Configuration(ringCount: 1, submissionEntries: 4, inFlightLimit: 1))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let tasks = (0..<3).map { _ in runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) } }
        #expect(await eventually {
            let s = await runtime.combinedSnapshot()
            return s?.inFlight == 1 && s?.waiting == 2
        })
        runtime.shutdown()  // the blocking variant, from a non-ring thread
        for t in tasks { #expect(try await t.value == .runtime(.shutdown)) }
    }

    @Test("after shutdown, I/O fails fast with RuntimeError.shutdown; shutdown is idempotent")
    func afterShutdown() async throws {
        let runtime = try Runtime()
        try await runtime.nop()
        runtime.shutdown()
        runtime.shutdown()
        await #expect(throws: RuntimeError.shutdown) { try await runtime.nop() }
        // A task spawned after shutdown is refused: it throws without running its body.
        let ran = Flag()
        let late = runtime.spawn { ran.set() }
        await #expect(throws: RuntimeError.shutdown) { try await late.value }
        #expect(!ran.isSet)
    }

    @Test("shutdown requested from a ring thread does not wait for itself")
    func shutdownFromRing() async throws {
        let runtime = try Runtime()
        let t = runtime.spawn { runtime.shutdown() }
        try await t.value
        await runtime.shutdownAndWait()
        await #expect(throws: RuntimeError.shutdown) { try await runtime.nop() }
    }

    @Test("Runtime.run returns, and a task it left blocked resumes with the shutdown error")
    func runLeavesNoHang() async throws {
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let left = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Task<ReadOutcome, any Error>, any Error>) in
            onForeignThread {
                do {
                    let task = try Runtime.run { runtime in
                        let t = runtime.spawn { await readOneByte(dupReader(pipe.readEnd), runtime: runtime) }
                        _ = await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 }
                        return t
                    }
                    c.resume(returning: task)
                } catch { c.resume(throwing: error) }
            }
        }
        #expect(try await left.value == .runtime(.shutdown))
    }

    @Test("a bad configuration is a clear error, not a crash", arguments: [
        Runtime.Configuration(ringCount: 0),
        Runtime.Configuration(submissionEntries: 0),
        Runtime.Configuration(submissionEntries: 1 << 20),
        Runtime.Configuration(submissionEntries: 1),
        Runtime.Configuration(inFlightLimit: 0),
        { var c = Runtime.Configuration(); c.timerTick = .zero; return c }(),
        { var c = Runtime.Configuration(); c.timerTick = .seconds(5); return c }(),
    ])
    func badConfiguration(_ configuration: Runtime.Configuration) {
        #expect {
            _ = try Runtime(configuration: configuration)
        } throws: { error in
            guard let e = error as? RuntimeError, case .invalidArgument(let what) = e else { return false }
            return !what.isEmpty
        }
    }

    @Test("an idle ring blocks in the kernel: no CPU used while parked")
    func idleCostsNothing() async throws {
        let runtime = try Runtime()
        try await runtime.nop()
        let tid = runtime.rings[0].threadID.load(ordering: .acquiring)
        let before = try #require(threadCPUTicks(tid))
        try await Task.sleep(for: .milliseconds(500))
        let after = try #require(threadCPUTicks(tid))
        #expect(after - before <= 2, "the ring thread used \(after - before) ticks while idle")
        await runtime.shutdownAndWait()
    }

    // MARK: What shutdown must get past

    @Test("shutdown's cancel-all waits for SQ room instead of being dropped: a read that never completes is still cancelled", .timeLimit(.minutes(1)), .requiresIOUring)
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

    @Test("shutdown is not held up by a task that never stops running on the ring", .timeLimit(.minutes(1)))
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

    @Test("a spawned task awaiting its own runtime's graceful shutdown inside another runtime's withRuntime does not hold the grace period up")
    func lendingThroughNestedRuntime() async throws {
        let outer = try Runtime(configuration: Runtime.Configuration(ringCount: 1))
        let start = ContinuousClock.now
        let task = outer.spawn {
            try await Runtime.withRuntime(configuration: Runtime.Configuration(ringCount: 1)) { _ in
                await outer.shutdownAndWait(gracePeriod: .seconds(60))
            }
        }
        let finished = try await withinDeadline(.seconds(50), "the outer runtime's shutdown") {
            try await task.value
            return true
        }
        #expect(finished == true)
        // The bound is loose (a loaded machine, sanitizers): not lending waits out all 60 s.
        #expect(ContinuousClock.now - start < .seconds(45), "the waiting task lent its count: no 60 s grace period")
    }
}
