import CSpoolURing
import Glibc
import SpoolRing
import SystemPackage
import Testing
import CSpoolURing

@Suite("File operations through the raw ring")
struct FileOperationTests {
    /// Prepares one entry, submits it, and returns its completion.
    func run(
        _ ring: Ring, sourceLocation: SourceLocation = #_sourceLocation, _ prepare: (SubmissionQueueEntry) -> Void
    ) throws -> Completion {
        let sqe = try #require(ring.nextSubmission(), sourceLocation: sourceLocation)
        prepare(sqe)
        sqe.userData = 42
        let got = try collect(ring, count: 1)
        try #require(got.count == 1, sourceLocation: sourceLocation)
        #expect(got[0].userData == 42, sourceLocation: sourceLocation)
        return got[0]
    }

    @Test("open, write, fsync, fallocate, read, readv/writev, statx, rename, unlink, mkdir, close")
    func fileLifecycle() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let dir = TemporaryDirectory()
        let cwd = FileDescriptor(rawValue: AT_FDCWD)
        let path = dir.file("data.bin")

        // OPENAT
        let opened = try path.withCString { p in
            try run(ring) { $0.prepareOpenAt(cwd, path: p, flags: O_CREAT | O_RDWR | O_CLOEXEC, mode: 0o644) }
        }
        #expect(opened.result >= 0, "open: \(opened)")
        let fd = FileDescriptor(rawValue: opened.result)

        // WRITE at an offset, then READ it back
        let payload = Array("io_uring says hello".utf8)
        let wrote = try payload.withUnsafeBytes { b in try run(ring) { $0.prepareWrite(fd, from: b, offset: 100) } }
        #expect(wrote.result == Int32(payload.count))
        var back = [UInt8](repeating: 0, count: payload.count)
        let read = try back.withUnsafeMutableBytes { b in try run(ring) { $0.prepareRead(fd, into: b, offset: 100) } }
        #expect(read.result == Int32(payload.count))
        #expect(back == payload)

        // FSYNC and FDATASYNC
        #expect(try run(ring) { $0.prepareFsync(fd) }.result == 0)
        #expect(try run(ring) { $0.prepareFsync(fd, dataOnly: true) }.result == 0)

        // FALLOCATE grows the file
        #expect(try run(ring) { $0.prepareFallocate(fd, offset: 0, length: 8192) }.result == 0)

        // STATX sees the size
        var stx = spool_statx()
        let statted = try "data.bin".withCString { p in
            try withUnsafeMutableBytes(of: &stx) { raw in
                let dirFD = try FileDescriptor.open(dir.path, .readOnly, options: [.directory, .closeOnExec])
                defer { try? dirFD.close() }
                return try run(ring) { $0.prepareStatx(dirFD, path: p, flags: 0, mask: STATX_SIZE, into: raw.baseAddress!) }
            }
        }
        #expect(statted.result == 0)
        #expect(stx.stx_size == 8192)

        // WRITEV / READV
        var a = Array("abc".utf8), b = Array("defg".utf8)
        let wv = try a.withUnsafeMutableBytes { ab in
            try b.withUnsafeMutableBytes { bb in
                let iov = [iovec(iov_base: ab.baseAddress, iov_len: 3), iovec(iov_base: bb.baseAddress, iov_len: 4)]
                return try iov.withUnsafeBufferPointer { v in try run(ring) { $0.prepareWriteVector(fd, iovecs: v.baseAddress!, count: 2, offset: 0) } }
            }
        }
        #expect(wv.result == 7)
        var x = [UInt8](repeating: 0, count: 2), y = [UInt8](repeating: 0, count: 5)
        let rv = try x.withUnsafeMutableBytes { xb in
            try y.withUnsafeMutableBytes { yb in
                let iov = [iovec(iov_base: xb.baseAddress, iov_len: 2), iovec(iov_base: yb.baseAddress, iov_len: 5)]
                return try iov.withUnsafeBufferPointer { v in try run(ring) { $0.prepareReadVector(fd, iovecs: v.baseAddress!, count: 2, offset: 0) } }
            }
        }
        #expect(rv.result == 7)
        #expect(String(decoding: x + y, as: UTF8.self) == "abcdefg")

        // CLOSE
        #expect(try run(ring) { $0.prepareClose(fd) }.result == 0)

