import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The bench's data file: created in `/var/tmp` (a disk, so `O_DIRECT` reaches a device;
/// `TMPDIR` if set), filled with pseudo-random bytes, and removed when the bench ends — also
/// when it is interrupted: a SIGINT or SIGTERM handler unlinks it (async-signal-safe) and then
/// lets the signal end the process.
///
/// **Thread-safety:** create and remove from the driving task; the handler only reads the
/// path, which is set before the handler is installed.
enum BenchTempFile {
    /// The path as C bytes, for the signal handler (nil: no file to remove).
    nonisolated(unsafe) static var pathForHandler: UnsafeMutablePointer<CChar>? = nil

    /// Creates a file of `size` bytes and returns its path.
    static func create(size: Int) throws -> String {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/var/tmp"
        var template = Array("\(directory)/spool-bench-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        let path = String(cString: template)
        pathForHandler = strdup(path)
        installCleanupHandlers()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var written = 0
        while written < size {
            chunk.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for i in words.indices {
                    state ^= state << 13; state ^= state >> 7; state ^= state << 17
                    words[i] = state
                }
            }
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, size - written)) }
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
        if let p = pathForHandler {
            unlink(p)
            pathForHandler = nil
            free(p)
        }
    }

    private static func installCleanupHandlers() {
        for signal in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if let p = BenchTempFile.pathForHandler { unlink(p) }
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }
}
