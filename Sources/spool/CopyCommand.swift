import ArgumentParser
import Spool
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `spool cp SRC DST`: copies a file or a directory tree with many reads and writes in flight.
struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "Copy a file (or a directory tree) through a Spool runtime (io_uring where usable), many chunks in flight.",
        discussion: "Shows a progress bar on a terminal and prints the throughput at the end."
    )

    @Argument(help: "The file or directory to copy.")
    var source: String

    @Argument(help: "Where to copy it (a directory tree is created there).")
    var destination: String

    @Option(help: "Chunk size in KiB.")
    var chunk: Int = 256

    @Option(help: "Chunks in flight at once.")
    var depth: Int = 16

    @Flag(help: "Never show the progress bar.")
    var quiet = false

    func validate() throws {
        guard chunk >= 4, chunk <= 64 * 1024 else { throw ValidationError("--chunk must be in 4...65536 KiB") }
        guard depth >= 1, depth <= 1024 else { throw ValidationError("--depth must be in 1...1024") }
    }

    func run() throws {
        let plan = CopyPlan(chunkSize: chunk * 1024, depth: depth, showProgress: !quiet && isatty(2) != 0)
        let source = FilePath(self.source), destination = FilePath(self.destination)
        let start = ContinuousClock.now
        let copied: (bytes: UInt64, files: Int)
        do {
            copied = try Runtime.run { runtime in try await plan.copy(source, to: destination, runtime: runtime) }
        } catch {
            if plan.showProgress { printError("") }
            printError("spool cp: \(error)")
            throw ExitCode(1)
        }
        let seconds = max(Formatting.seconds(ContinuousClock.now - start), 1e-9)
        let rate = Double(copied.bytes) / seconds
        print("copied \(Formatting.bytes(Double(copied.bytes))) in \(copied.files) file\(copied.files == 1 ? "" : "s"), \(Formatting.fixed(seconds, 2)) s, \(Formatting.bytes(rate))/s")
    }
}

/// How `spool cp` copies: fixed-size chunks, `depth` of them in flight, each chunk read fully
/// and written fully at the same offset.
struct CopyPlan: Sendable {
    var chunkSize: Int
    var depth: Int
    var showProgress: Bool

    /// Copies a file or a directory tree; returns the bytes and files copied.
    func copy(_ source: FilePath, to destination: FilePath, runtime: Runtime) async throws -> (bytes: UInt64, files: Int) {
        let status = try await File.status(of: source)
        if status.isDirectory {
            return try await copyTree(source, to: destination, runtime: runtime)
        }
        var target = destination
        if let d = try? await File.status(of: destination), d.isDirectory, let name = source.lastComponent {
            target = destination.appending(name)
        }
        let bytes = try await copyFile(source, size: status.size, permissions: status.permissions, to: target)
        return (bytes, 1)
    }

    private func copyTree(_ source: FilePath, to destination: FilePath, runtime: Runtime) async throws -> (bytes: UInt64, files: Int) {
        let status = try await File.status(of: source)
        do {
            try await File.createDirectory(at: destination, permissions: status.permissions)
        } catch let e as IOError where e.errno == .fileExists {}
        var total: (bytes: UInt64, files: Int) = (0, 0)
        for name in try directoryEntries(source) {
            let from = source.appending(name), to = destination.appending(name)
            let s = try await File.status(of: from)
            if s.isDirectory {
                let sub = try await copyTree(from, to: to, runtime: runtime)
                total.bytes += sub.bytes
                total.files += sub.files
            } else if s.isRegularFile {
                total.bytes += try await copyFile(from, size: s.size, permissions: s.permissions, to: to)
                total.files += 1
            }
        }
        return total
    }

    /// Copies one regular file with up to `depth` chunks in flight.
    func copyFile(_ source: FilePath, size: UInt64, permissions: FilePermissions, to destination: FilePath) async throws -> UInt64 {
        let input = try await File.open(source).shared()
        let output = try await File.open(destination, .writeOnly, options: [.create, .truncate], permissions: permissions).shared()
        let chunks = Int((size + UInt64(chunkSize) - 1) / UInt64(chunkSize))
        let counters = CopyCounters()
        let chunkSize = self.chunkSize
        let progress = showProgress ? Progress(total: size, label: source.lastComponent?.string ?? source.string) : nil
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(depth, max(chunks, 1)) {
                group.addTask {
                    var buffer = IOBuffer(capacity: chunkSize, alignment: 4096)
                    while true {
                        let index = counters.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if index >= chunks { return }
                        let offset = UInt64(index) * UInt64(chunkSize)
                        let n = try await input.readFully(into: &buffer, at: offset)
                        if n == 0 { return }
                        try await output.writeAll(buffer, at: offset)
                        let total = counters.done.add(UInt64(n), ordering: .relaxed).newValue
                        progress?.update(total)
                    }
                }
            }
            try await group.waitForAll()
        }
        progress?.finish()
        try await input.close()
        try await output.close()
        return counters.done.load(ordering: .relaxed)
    }

    private func directoryEntries(_ path: FilePath) throws -> [String] {
        guard let dir = opendir(path.string) else {
            throw IOError(.open, errno: Errno(rawValue: errno), path: path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(cString: UnsafeRawPointer(entry).advanced(by: direntNameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

/// A one-line progress bar on standard error, redrawn at most every 100 ms.
final class Progress: Sendable {
    let total: UInt64
    let label: String
    let start = ContinuousClock.now
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    init(total: UInt64, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ done: UInt64) {
        let now = ContinuousClock.now
        let draw = lastDraw.withLock { last -> Bool in
            if let l = last, now - l < .milliseconds(100) { return false }
            last = now
            return true
        }
        if draw { render(done, now: now) }
    }

    func finish() { render(total, now: ContinuousClock.now); writeStandardError("\n") }

    private func render(_ done: UInt64, now: ContinuousClock.Instant) {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = Double(done) / max(Formatting.seconds(now - start), 1e-9)
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        writeStandardError("\r\(label) [\(bar)] \(Formatting.fixed(fraction * 100, 0))% \(Formatting.bytes(rate))/s ")
    }
}

/// The chunk cursor and byte count the copy workers share.
final class CopyCounters: Sendable {
    let next = Atomic<Int>(0)
    let done = Atomic<UInt64>(0)
}

/// Where `d_name` starts in a `dirent`: the name is read in place, because `readdir` returns
/// records only as long as their name (copying the whole `d_name` tuple, as
/// `withUnsafeBytes(of: entry.pointee.d_name)` does, reads past the end of the record).
let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