        // RENAMEAT, MKDIRAT, UNLINKAT
        let renamed = try path.withCString { old in
            try dir.file("renamed.bin").withCString { new in try run(ring) { $0.prepareRenameAt(cwd, oldPath: old, cwd, newPath: new) } }
        }
        #expect(renamed.result == 0)
        #expect(access(path, F_OK) != 0 && access(dir.file("renamed.bin"), F_OK) == 0)
        let made = try dir.file("sub").withCString { p in try run(ring) { $0.prepareMkdirAt(cwd, path: p, mode: 0o755) } }
        #expect(made.result == 0)
        let removedDir = try dir.file("sub").withCString { p in try run(ring) { $0.prepareUnlinkAt(cwd, path: p, flags: AT_REMOVEDIR) } }
        #expect(removedDir.result == 0)
        let removed = try dir.file("renamed.bin").withCString { p in try run(ring) { $0.prepareUnlinkAt(cwd, path: p) } }
        #expect(removed.result == 0)
        #expect(access(dir.file("renamed.bin"), F_OK) != 0)
    }

    @Test("a registered file is used with FIXED_FILE after its descriptor is closed")
    func registeredFile() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let dir = TemporaryDirectory()
        let fd = try FileDescriptor.open(dir.file("fixed"), .readWrite, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
        try ring.registerSparseFileTable(count: 4)
        #expect(try ring.updateRegisteredFiles(at: 2, with: [fd]) == 1)
        try fd.close()  // the table keeps its own reference

        let payload = Array("fixed file".utf8)
        let wrote = try payload.withUnsafeBytes { b in
            try run(ring) { sqe in
                sqe.prepareWrite(FileDescriptor(rawValue: 0), from: b, offset: 0)
                sqe.useFixedFile(2)
                #expect(sqe.flags.contains(.fixedFile))
            }
        }
        #expect(wrote.result == Int32(payload.count))
        // An empty slot is an error, not a crash.
        var scratch = [UInt8](repeating: 0, count: 4)
        let empty = try scratch.withUnsafeMutableBytes { b in
            try run(ring) { sqe in sqe.prepareRead(FileDescriptor(rawValue: 0), into: b, offset: 0); sqe.useFixedFile(1) }
        }
        #expect(empty.error == .badFileDescriptor)
        try ring.unregisterFiles()
        let check = try FileDescriptor.open(dir.file("fixed"), .readOnly)
        defer { try? check.close() }
        var back = [UInt8](repeating: 0, count: payload.count)
        _ = try back.withUnsafeMutableBytes { try check.read(into: $0) }
        #expect(back == payload)
    }

    @Test("registered buffers: WRITE_FIXED then READ_FIXED")
    func registeredBuffers() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let dir = TemporaryDirectory()
        let fd = try FileDescriptor.open(dir.file("fixedbuf"), .readWrite, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
        defer { try? fd.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { buffer.deallocate() }
        for i in 0..<4096 { buffer[i] = UInt8(truncatingIfNeeded: i * 7) }
        try ring.registerBuffers([buffer])
        let wrote = try run(ring) { $0.prepareWriteFixed(fd, from: UnsafeRawBufferPointer(buffer), offset: 0, bufferIndex: 0) }
        #expect(wrote.result == 4096)
        let expected = Array(buffer)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        let half = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<2048])
        let read = try run(ring) { $0.prepareReadFixed(fd, into: half, offset: 0, bufferIndex: 0) }
        #expect(read.result == 2048)
        #expect(Array(buffer[0..<2048]) == Array(expected[0..<2048]))
        try ring.unregisterBuffers()
    }

    @Test("splice moves bytes from a file into a pipe")
    func splice() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let dir = TemporaryDirectory()
        let fd = try FileDescriptor.open(dir.file("src"), .readWrite, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
        defer { try? fd.close() }
        _ = try fd.writeAll(Array("splice me".utf8))
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
        let moved = try run(ring) { $0.prepareSplice(from: fd, offset: 0, to: pipe.writeEnd, offset: -1, length: 9) }
        #expect(moved.result == 9)
        var out = [UInt8](repeating: 0, count: 9)
        _ = try out.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) }
        #expect(String(decoding: out, as: UTF8.self) == "splice me")
    }

    @Test("bad input: an op on a closed descriptor, a bad offset, a bad path give errors in the completion")
    func badInput() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        var buf = [UInt8](repeating: 0, count: 16)
        // A number no descriptor has: a just-closed one could be reused by a test running in parallel.
        let closedFD = FileDescriptor(rawValue: 0x3fff_fff0)
        let pipe = try FileDescriptor.pipe()
        defer { try? pipe.writeEnd.close(); try? pipe.readEnd.close() }
        let onClosed = try buf.withUnsafeMutableBytes { b in try run(ring) { $0.prepareRead(closedFD, into: b, offset: 0) } }
        #expect(onClosed.error == .badFileDescriptor)
        let negative = try buf.withUnsafeMutableBytes { b in try run(ring) { $0.prepareRead(FileDescriptor(rawValue: -5), into: b, offset: 0) } }
        #expect(negative.error == .badFileDescriptor)
        // A negative offset (other than -1, the current position) on a regular file: EINVAL.
        let dir = TemporaryDirectory()
        let file = try FileDescriptor.open(dir.file("f"), .readWrite, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
        defer { try? file.close() }
        let badOffset = try buf.withUnsafeMutableBytes { b in
            try run(ring) { $0.prepareRead(file, into: b, offset: UInt64(bitPattern: -5)) }
        }
        #expect(badOffset.error == .invalidArgument)
        // Reading a pipe's write end: EBADF (wrong direction), not a hang.
        let wrongEnd = try buf.withUnsafeMutableBytes { b in try run(ring) { $0.prepareRead(pipe.writeEnd, into: b, offset: 0) } }
        #expect(wrongEnd.error == .badFileDescriptor)
        let missing = try "/nonexistent/spool/file".withCString { p in
            try run(ring) { $0.prepareOpenAt(FileDescriptor(rawValue: AT_FDCWD), path: p, flags: O_RDONLY) }
        }
        #expect(missing.error == .noSuchFileOrDirectory)
        #expect(ring.state == .healthy)
    }
}
