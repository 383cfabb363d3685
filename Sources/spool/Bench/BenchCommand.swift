import ArgumentParser
import Spool
import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `spool bench`: how Spool compares with what a Swift program does without it, on this
/// machine, in about a minute, with no setup.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Spool against what a Swift program uses without it, on this machine (about a minute).",
        discussion: """
            Workloads: \(BenchCommand.workloadNames.joined(separator: ", ")).
            Each runs Spool and its baseline back to back and checks what they produce (each block
            read carries its own stamp, every echoed byte, every sleep's length); the table gives
            both figures and Spool's advantage (> 1: Spool is better). Build in release mode for real
            figures: swift run -c release spool bench
            """
    )

    static let workloadNames = ["file-warm-qd1", "file-warm-qd32", "file-direct-qd1", "file-direct-qd32", "echo", "timers", "nop"]

    @Flag(help: "A short run (about 10 seconds).")
    var quick = false

    @Option(help: "Total seconds to measure (default 60; 10 with --quick).")
    var duration: Double?

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Run only these workloads (comma-separated).")
    var only: String?

    func validate() throws {
        if let duration, !(duration > 0 && duration <= 3600) {
            throw ValidationError("--duration must be between 0 and 3600 seconds (got \(duration))")
        }
        for name in selected where !Self.workloadNames.contains(name) {
            throw ValidationError("unknown workload '\(name)'; known: \(Self.workloadNames.joined(separator: ", "))")
        }
        if selected.isEmpty { throw ValidationError("--only names no workload") }
    }

    private var selected: [String] {
        guard let only else { return Self.workloadNames }
        return only.split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
    }

    func run() throws {
        let names = Self.workloadNames.filter(selected.contains)
        let total = duration ?? (quick ? 10 : 60)
        // Each workload measures two sides (a batch counts as a third for QD 32 files).
        let sides = names.reduce(0) { $0 + ($1.hasSuffix("qd32") ? 3 : 2) }
        let slice = Duration.seconds(max(0.05, total / Double(sides)))
        var progress = BenchProgress()
        var results: [BenchResult] = []
        let support = SystemSupport.current()
        let runtime = try Runtime()
        // The ring flags of an io_uring runtime; none on the portable backend.
        var details: SystemSupport.IOUringDetails? = nil
        if runtime.backend.backend == .ioUring, case .available(let d) = support.ioUring { details = d }
        defer { runtime.shutdown() }
        let workloads = BenchWorkloads(slice: slice, runtime: runtime)

        let fileNames = names.filter { $0.hasPrefix("file-") }
        var path: String? = nil
        var noFile: String? = nil
        let fileSize = quick || total < 30 ? 64 << 20 : 256 << 20
        defer { BenchTempFile.remove() }
        if !fileNames.isEmpty {
            progress.show("preparing a \(fileSize >> 20) MiB data file …")
            do {
                path = try BenchTempFile.create(size: fileSize)
            } catch {
                noFile = "could not create a \(fileSize >> 20) MiB data file in $TMPDIR or /var/tmp: \(error)"
            }
        }
        for (i, name) in names.enumerated() {
            progress.show("[\(i + 1)/\(names.count)] \(name) …")
            do {
                switch name {
                case "nop": results.append(try workloads.nop())
                case "timers": results.append(try workloads.timers())
                case "echo": results.append(try workloads.echo())
                default:
                    let direct = name.contains("direct")
                    let depth = name.hasSuffix("qd32") ? 32 : 1
                    let reason = path.map { direct ? Self.directUnsupported($0) : nil } ?? noFile
                    if let reason {
                        results.append(BenchResult(name: name, title: "4 KiB random reads, QD \(depth)\(direct ? ", O_DIRECT" : "")", unit: "kIOPS",
                                                   higherIsBetter: true, baselineName: "blocking pread", skipped: reason))
                        continue
                    }
                    if !direct { Self.warm(path!) }
                    results.append(try workloads.fileReads(path: path!, size: fileSize, depth: depth, direct: direct))
                }
            } catch {
                results.append(BenchResult(name: name, title: name, unit: "", higherIsBetter: true, baselineName: "", failed: "\(error)"))
            }
        }
        progress.finish()
        BenchTempFile.remove()
        printTable(results, support: support, details: details, slice: slice)
        if let json {
            try writeJSON(results, support: support, details: details, slice: slice, to: json)
        }
        if results.contains(where: { $0.failed != nil || ($0.skipped == nil && !$0.verified) }) {
            printError("spool bench: some workloads failed or could not be verified (see the table)")
            throw ExitCode(1)
        }
    }

    /// Why `O_DIRECT` cannot be used on `path`'s file system, or nil if it can.
    static func directUnsupported(_ path: String) -> String? {
        if BenchTempFile.isOnMemoryFileSystem(path) {
            return "the data file is on a memory file system (tmpfs): O_DIRECT would reach no device; set TMPDIR to a disk"
        }
        let fd = open(path, O_RDONLY | SystemConstants.openDirect)
        if fd < 0 { return "O_DIRECT is not supported on this file system (\(Errno(rawValue: errno)))" }
        close(fd)
        return nil
    }

    /// Reads the whole file once, so buffered reads find it in the page cache.
    static func warm(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while chunk.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    private func machineLine(_ support: SystemSupport, _ details: SystemSupport.IOUringDetails?) -> String {
        "Linux \(support.kernelRelease) \(support.machine), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores, backend \(details == nil ? "portable" : "io_uring, ring flags \(details!.activeFlags.joined(separator: " "))")"
    }

    private func printTable(_ results: [BenchResult], support: SystemSupport, details: SystemSupport.IOUringDetails?, slice: Duration) {
        print("spool bench: \(machineLine(support, details))")
        print("each side measured for \(Formatting.fixed(Formatting.seconds(slice), 2)) s; ratio > 1: Spool is better")
        print("")
        let header = ["workload", "unit", "Spool", "baseline", "ratio", "p50 µs (Spool / base)", "p99 µs (Spool / base)", "baseline is"]
        var rows: [[String]] = []
        var notes: [String] = []
        for r in results {
            if let skipped = r.skipped {
                rows.append([r.name, r.unit, "-", "-", "-", "-", "-", "skipped: \(skipped)"])
                continue
            }
            if let failed = r.failed {
                rows.append([r.name, r.unit, "-", "-", "-", "-", "-", "FAILED: \(failed)"])
                continue
            }
            let p50 = r.p50.map { "\(Formatting.fixed($0.spool, 1)) / \(Formatting.fixed($0.baseline, 1))" } ?? ""
            let p99 = r.p99.map { "\(Formatting.fixed($0.spool, 1)) / \(Formatting.fixed($0.baseline, 1))" } ?? ""
            rows.append([r.name, r.unit, Formatting.fixed(r.spool, 2), Formatting.fixed(r.baseline, 2), Formatting.fixed(r.ratio, 2) + (r.verified ? "" : " (unverified)"),
                         p50, p99, r.baselineName])
            if let note = r.note { notes.append("\(r.name): \(note)") }
        }
        let widths = header.indices.map { c in max(header[c].count, rows.map { $0[c].count }.max() ?? 0) }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in
                c >= 2 && c <= 4 ? String(repeating: " ", count: widths[c] - cell.count) + cell : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined(separator: "  ")
        }
        print(line(header))
        print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        for row in rows { print(line(row)) }
        if !notes.isEmpty {
            print("")
            for note in notes { print(note) }
        }
    }

    private func writeJSON(_ results: [BenchResult], support: SystemSupport, details: SystemSupport.IOUringDetails?, slice: Duration, to path: String) throws {
        let machine = "{\"kernel\": \(quoted(support.kernelRelease)), \"machine\": \(quoted(support.machine)), \"cores\": \(sysconf(Int32(_SC_NPROCESSORS_ONLN))), \"backend\": \"\(details == nil ? "portable" : "io_uring")\", \"ring_flags\": [\((details?.activeFlags ?? []).map(quoted).joined(separator: ", "))]}"
        let text = "{\n \"machine\": \(machine),\n \"seconds_per_side\": \(number(Formatting.seconds(slice))),\n \"workloads\": [\n  " +
            results.map(\.json).joined(separator: ",\n  ") + "\n ]\n}\n"
        let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        defer { try? fd.close() }
        _ = try fd.writeAll(Array(text.utf8))
    }
}

extension Substring {
    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
