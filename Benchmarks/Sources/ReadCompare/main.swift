// 4 KiB random reads of a large file: Spool (per-op awaits from QD tasks, with and without
// inline completion, and the batch call) against a C loop on raw io_uring and against blocking
// `pread` called from QD plain tasks, alternating trials in one process. Three data states:
// buffered with a warm page cache, buffered with a cold one (the file's pages dropped with
// POSIX_FADV_DONTNEED before each trial), and O_DIRECT.
//
//   swift run -c release read-compare [--size-mib 1024] [--ops 200000] [--direct-ops 20000]
//       [--trials 5] [--depths 1,32] [--states warm,cold,direct] [--modes c,pread,perop,ring,batch]
import BenchSupport
import CReadPeer
import Glibc
import Spool
import SpoolRing
import SystemPackage

let sizeMiB = option("size-mib", 1024)
let opsPerTrial = option("ops", 200_000)
let trials = option("trials", 5)
let path = option("path", "/var/tmp/spool-bench-\(sizeMiB)m.data")
let directOps = option("direct-ops", 20_000)
let modes = Set(option("modes", "c,pread,perop,ring,batch").split(separator: ",").map(String.init))
let states = option("states", "warm,cold,direct").split(separator: ",").map(String.init)
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

/// Blocking `pread` from `depth` plain tasks (the global executor): what a Swift user writes
/// without Spool.
func blockingPread(direct: Bool, depth: Int, total: Int, seed: UInt64) async throws -> Int {
    let fd = open(path, O_RDONLY | (direct ? SystemConstants.openDirect : 0))
    precondition(fd >= 0)
    defer { close(fd) }
    let blocks = UInt64(sizeMiB << 20) / 4096
    return await withTaskGroup(of: Int.self) { group in
        for t in 0..<depth {
            group.addTask {
                var rng = XorShift64(seed: seed &+ UInt64(t) &* 7919)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
                defer { buffer.deallocate() }
                let share = total / depth + (t < total % depth ? 1 : 0)
                for _ in 0..<share {
                    let n = pread(fd, buffer, 4096, off_t((rng.next() % blocks) * 4096))
                    precondition(n == 4096)
                }
                return share
            }
        }
        return await group.reduce(0, +)
    }
}

/// Drops the file's pages from the page cache (clean pages: no privilege needed).
func dropPageCache() {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0)
    precondition(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
    close(fd)
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
    let runtime = try Runtime()
    var ringOnly = Runtime.Configuration()
    ringOnly.inlineCompletion = false
    let ringRuntime = try Runtime(configuration: ringOnly)
    defer { runtime.shutdown(); ringRuntime.shutdown() }
    print("4 KiB random reads of a \(sizeMiB) MiB file, one ring, median of \(trials) alternating trials (kIOPS)")
    print("per-op: default (inline completion); ring: inlineCompletion = false; pread: blocking pread from QD plain tasks")
    print("state     QD   C loop    pread  ratio   per-op  ratio     ring  ratio    batch  ratio")
    for state in states {
        let direct = state == "direct", cold = state == "cold"
        if state == "warm" { try warmPageCache() }
        for depth in depths {
            let total = direct || cold ? directOps : opsPerTrial
            var figures: [String: [Double]] = [:]
            func measure(_ mode: String, _ body: () throws -> Int) rethrows {
                guard modes.contains(mode) else { return }
                if cold { dropPageCache() }
                let t0 = clock.now
                let n = try body()
                precondition(n == total, "\(mode) read \(n) of \(total)")
                figures[mode, default: []].append(Double(total) / (nanoseconds(clock.now - t0) / 1e9))
            }
            for trial in 0..<trials {
                let seed = UInt64(1000 + trial)
                measure("c") {
                    let r = c_random_reads(path, direct ? 1 : 0, UInt32(depth), UInt64(total), seed)
                    precondition(r == Int64(total), "C peer failed: \(r)")
                    return Int(r)
                }
                try measure("pread") { try blockingDetached { try await blockingPread(direct: direct, depth: depth, total: total, seed: seed) } }
                try measure("perop") { try blockingRun(runtime) { try await spoolPerOp(runtime, direct: direct, depth: depth, total: total, seed: seed) } }
                try measure("ring") { try blockingRun(ringRuntime) { try await spoolPerOp(ringRuntime, direct: direct, depth: depth, total: total, seed: seed) } }
                if depth > 1 {
                    try measure("batch") { try blockingRun(runtime) { try await spoolBatch(runtime, direct: direct, depth: depth, total: total, seed: seed) } }
                }
            }
            let cm = median(figures["c"] ?? [])
            var line = "\(state + String(repeating: " ", count: max(0, 8 - state.count)))  \(pad(depth, 3))  \(pad(fixed(cm / 1000, 1), 7))"
            for mode in ["pread", "perop", "ring", "batch"] {
                if let xs = figures[mode], !xs.isEmpty {
                    let m = median(xs)
                    line += "  \(pad(fixed(m / 1000, 1), 7))  \(pad(fixed(m / cm, 2), 5))"
                } else {
                    line += "        -      -"
                }
            }
            print(line)
        }
    }
}

/// Runs `body` on a detached task (the global executor) and blocks until it returns.
func blockingDetached<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    Task.detached { box.set(await Result(catching: body)) }
    return try box.wait().get()
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
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
