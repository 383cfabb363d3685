import Glibc
@testable import Spool
import SpoolRing
import SystemPackage
import Testing

@Suite("File I/O through the runtime")
struct FileTests {
    @Test("open/create, write and read at offsets, read fully, sizes, sync, allocate, status, close")
    func roundTrip() async throws {
        let dir = TemporaryDirectory()
        try await withTestRuntime { _ in
            let file = try await File.open(dir.file("a.bin"), .readWrite, options: [.create, .truncate])
            let data = (0..<100_000).map(pattern)
            try await file.writeAll(data, at: 0)
            try await file.sync()
            try await file.dataSync()
            var buffer = IOBuffer(capacity: 1000)
            let n = try await file.read(into: &buffer, at: 5000)
            #expect(n == 1000)
            #expect(buffer.bytes == Array(data[5000..<6000]))
            let tail = try await file.read(upToCount: 500, at: 99_800)
            #expect(tail == Array(data[99_800...]), "a short read at end of file")
            #expect(try await file.read(upToCount: 10, at: 200_000).isEmpty)
            #expect(try await file.readAll() == data)
            try await file.allocate(at: 0, length: 1 << 20)
            let status = try await file.status()
            #expect(status.size == 1 << 20)
            #expect(status.isRegularFile)
            #expect(status.permissions == [.ownerReadWrite, .groupRead, .otherRead])
            #expect(try await File.status(of: dir.file("a.bin")).inode == status.inode)
            try await file.close()
        }
    }

