// 4 KiB random reads of a warm 1 GiB file: Spool (QD tasks on the ring, each awaiting
// `read(into:at:)`) against SwiftNIO's file system (`_NIOFileSystem`: QD tasks each awaiting
// `readChunk(fromAbsoluteOffset:length:)`, which runs the `pread` on NIO's thread pool).
// Median of `--trials` alternating trials, in kIOPS; every read's length is checked.
//
// Usage: swift run -c release nio-file-compare [--ops 200000] [--trials 5] [--path FILE]
// (uses read-compare's data file, /var/tmp/spool-bench-1024m.data; run read-compare once first)
import BenchSupport
import NIOCore
import _NIOFileSystem
import Spool
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

let ops = option("ops", 200_000)
let trials = option("trials", 5)
let path = option("path", "/var/tmp/spool-bench-1024m.data")
let depths = [1, 32]

var st = stat()
guard stat(path, &st) == 0, st.st_size >= 1 << 20 else {
    print("no data file at \(path): run `swift run -c release read-compare` once to create it")
    exit(1)
}
let blocks = UInt64(st.st_size) / 4096
// Warm the page cache.
do {
    let fd = open(path, O_RDONLY)
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while chunk.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    close(fd)
}

func spoolReads(_ runtime: Runtime, depth: Int) async throws -> Int {
    let file = try await File.open(FilePath(path), runtime: runtime).shared()
    let n = try await withThrowingTaskGroup(of: Int.self) { group in
        for t in 0..<depth {
            group.addTask {
                var rng = XorShift64(seed: 11 &+ UInt64(t))
                var buffer = IOBuffer(capacity: 4096)
                var ok = 0
                for _ in 0..<(ops / depth) where try await file.read(into: &buffer, at: (rng.next() % blocks) * 4096) == 4096 { ok += 1 }
                return ok
            }
        }
        return try await group.reduce(0, +)
    }
    try await file.close()
    return n
}

func nioReads(depth: Int) async throws -> Int {
    let handle = try await FileSystem.shared.openFile(forReadingAt: FilePath(path))
    let n = try await withThrowingTaskGroup(of: Int.self) { group in
        for t in 0..<depth {
            group.addTask {
                var rng = XorShift64(seed: 11 &+ UInt64(t))
                var ok = 0
                for _ in 0..<(ops / depth) {
                    let chunk = try await handle.readChunk(fromAbsoluteOffset: Int64((rng.next() % blocks) * 4096), length: .bytes(4096))
                    if chunk.readableBytes == 4096 { ok += 1 }
                }
                return ok
            }
        }
        return try await group.reduce(0, +)
    }
    try await handle.close()
    return n
}

let runtime = try Runtime()
print("4 KiB random reads of a warm \(st.st_size >> 20) MiB file, median of \(trials) alternating trials (kIOPS)")
print(" QD    Spool  _NIOFileSystem  Spool ÷ NIO")
for depth in depths {
    var spool: [Double] = [], nio: [Double] = []
    for _ in 0..<trials {
        let expected = (ops / depth) * depth
        var t0 = ContinuousClock.now
        let a = try await runtime.spawn { try await spoolReads(runtime, depth: depth) }.value
        spool.append(Double(a) / (nanoseconds(ContinuousClock.now - t0) / 1e9))
        precondition(a == expected, "Spool read \(a) of \(expected)")
        t0 = ContinuousClock.now
        let b = try await nioReads(depth: depth)
        nio.append(Double(b) / (nanoseconds(ContinuousClock.now - t0) / 1e9))
        precondition(b == expected, "NIO read \(b) of \(expected)")
    }
    let s = median(spool), n = median(nio)
    print("\(pad(depth, 3))  \(pad(fixed(s / 1000, 1), 7))  \(pad(fixed(n / 1000, 1), 14))  \(pad(fixed(s / n, 2), 11))")
}
runtime.shutdown()
