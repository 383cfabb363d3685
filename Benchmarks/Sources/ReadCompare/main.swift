// 4 KiB random reads of a large file: Spool (per-op awaits from QD tasks, and the batch call)
// against a C loop on raw io_uring doing the same, alternating trials in one process.
//
//   swift run -c release read-compare [--size-mib 1024] [--ops 200000] [--trials 5] [--path /var/tmp/spool-bench.data]
import BenchSupport
import CReadPeer
import Glibc
import Spool
import SystemPackage

let sizeMiB = option("size-mib", 1024)
let opsPerTrial = option("ops", 200_000)
let trials = option("trials", 5)
let path = option("path", "/var/tmp/spool-bench-\(sizeMiB)m.data")
let directOps = option("direct-ops", 20_000)
let modes = Set(option("modes", "c,perop,batch").split(separator: ",").map(String.init))
let depths = option("depths", "1,32").split(separator: ",").compactMap { Int($0) }
let clock = ContinuousClock()

/// Creates the data file (real bytes, so O_DIRECT reads touch the disk) unless it exists.
func prepareFile() throws {
    let size = sizeMiB << 20
    if let fd = try? FileDescriptor.open(FilePath(path), .readOnly) {
        var st = stat()
        fstat(fd.rawValue, &st)
        try fd.close()
        if Int(st.st_size) == size { return }
    }
    print("writing \(sizeMiB) MiB test file \(path) …")
    let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
    var rng = XorShift64(seed: 42)
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    for _ in 0..<sizeMiB {
        chunk.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices { words[i] = rng.next() }
        }
        _ = try fd.writeAll(chunk)
    }
    _ = fsync(fd.rawValue)
    try fd.close()
}

/// Reads the whole file once so buffered reads hit the page cache.
func warmPageCache() throws {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly)
    defer { try? fd.close() }
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while try chunk.withUnsafeMutableBytes({ try fd.read(into: $0) }) > 0 {}
}

/// Spool, per-op awaits: `depth` tasks on the ring, each reading its share one op at a time.
func spoolPerOp(_ runtime: Runtime, direct: Bool, depth: Int, total: Int, seed: UInt64) async throws -> Int {
    let file = try await File.open(FilePath(path), options: direct ? [.direct] : [], runtime: runtime).shared()
    let blocks = UInt64(sizeMiB << 20) / 4096
    let count = try await withThrowingTaskGroup(of: Int.self) { group in
        for t in 0..<depth {
            group.addTask {
                var rng = XorShift64(seed: seed &+ UInt64(t) &* 7919)
                var buffer = IOBuffer(capacity: 4096, alignment: 4096)
                let share = total / depth + (t < total % depth ? 1 : 0)
                for _ in 0..<share {
                    let n = try await file.read(into: &buffer, at: (rng.next() % blocks) * 4096)
                    precondition(n == 4096)
                }
                return share
            }
        }
        return try await group.reduce(0, +)
    }
    try await file.close()
    return count
}

/// Spool, batch call: one task submits `depth` reads at a time and resumes once per batch.
func spoolBatch(_ runtime: Runtime, direct: Bool, depth: Int, total: Int, seed: UInt64) async throws -> Int {
    let file = try await File.open(FilePath(path), options: direct ? [.direct] : [], runtime: runtime)
    let blocks = UInt64(sizeMiB << 20) / 4096
    var rng = XorShift64(seed: seed)
    var buffer = IOBuffer(capacity: depth * 4096, alignment: 4096)
    var parts = (0..<depth).map { BatchPart(range: ($0 * 4096)..<(($0 + 1) * 4096), offset: 0) }
    var done = 0
    while done < total {
        let n = min(depth, total - done)
        if n < parts.count { parts.removeLast(parts.count - n) }
        for i in parts.indices { parts[i].offset = (rng.next() % blocks) * 4096 }
        let counts = try await file.read(into: &buffer, batch: parts)
        precondition(counts.allSatisfy { $0 == 4096 })
        done += n
    }
    try await file.close()
    return done
}

func run() throws {
    try prepareFile()
    try warmPageCache()
    let runtime = try Runtime()
    defer { runtime.shutdown() }
    print("4 KiB random reads of a \(sizeMiB) MiB file, one ring, median of \(trials) alternating trials (kIOPS)")
    print("mode      QD   C loop   Spool per-op  ratio   Spool batch  ratio")
    for direct in (option("direct", 1) == 1 ? [false, true] : [false]) {
        for depth in depths {
            let total = direct ? directOps : opsPerTrial
            var c: [Double] = [], perOp: [Double] = [], batch: [Double] = []
            for trial in 0..<trials {
                let seed = UInt64(1000 + trial)
                var t0 = clock.now
                if modes.contains("c") {
                    let r = c_random_reads(path, direct ? 1 : 0, UInt32(depth), UInt64(total), seed)
                    precondition(r == Int64(total), "C peer failed: \(r)")
                    c.append(Double(total) / (nanoseconds(clock.now - t0) / 1e9))
                }
                t0 = clock.now
                if modes.contains("perop") {
                let n1 = try blockingRun(runtime) { try await spoolPerOp(runtime, direct: direct, depth: depth, total: total, seed: seed) }
                precondition(n1 == total)
                perOp.append(Double(total) / (nanoseconds(clock.now - t0) / 1e9))
                }
                if depth > 1 && modes.contains("batch") {
                    t0 = clock.now
                    let n2 = try blockingRun(runtime) { try await spoolBatch(runtime, direct: direct, depth: depth, total: total, seed: seed) }
                    precondition(n2 == total)
                    batch.append(Double(total) / (nanoseconds(clock.now - t0) / 1e9))
                }
            }
            let cm = median(c), pm = median(perOp), bm = median(batch)
            let batchText = depth > 1 ? "\(pad(fixed(bm / 1000, 1), 11))  \(pad(fixed(bm / cm, 2), 5))" : "          -      -"
            print("\(direct ? "O_DIRECT" : "buffered")  \(pad(depth, 3))  \(pad(fixed(cm / 1000, 1), 7))  \(pad(fixed(pm / 1000, 1), 12))  \(pad(fixed(pm / cm, 2), 5))  \(batchText)")
        }
    }
}

/// Runs `body` on the runtime's ring and blocks until it returns.
func blockingRun<T: Sendable>(_ runtime: Runtime, _ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let task = Task(executorPreference: runtime.executor) { try await body() }
    Task.detached { box.set(await task.result) }
    return try box.wait().get()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&condition, nil) }
    func set(_ r: Result<T, any Error>) {
        pthread_mutex_lock(&mutex); result = r; pthread_cond_signal(&condition); pthread_mutex_unlock(&mutex)
    }
    func wait() -> Result<T, any Error> {
        pthread_mutex_lock(&mutex)
        while result == nil { pthread_cond_wait(&condition, &mutex) }
        let r = result!
        pthread_mutex_unlock(&mutex)
        return r
    }
}

try run()
