import Glibc
@testable import Spool
import SystemPackage
import Testing

/// The fast path (README, *The fast path*): cached reads served on the calling thread with
/// `RWF_NOWAIT`, and eager submits whose completion is collected before the caller suspends.
/// Each test checks the path was really taken (the ring's counters), so none passes vacuously.
@Suite("Inline completion: cached reads and eager submits", .timeLimit(.minutes(2)))
struct InlineCompletionTests {
    /// A file of `size` pattern bytes in `dir`, read once so its pages are cached.
    func cachedFile(_ dir: TemporaryDirectory, _ name: String = "data", size: Int = 64 * 1024) throws -> FilePath {
        let path = dir.file(name)
        try writeFile(path, (0..<size).map(pattern))
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { try? fd.close() }
        var scratch = [UInt8](repeating: 0, count: size)
        _ = try scratch.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: $0) }
        return path
    }

    func inlineCount(_ runtime: Runtime) async -> Int { await runtime.combinedSnapshot()?.statistics.inlineCompletions ?? -1 }

    @Test("cached positional reads complete on the ring thread without the ring, with the right bytes")
    func cachedReadsAreServedInline() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        try await withTestRuntime { runtime in
            let before = await inlineCount(runtime)
            let ok = try await runtime.spawn { () -> Bool in
                let file = try await File.open(path, runtime: runtime)
                #expect(file.cachedReadState != nil)
                var buffer = IOBuffer(capacity: 4096)
                var good = true
                for block in 0..<16 {
                    let n = try await file.read(into: &buffer, at: UInt64(block * 4096))
                    good = good && n == 4096 && buffer.bytes == (block * 4096..<(block + 1) * 4096).map(pattern)
                }
                // At the end of the file: 0, as a ring read says.
                let atEnd = try await file.read(into: &buffer, at: 64 * 1024)
                #expect(atEnd == 0)
                try await file.close()
                return good
            }.value
            #expect(ok)
            #expect(await inlineCount(runtime) - before >= 16, "the reads took the fast path")
        }
    }

    @Test("with inlineCompletion = false nothing completes inline and files get no fast path")
    func inlineCompletionCanBeTurnedOff() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        var configuration = Runtime.Configuration(submissionEntries: 64)
        configuration.inlineCompletion = false
        try await withTestRuntime(configuration) { runtime in
            let bytes = try await runtime.spawn { () -> [UInt8] in
                let file = try await File.open(path, runtime: runtime)
                #expect(file.cachedReadState == nil)
                for _ in 0..<8 { try await runtime.nop() }
                let bytes = try await file.read(upToCount: 4096, at: 4096)
                try await file.close()
                return bytes
            }.value
            #expect(bytes == (4096..<8192).map(pattern))
            let stats = await runtime.combinedSnapshot()?.statistics
            #expect(stats?.inlineCompletions == 0)
            #expect(stats?.eagerInFlight == 0)
        }
    }

    @Test("cached reads from a plain Task (no ring) are served on that thread too")
    func cachedReadsOffTheRing() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        try await withTestRuntime { runtime in
            let file = try await File.open(path, runtime: runtime).shared()
            let bytes = try await Task.detached { try await file.read(upToCount: 100, at: 1000) }.value
            #expect(bytes == (1000..<1100).map(pattern))
            // A file system that takes RWF_NOWAIT keeps the fast path on.
            #expect(file.cachedReadState?.isWorthTrying == true)
            try await file.close()
        }
    }

    @Test("an O_DIRECT file never tries the page cache synchronously (it would wait for the disk)")
    func directFilesHaveNoFastPath() async throws {
        // /var/tmp is on a disk file system here (tmpfs refuses O_DIRECT).
        let dir = "/var/tmp/spool-direct-\(getpid())"
        mkdir(dir, 0o700)
        defer { removeTree(dir) }
        let path = FilePath(dir + "/data")
        try writeFile(path, (0..<8192).map(pattern))
        try await withTestRuntime { runtime in
            let opened = try await runtime.spawn { () -> (Bool, Bool, [UInt8]) in
                let file = try await File.open(path, options: [.direct], runtime: runtime)
                let adopted = File(adopting: FileDescriptor(rawValue: dup(file.descriptor.rawValue)), runtime: runtime)
                var buffer = IOBuffer(capacity: 4096, alignment: 4096)
                try await file.read(into: &buffer, at: 4096)
                let result = (file.cachedReadState == nil, adopted.cachedReadState == nil, buffer.bytes)
                try await adopted.close()
                try await file.close()
                return result
            }.value
            #expect(opened.0, "File.open(options: .direct) has no fast path")
            #expect(opened.1, "an adopted O_DIRECT descriptor has none either (read from F_GETFL)")
            #expect(opened.2 == (4096..<8192).map(pattern))
        }
    }

    @Test("a file system without RWF_NOWAIT (tmpfs) costs one refused try, then reads go to the ring")
    func unsupportedFileSystemIsRemembered() async throws {
        let shm = "/dev/shm"
        try #require(access(shm, W_OK) == 0, "/dev/shm (tmpfs) is writable on these machines")
        let path = FilePath("\(shm)/spool-test-\(getpid())")
        defer { unlink(path.string) }
        try writeFile(path, (0..<8192).map(pattern))
        try await withTestRuntime { runtime in
            let file = try await File.open(path, runtime: runtime)
            #expect(file.cachedReadState?.isWorthTrying == true)
            let first = try await file.read(upToCount: 4096, at: 0)
            #expect(first == (0..<4096).map(pattern))
            #expect(file.cachedReadState?.isWorthTrying == false, "EOPNOTSUPP turned the fast path off for this handle")
            let second = try await file.read(upToCount: 4096, at: 4096)
            #expect(second == (4096..<8192).map(pattern))
            try await file.close()
        }
    }

    @Test("cold data: RWF_NOWAIT refuses at once and the ring reads it; a partly cached range reads whole")
    func coldAndPartlyCachedData() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir, size: 256 * 1024)
        try await withTestRuntime { runtime in
            let result = try await runtime.spawn { () -> (Bool, Bool, Int) in
                let file = try await File.open(path, runtime: runtime)
                let fd = file.descriptor.rawValue
                // Drop the file's pages; no read-ahead on this descriptor.
                #expect(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
                #expect(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) == 0)
                let cold = try await file.read(upToCount: 4096, at: 128 * 1024)
                // Cache one page only, then read a range of four starting there.
                var one: UInt8 = 0
                #expect(pread(fd, &one, 1, 200 * 1024) == 1)
                var buffer = IOBuffer(capacity: 16 * 1024)
                let n = try await file.read(into: &buffer, at: 200 * 1024)
                let whole = buffer.bytes == (200 * 1024..<216 * 1024).map(pattern)
                try await file.close()
                return (cold == (128 * 1024..<132 * 1024).map(pattern), whole, n)
            }.value
            #expect(result.0, "the cold read returned the file's bytes")
            #expect(result.2 == 16 * 1024, "a partly cached range is read whole, as a ring read would be")
            #expect(result.1)
        }
    }

    @Test("a positional read of a pipe still works: preadv2 refuses it (ESPIPE), the ring reads it, the handle stops trying")
    func positionalReadOfAPipe() async throws {
        try await withTestRuntime { runtime in
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.writeEnd.close() }
            _ = try pipe.writeEnd.writeAll(Array("hello".utf8))
            let file = File(adopting: pipe.readEnd, runtime: runtime)
            #expect(file.cachedReadState?.isWorthTrying == true)
            var buffer = IOBuffer(capacity: 16)
            let n = try await file.read(into: &buffer, at: 0)
            #expect(n == 5 && buffer.bytes == Array("hello".utf8))
            #expect(file.cachedReadState?.isWorthTrying == false)
            try await file.close()
        }
    }

    @Test("a file smaller than the buffer is served from the cache whole: the short count is the end of the file")
    func smallFileEndsInsideTheBuffer() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir, size: 1000)
        try await withTestRuntime { runtime in
            let result = try await runtime.spawn { () -> (Int, Bool, Int) in
                let file = try await File.open(path, runtime: runtime)
                let before = runtime.rings[0].statistics.inlineCompletions
                var buffer = IOBuffer(capacity: 4096)
                let n = try await file.read(into: &buffer, at: 0)
                let served = runtime.rings[0].statistics.inlineCompletions - before
                let good = buffer.bytes == (0..<1000).map(pattern)
                try await file.close()
                return (n, good, served)
            }.value
            #expect(result.0 == 1000)
            #expect(result.1)
            #expect(result.2 == 2, "two cache reads (the data, then 0 at the end), no ring read")
        }
    }

    @Test("an eager batch wider than the in-flight cap: parts completed inside the submit free room, the rest are admitted, nothing stalls")
    func eagerBatchWiderThanTheCap() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        try await withTestRuntime(Runtime.Configuration(submissionEntries: 8, inFlightLimit: 2)) { runtime in
            let result = try await withinDeadline(.seconds(30), "a batch of 16 under a cap of 2") {
                try await runtime.spawn { () -> (Bool, Int) in
                    let file = try await File.open(path, runtime: runtime)
                    let before = runtime.rings[0].statistics.eagerInFlight
                    var buffer = IOBuffer(capacity: 16 * 4096)
                    let parts = (0..<16).map { BatchPart(range: ($0 * 4096)..<(($0 + 1) * 4096), offset: UInt64((15 - $0) * 4096)) }
                    let counts = try await file.read(into: &buffer, batch: parts)
                    let bytes = buffer.bytes
                    var good = counts == Array(repeating: 4096, count: 16)
                    for i in 0..<16 {
                        good = good && Array(bytes[(i * 4096)..<((i + 1) * 4096)]) == ((15 - i) * 4096..<(16 - i) * 4096).map(pattern)
                    }
                    let eager = runtime.rings[0].statistics.eagerInFlight - before
                    try await file.close()
                    return (good, eager)
                }.value
            }
            let (good, eager) = try #require(result)
            #expect(good)
            #expect(eager == 1, "the batch went out eagerly and had to wait for admission of the rest")
        }
    }

    @Test("an eager batch cancelled between its reap and its suspension: the cancellation finishes it, the caller resumes once", .requiresIOUring)
    func eagerBatchCancelledBeforeItSuspends() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 8, inFlightLimit: 2))
        let hookRan = Flag()
        let outcome = try await withinDeadline(.seconds(30), "an eager batch cancelled before it suspends") {
            try await runtime.spawn { () -> String in
                let file = try await File.open(path, runtime: runtime)
                // Right after the batch's eager reap (2 parts done, 14 waiting for admission),
                // the task is cancelled: its cancellation handler then runs at once and
                // finishes the waiting parts, before the caller has a continuation.
                faults.afterEagerReap {
                    hookRan.set()
                    withUnsafeCurrentTask { $0?.cancel() }
                }
                var buffer = IOBuffer(capacity: 16 * 4096)
                let parts = (0..<16).map { BatchPart(range: ($0 * 4096)..<(($0 + 1) * 4096), offset: UInt64($0 * 4096)) }
                let result: String
                do {
                    _ = try await file.read(into: &buffer, batch: parts)
                    result = "read"
                } catch is CancellationError {
                    result = "cancelled"
                } catch {
                    result = "\(error)"
                }
                faults.afterEagerReap(nil)
                try await file.close()  // not cancellable: closes in a cancelled task too
                return result
            }.value
        }
        #expect(hookRan.isSet, "the batch took the eager path")
        #expect(outcome == "cancelled")
        await runtime.shutdownAndWait()
    }

    @Test("a single eager call still in flight, cancelled between its reap and its suspension, is cancelled in the kernel", .requiresIOUring)
    func eagerCallCancelledBeforeItSuspends() async throws {
        let (runtime, faults) = try runtimeWithFaults(Runtime.Configuration(submissionEntries: 8))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let hookRan = Flag()
        let outcome = try await withinDeadline(.seconds(30), "an eager read cancelled before it suspends") {
            try await runtime.spawn { () -> String in
                faults.afterEagerReap {
                    hookRan.set()
                    withUnsafeCurrentTask { $0?.cancel() }
                }
                let result = outcomeName(await readOneByte(dupReader(pipe.readEnd), runtime: runtime))
                faults.afterEagerReap(nil)
                return result
            }.value
        }
        #expect(hookRan.isSet, "the read took the eager path")
        #expect(outcome == "cancelled")
        _ = try pipe.writeEnd.writeAll([7])
        var byte: UInt8 = 0
        #expect(read(pipe.readEnd.rawValue, &byte, 1) == 1 && byte == 7, "the cancelled read took nothing")
        await runtime.shutdownAndWait()
    }

    @Test("a cancelled task's read throws CancellationError even when the data is cached")
    func cancelledTaskDoesNotReadInline() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        try await withTestRuntime { runtime in
            let file = try await File.open(path, runtime: runtime).shared()
            let go = Flag()
            let task = runtime.spawn { () -> String in
                while !go.isSet { await Task.yield() }
                do {
                    _ = try await file.read(upToCount: 16, at: 0)
                    return "read"
                } catch is CancellationError {
                    return "cancelled"
                } catch {
                    return "\(error)"
                }
            }
            task.cancel()
            go.set()
            #expect(try await task.value == "cancelled")
            try await file.close()
        }
    }

    @Test("bad input on the fast path: huge offsets, closed shared files, invalid descriptors")
    func badInputOnTheFastPath() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        try await withTestRuntime { runtime in
            let file = try await File.open(path, runtime: runtime).shared()
            await #expect(throws: RuntimeError.self) { _ = try await file.read(upToCount: 1, at: UInt64(Int64.max) + 1) }
            try await file.close()
            do {
                _ = try await file.read(upToCount: 1, at: 0)
                Issue.record("a read of a closed SharedFile succeeded")
            } catch let e as IOError {
                #expect(e.errno == .badFileDescriptor)
            }
            // A descriptor number nobody opened: no fast path, and the ring says EBADF.
            let bogus = File(adopting: FileDescriptor(rawValue: 100_000), runtime: runtime)
            #expect(bogus.cachedReadState == nil)
            do {
                var buffer = IOBuffer(capacity: 8)
                _ = try await bogus.read(into: &buffer, at: 0)
                Issue.record("a read of an invalid descriptor succeeded")
            } catch let e as IOError {
                #expect(e.errno == .badFileDescriptor)
            }
            _ = consume bogus  // its deinit closes nothing real (close fails with EBADF)
        }
    }

    @Test("a task whose reads always hit the cache does not starve its ring: sleep, off-ring I/O and shutdown")
    func inlineLoopDoesNotStarveTheRing() async throws {
        let dir = TemporaryDirectory()
        let path = try cachedFile(dir)
        let runtime = try Runtime()
        let stop = Flag()
        let reads = Counter()
        let reader = runtime.spawn {
            let file = try await File.open(path, runtime: runtime)
            var buffer = IOBuffer(capacity: 512)
            while !stop.isSet {
                try await file.read(into: &buffer, at: 512)
                reads.increment()
            }
            try await file.close()
        }
        let nops = runtime.spawn {
            // Eager NOPs complete inside their submit: the same question for the eager path.
            while !stop.isSet { try await runtime.nop() }
        }
        #expect(await eventually { reads.value > 10_000 })
        let slept = try await withinDeadline(.seconds(30), "a Task.sleep beside the inline loops") {
            try await runtime.spawn { () -> Bool in
                try await Task.sleep(for: .milliseconds(5))
                return true
            }.value
        }
        #expect(slept == true)
        let offRing = try await withinDeadline(.seconds(30), "a NOP from another thread") { try await runtime.nop(); return true }
        #expect(offRing == true)
        let stats = try await withinDeadline(.seconds(30), "a snapshot") { await runtime.combinedSnapshot()?.statistics }
        #expect((stats??.inlineCompletions ?? 0) > 10_000, "the loops really completed inline")
        stop.set()
        try await reader.value
        try await nops.value
        let done = try await withinDeadline(.seconds(30), "shutdown") { await runtime.shutdownAndWait(); return true }
        #expect(done == true)
    }

    @Test("an eager submit still in flight suspends its caller; cancelling it consumes nothing")
    func eagerSubmitInFlightIsCancellable() async throws {
        try await withTestRuntime { runtime in
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
            // The read takes the eager path only if no other job is ready on the ring at that
            // moment. A snapshot is such a job, so while the read starts the test polls only a
            // flag, then lets the ring settle before it asks. Under a sanitizer the test's own
            // hops can still be in flight: up to five tries, each read started from a sleep on
            // the ring's own timer.
            var wentEager = false
            for attempt in 1...5 where !wentEager {
                let before = await runtime.combinedSnapshot()?.statistics.eagerInFlight ?? 0
                let starting = Flag()
                let reader = runtime.spawn { () -> ReadOutcome in
                    try? await SpoolClock(runtime: runtime).sleep(for: .milliseconds(20 * attempt))
                    starting.set()  // the read below is started in this same job
                    return await readOneByte(dupReader(pipe.readEnd), runtime: runtime)
                }
                #expect(await eventually { starting.isSet })
                try await Task.sleep(for: .milliseconds(20))
                #expect(await eventually { (await runtime.combinedSnapshot()?.inFlight ?? 0) == 1 })
                let after = await runtime.combinedSnapshot()?.statistics.eagerInFlight ?? 0
                wentEager = after > before
                reader.cancel()
                #expect(outcomeName(try await reader.value) == "cancelled")
                // The cancelled read took nothing: a byte written now is still there.
                _ = try pipe.writeEnd.writeAll([42])
                var byte: UInt8 = 0
                #expect(read(pipe.readEnd.rawValue, &byte, 1) == 1 && byte == 42)
            }
            #expect(wentEager, "a read was submitted eagerly and stayed in flight")
        }
    }
}
