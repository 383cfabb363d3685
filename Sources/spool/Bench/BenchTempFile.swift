import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The bench's data file: created in `$TMPDIR` (or `/var/tmp`, a disk, so `O_DIRECT` reaches a
/// device), filled block by block with a pattern a reader can check from the offset alone, and
/// removed when the bench ends — also when it is interrupted: a SIGINT or SIGTERM handler
/// unlinks it (async-signal-safe: the path sits in a fixed buffer that is never freed) and
/// then lets the signal end the process.
///
/// **Thread-safety:** create and remove from the driving thread; the handler only reads the
/// buffer.
enum BenchTempFile {
    /// The path as C bytes for the signal handler; an empty string: no file to remove.
    nonisolated(unsafe) static let pathBuffer: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: 4096)
        p.initialize(repeating: 0, count: 4096)
        return p
    }()

    /// The 8-byte stamp at the start of block `block` (and the seed of the rest of it).
    static func stamp(_ block: UInt64) -> UInt64 { block &* 0x9E37_79B9_7F4A_7C15 | 1 }

    /// Creates a file of `size` bytes and returns its path.
    static func create(size: Int) throws -> String {
        let configured = getenv("TMPDIR").map { String(cString: $0) } ?? ""
        let directory = configured.isEmpty ? "/var/tmp" : configured
        let template = "\(directory)/spool-bench-XXXXXX"
        guard template.utf8.count < 4000 else { throw Errno.fileNameTooLong }
        _ = pathBuffer  // set up before the handlers can read it
        installCleanupHandlers()
        // mkstemp writes the final name into the buffer the handler reads.
        _ = template.withCString { strcpy(pathBuffer, $0) }
        let fd = mkstemp(pathBuffer)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            pathBuffer[0] = 0
            throw e
        }
        let path = String(cString: pathBuffer)
        var block = [UInt64](repeating: 0, count: 512)  // 4 KiB
        var written = 0
        while written < size {
            var state = stamp(UInt64(written / 4096))
            block[0] = state
            for i in 1..<block.count {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                block[i] = state
            }
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, size - written)) }
            guard n > 0 else {
                let e = Errno(rawValue: errno)
                close(fd)
                remove()
                throw e
            }
            written += n
        }
        fsync(fd)
        close(fd)
        return path
    }

    /// Removes the file (idempotent).
    static func remove() {
        if pathBuffer[0] != 0 {
            unlink(pathBuffer)
            pathBuffer[0] = 0
        }
    }

    private static func installCleanupHandlers() {
        for signal in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                let p = BenchTempFile.pathBuffer
                if p[0] != 0 { unlink(p) }
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }

    /// Whether `path` is on a memory file system (tmpfs or ramfs, from `/proc/self/mounts`:
    /// the mount with the longest matching prefix), where `O_DIRECT` opens but reaches no device.
    static func isOnMemoryFileSystem(_ path: String) -> Bool {
        guard let f = fopen("/proc/self/mounts", "r") else { return false }
        defer { fclose(f) }
        var best = (length: -1, type: "")
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, f) > 0 {
            let fields = String(cString: line!).split(separator: " ")
            guard fields.count >= 3 else { continue }
            let mount = String(fields[1])
            let matches = path == mount || path.hasPrefix(mount == "/" ? "/" : mount + "/")
            if matches && mount.count > best.length { best = (mount.count, String(fields[2])) }
        }
        return best.type == "tmpfs" || best.type == "ramfs"
    }
}