    @Test("reading and writing at the current position are separate, named calls")
    func currentPosition() async throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("seq"), Array("0123456789".utf8))
        try await withTestRuntime { _ in
            let file = try await File.open(dir.file("seq"), .readWrite)
            var buffer = IOBuffer(capacity: 4)
            try await file.readAtCurrentPosition(into: &buffer)
            #expect(buffer.bytes == Array("0123".utf8))
            try await file.readAtCurrentPosition(into: &buffer)
            #expect(buffer.bytes == Array("4567".utf8))
            try await file.read(into: &buffer, at: 0)  // positioned: does not move the position
            try await file.readAtCurrentPosition(into: &buffer)
            #expect(buffer.bytes == Array("89".utf8))
            let out = IOBuffer(Array("AB".utf8))
            try await file.writeAllAtCurrentPosition(out)
            #expect(try await file.readAll() == Array("0123456789AB".utf8))
            try await file.close()
        }
    }

    @Test("vectored read and write over segments of one buffer")
    func vectored() async throws {
        let dir = TemporaryDirectory()
        try await withTestRuntime { _ in
            let file = try await File.open(dir.file("v"), .readWrite, options: [.create])
            let source = IOBuffer(Array("hello, vectored world".utf8))
            let written = try await file.write(source, segments: [0..<7, 7..<16, 16..<21], at: 0)
            #expect(written == 21)
            var target = IOBuffer(capacity: 32)
            let read = try await file.read(into: &target, segments: [10..<15, 0..<10, 20..<32], at: 0)
            #expect(read == 21)
            let b = target.bytes
            #expect(String(decoding: b[10..<15], as: UTF8.self) == "hello")
            #expect(String(decoding: b[0..<10], as: UTF8.self) == ", vectored")
            #expect(String(decoding: b[20..<26], as: UTF8.self) == " world")
            do {
                try await file.read(into: &target, segments: [0..<64], at: 0)
                Issue.record("a segment outside the buffer should be rejected")
            } catch let e as RuntimeError {
                #expect("\(e)".contains("outside the buffer"))
            }
            try await file.close()
        }
    }

    @Test("a batch of reads resumes once with every part's data")
    func batchReads() async throws {
        let dir = TemporaryDirectory()
        let data = (0..<(64 * 4096)).map(pattern)
        try writeFile(dir.file("batch"), data)
        try await withTestRuntime(Runtime.Configuration(submissionEntries: 8, inFlightLimit: 4)) { _ in
            let file = try await File.open(dir.file("batch"))
            var buffer = IOBuffer(capacity: 32 * 4096)
            let offsets = (0..<32).map { UInt64((($0 * 37) % 64) * 4096) }
            let parts = offsets.enumerated().map { File.BatchPart(range: ($0.offset * 4096)..<(($0.offset + 1) * 4096), offset: $0.element) }
            let counts = try await file.read(into: &buffer, batch: parts)
            #expect(counts == Array(repeating: 4096, count: 32))
            let bytes = buffer.bytes
            for (i, off) in offsets.enumerated() {
                #expect(Array(bytes[(i * 4096)..<((i + 1) * 4096)]) == Array(data[Int(off)..<(Int(off) + 4096)]))
            }
            // Writes too.
            let out = try await File.open(dir.file("batch-out"), .readWrite, options: [.create])
            let wrote = try await out.write(buffer, batch: parts)
            #expect(wrote.reduce(0, +) == 32 * 4096)
            try await out.close()
            try await file.close()
        }
    }

    @Test("O_DIRECT with an aligned buffer")
    func directIO() async throws {
        let dir = TemporaryDirectory()
        let data = (0..<(16 * 4096)).map(pattern)
        try writeFile(dir.file("direct"), data)
        try await withTestRuntime { _ in
            let file: File
            do {
                file = try await File.open(dir.file("direct"), .readOnly, options: [.direct])
            } catch let e as IOError where e.errno == .invalidArgument {
                // tmpfs and some file systems refuse O_DIRECT: nothing more to check here.
                return
            }
            var buffer = IOBuffer(capacity: 8192, alignment: 4096)
            #expect(try await file.read(into: &buffer, at: 4096) == 8192)
            #expect(buffer.bytes == Array(data[4096..<12288]))
            // A misaligned offset is the kernel's EINVAL, with context.
            do {
                try await file.read(into: &buffer, at: 100)
                Issue.record("a misaligned O_DIRECT read should fail")
            } catch let e as IOError {
                #expect(e.errno == .invalidArgument && e.offset == 100 && e.operation == .read)
            }
            try await file.close()
        }
    }

    @Test("unlink, rename, mkdir and rmdir through the ring")
    func pathOperations() async throws {
        let dir = TemporaryDirectory()
        try await withTestRuntime { _ in
            try await File.createDirectory(at: dir.file("sub"))
            #expect(try await File.status(of: dir.file("sub")).isDirectory)
            let f = try await File.open(dir.file("sub/x"), .writeOnly, options: [.create])
            try await f.close()
            try await File.rename(dir.file("sub/x"), to: dir.file("sub/y"))
            #expect(access(dir.path + "/sub/y", F_OK) == 0)
            try await File.remove(at: dir.file("sub/y"))
            try await File.removeDirectory(at: dir.file("sub"))
            #expect(access(dir.path + "/sub", F_OK) != 0)
        }
    }

    @Test("errors name the operation, the path or descriptor, and the errno")
    func errorContext() async throws {
        let dir = TemporaryDirectory()
        try await withTestRuntime { _ in
            // ENOENT
            await #expect {
                _ = try await File.open(dir.file("missing"))
            } throws: { e in
                guard let e = e as? IOError else { return false }
                return e.errno == .noSuchFileOrDirectory && e.operation == .open && e.path == dir.file("missing")
                    && "\(e)".contains("missing") && "\(e)".contains("open")
            }
            // EISDIR
            await #expect {
                _ = try await File.open(FilePath(dir.path), .writeOnly)
            } throws: { ($0 as? IOError).map { $0.errno == .isDirectory && $0.operation == .open } ?? false }
            // EBADF: reading a write-only file names the descriptor and the offset.
            let w = try await File.open(dir.file("w"), .writeOnly, options: [.create])
            var buffer = IOBuffer(capacity: 8)
            do {
                try await w.read(into: &buffer, at: 3)
                Issue.record("reading a write-only file should fail")
            } catch let e as IOError {
                #expect(e.errno == .badFileDescriptor && e.operation == .read && e.descriptor == w.descriptor && e.offset == 3)
                #expect("\(e)".contains("fd \(w.descriptor.rawValue)"))
            }
            try await w.close()
            // EACCES (root ignores mode bits, so use a read-only sysfs attribute there).
            let denied: FilePath
            if getuid() == 0 {
                denied = "/sys/kernel/notes"
            } else {
                try writeFile(dir.file("locked"), [1])
                chmod(dir.path + "/locked", 0)
                denied = dir.file("locked")
            }
            await #expect {
                _ = try await File.open(denied, .writeOnly)
            } throws: { ($0 as? IOError).map { $0.errno == .permissionDenied && $0.path == denied } ?? false }
        }
    }

    @Test("offsets beyond Int64.max, empty segment lists and oversize copies are typed errors")
    func badArguments() async throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("f"), Array("data".utf8))
        try await withTestRuntime { _ in
            let file = try await File.open(dir.file("f"), .readWrite)
            var buffer = IOBuffer(capacity: 8)
            for offset in [UInt64.max, UInt64(Int64.max) + 1] {
                do {
                    try await file.read(into: &buffer, at: offset)
                    Issue.record("offset \(offset) should be rejected")
                } catch let e as RuntimeError {
                    #expect("\(e)".contains("offset"))
                }
            }
            do {
                try await file.read(into: &buffer, segments: [], at: 0)
                Issue.record("an empty segment list should be rejected")
            } catch is RuntimeError {}
            #expect(throws: RuntimeError.self) { try buffer.set([UInt8](repeating: 1, count: 9)) }
            try buffer.set([1, 2, 3])
            #expect(buffer.count == 3)
            // A read past the end of the file is not an error: 0 bytes.
            #expect(try await file.read(into: &buffer, at: UInt64(Int64.max) - 10) == 0)
            try await file.close()
        }
    }

    @Test("a file dropped without close on a non-ring thread closes its descriptor")
    func dropClosesOnAnyThread() async throws {
        let dir = TemporaryDirectory()
        let runtime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 16))
        defer { runtime.shutdown() }
        let file = try await File.open(dir.file("dropped"), .writeOnly, options: [.create], runtime: runtime)
        let fd = file.descriptor.rawValue
        #expect(descriptorTarget(fd)?.hasSuffix("dropped") == true)
        let box = FileBox(consume file)
        onForeignThread {
            #expect(RingExecutor.current == nil)
            box.file = nil  // deinit runs here, on a plain POSIX thread
        }
        #expect(descriptorTarget(fd)?.hasSuffix("dropped") != true, "the descriptor was closed")
    }

    @Test("I/O from a task that is not on a ring works (hops onto a ring and back)")
    func offRingCaller() async throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("off"), Array("off ring".utf8))
        let runtime = try Runtime()
        #expect(RingExecutor.current == nil)
        let file = try await File.open(dir.file("off"), runtime: runtime)
        #expect(try await file.read(upToCount: 8, at: 0) == Array("off ring".utf8))
        try await file.close()
        await runtime.shutdownAndWait()
        // Without a runtime there is a clear error, not a crash (other tests' runtimes may be
        // live in this process, so the lookup is checked with an empty list).
        #expect(Runtime.resolve(ring: nil, task: nil, live: []) == nil)
        #expect(Runtime.resolve(ring: nil, task: nil, live: [runtime]) == nil, "a shut-down runtime is not picked")
        #expect(Runtime.resolve(ring: nil, task: runtime, live: []) === runtime, "the task's own runtime is, to report its state")
        #expect(throws: RuntimeError.self) { try Runtime.require(nil) }
    }

    // MARK: close() releases the descriptor in every outcome

    @Test("close() from a cancelled task still closes the descriptor", .timeLimit(.minutes(1)))
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

    @Test("close() after the runtime shut down closes the descriptor synchronously (File and SharedFile)", .timeLimit(.minutes(1)))
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

    @Test("a close waiting for admission when the runtime shuts down still closes the descriptor", .timeLimit(.minutes(1)))
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

    @Test("SharedFile.close waits for calls already using the descriptor, and refuses new ones at once", .timeLimit(.minutes(1)))
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

    // MARK: Open flags

    @Test("File.Options map to the platform's own open(2) flags: O_DIRECT is what the kernel reports back", .timeLimit(.minutes(1)))
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
}

final class FileBox: @unchecked Sendable {
    var file: File?
    init(_ file: consuming File) { self.file = .some(file) }
}
