import Glibc
import Logging
import Synchronization
@testable import Spool
import SystemPackage
import Testing

/// A temporary directory, removed (with its files) when dropped.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        var template = Array("/tmp/spool-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }
    func file(_ name: String) -> FilePath { FilePath(path + "/" + name) }
    deinit { removeTree(path) }
}

func removeTree(_ path: String) {
    guard let dir = opendir(path) else { unlink(path); return }
    while let entry = readdir(dir) {
        let name = String(cString: UnsafeRawPointer(entry).advanced(by: direntNameOffset).assumingMemoryBound(to: CChar.self))
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
    }
    closedir(dir)
    rmdir(path)
}

/// Writes `bytes` to a new file with plain system calls.
func writeFile(_ path: FilePath, _ bytes: [UInt8]) throws {
    let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
    defer { try? fd.close() }
    _ = try fd.writeAll(bytes)
}

/// What `/proc/self/fd/N` points at, or nil if N is not open.
func descriptorTarget(_ fd: Int32) -> String? {
    var link = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/fd/\(fd)", &link, 4095)
    guard n > 0 else { return nil }
    return String(decoding: link[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A deterministic byte pattern for offset `i`.
func pattern(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: (i &* 2654435761) >> 13) }

/// Runs `body` on a fresh runtime with `configuration`, then shuts it down.
func withTestRuntime<T: Sendable>(
    _ configuration: Runtime.Configuration = Runtime.Configuration(submissionEntries: 64),
    _ body: @Sendable (Runtime) async throws -> T
) async throws -> T {
    try await Runtime.withRuntime(configuration: configuration, body)
}

/// Starts a plain POSIX thread running `body` and returns when it finishes.
func onForeignThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(&thread, nil, { arg in
        Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box)
    pthread_join(thread, nil)
}

/// Runs `body` in its own task and waits at most `limit` for it. If it does not finish, the
/// test records an issue and goes on (the stuck task is abandoned), so a hang fails the
/// test instead of hanging the suite. Returns the body's value, or nil on time-out.
func withinDeadline<T: Sendable>(
    _ limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let race = DeadlineRace<T>()
    return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T?, any Error>) in
        race.start(c, limit: limit, what: what, sourceLocation: sourceLocation, body)
    }
}

/// The two sides of `withinDeadline`: whichever finishes first resumes the caller.
final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(claimed: Bool, watchdog: Task<Void, Never>?)>((false, nil))

    private func claim() -> Bool {
        state.withLock { s in defer { s.claimed = true }; return !s.claimed }
    }

    func start(
        _ c: CheckedContinuation<T?, any Error>, limit: Duration, what: String, sourceLocation: SourceLocation,
        _ body: @escaping @Sendable () async throws -> T
    ) {
        let work = Task {
            do {
                let value = try await body()
                if self.claim() { c.resume(returning: value) }
            } catch {
                if self.claim() { c.resume(throwing: error) }
            }
            self.state.withLock { $0.watchdog?.cancel() }
        }
        let watchdog = Task {
            try? await Task.sleep(for: limit)
            if Task.isCancelled { return }
            if self.claim() {
                Issue.record("\(what) did not finish within \(limit): a hang", sourceLocation: sourceLocation)
                work.cancel()
                c.resume(returning: nil)
            }
        }
        state.withLock { $0.watchdog = watchdog }
    }
}

/// Every open descriptor of this process and what it points at.
func openDescriptors() -> [Int32: String] {
    var out: [Int32: String] = [:]
    guard let dir = opendir("/proc/self/fd") else { return out }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
        let name = String(cString: UnsafeRawPointer(entry).advanced(by: direntNameOffset).assumingMemoryBound(to: CChar.self))
        guard let fd = Int32(name), let target = descriptorTarget(fd) else { continue }
        out[fd] = target
    }
    return out
}

/// A flag shared between tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Where `d_name` starts in a `dirent`: the name is read in place, because `readdir` returns
/// records only as long as their name (copying the whole `d_name` tuple reads past the end).
let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19

extension Runtime {
    /// Every ring's snapshot combined: counts summed, peaks the largest ring's (a task's
    /// operations may land on any ring of a multi-ring runtime). Nil if no ring runs.
    func combinedSnapshot() async -> RingSnapshot? {
        let all = await snapshots()
        guard var total = all.first else { return nil }
        for s in all.dropFirst() {
            total.slotsInUse += s.slotsInUse
            total.slotCapacity += s.slotCapacity
            total.peakSlotCapacity = max(total.peakSlotCapacity, s.peakSlotCapacity)
            total.slabBytes += s.slabBytes
            total.inFlight += s.inFlight
            total.peakInFlight = max(total.peakInFlight, s.peakInFlight)
            total.waiting += s.waiting
            total.jobQueueCapacity = max(total.jobQueueCapacity, s.jobQueueCapacity)
            total.statistics.budgetExhausted += s.statistics.budgetExhausted
            total.statistics.parks += s.statistics.parks
            total.statistics.timedParks += s.statistics.timedParks
            total.statistics.stalls += s.statistics.stalls
            total.statistics.inlineCompletions += s.statistics.inlineCompletions
            total.statistics.eagerInFlight += s.statistics.eagerInFlight
            total.statistics.zeroCopyNotifications += s.statistics.zeroCopyNotifications
            total.statistics.multishotArms += s.statistics.multishotArms
            total.statistics.multishotPauses += s.statistics.multishotPauses
        }
        return total
    }
}

/// Runs `body` on a plain POSIX thread and suspends (without blocking a thread of the global
/// executor, which has only as many threads as cores) until it finishes.
func onForeignThreadAsync(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        do {
            try RingThread().start {  // a detached pthread, as the runtime starts its own
                body()
                done.resume()
            }
        } catch {
            body()  // no thread: run it here rather than never
            done.resume()
        }
    }
}

/// Whether io_uring works in this process (false inside `.ci/no-io-uring`, Docker's default
/// seccomp profile and the like): tests of io_uring itself run only then.
let ioUringUsable: Bool = { if case .success = IOUringProbe.result { return true } else { return false } }()

extension Trait where Self == ConditionTrait {
    /// The test is about io_uring itself (its submit path, `MSG_RING`, descriptor reservation,
    /// injected `io_uring_enter` faults): it runs on the io_uring backend, where io_uring works.
    static var requiresIOUring: Self { .enabled(if: ioUringUsable, "io_uring is refused in this process") }
}

/// Runs `body` on a new detached pthread and returns at once (for a blocking call a test must
/// not wait for, and must not run on a global-executor thread).
func startDetachedThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let r = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    precondition(r == 0, "pthread_create failed: \(r)")
    pthread_detach(thread)
}

// MARK: Reads that wait, and what became of them

/// Reads from a pipe's read end (the file takes ownership of `fd` and closes it) and says
/// what happened.
func readOneByte(_ fd: FileDescriptor, runtime: Runtime) async -> ReadOutcome {
    let file = File(adopting: fd, runtime: runtime)
    var buffer = IOBuffer(capacity: 16)
    let outcome: ReadOutcome
    do {
        let n = try await file.readAtCurrentPosition(into: &buffer)
        outcome = .read(n, buffer.bytes)
    } catch is CancellationError {
        outcome = .cancelled
    } catch let e as RuntimeError {
        outcome = .runtime(e)
    } catch {
        outcome = .other("\(error)")
    }
    return outcome
}

enum ReadOutcome: Sendable, Equatable {
    case read(Int, [UInt8])
    case cancelled
    case runtime(RuntimeError)
    case other(String)
}

/// A fresh descriptor for the same pipe end, so a `File` may own (and close) it.
func dupReader(_ fd: FileDescriptor) -> FileDescriptor { FileDescriptor(rawValue: fcntl(fd.rawValue, F_DUPFD_CLOEXEC, 0)) }

/// Waits (politely) until `condition` holds or ten seconds pass.
func eventually(_ condition: () async -> Bool) async -> Bool {
    for _ in 0..<2000 {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return false
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .sequentiallyConsistent) }
    func add(_ n: Int) { count.add(n, ordering: .sequentiallyConsistent) }
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
}

/// Reads (without blocking) whatever a pipe holds; returns the byte count.
func drainAvailable(_ fd: FileDescriptor) -> Int {
    var total = 0
    while true {
        var available: Int32 = 0
        guard ioctl(fd.rawValue, UInt(FIONREAD), &available) == 0, available > 0 else { return total }
        var scratch = [UInt8](repeating: 0, count: Int(available))
        let n = scratch.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
        if n <= 0 { return total }
        total += n
    }
}

/// A short name for a read's outcome.
func outcomeName(_ outcome: ReadOutcome) -> String {
    switch outcome {
    case .read: return "ok"
    case .cancelled: return "cancelled"
    case .runtime(.shutdown): return "shutdown"
    case .runtime(let e): return "\(e)"
    case .other(let s): return s
    }
}

// MARK: Handoffs, captured logs and injected faults

/// A one-way handoff between two parties (tasks on different rings, or a task and a plain
/// thread): `signal` resumes the waiter, or leaves a permit if it is not waiting yet.
final class Baton: Sendable {
    private struct State: ~Copyable, WaiterListHolding {
        var permits = 0
        var waiters = WaiterList()
    }

    private let state = PosixLocked(State())

    func signal() {
        state.withLock { s -> Wakes in
            s.permits += 1
            return s.waiters.takeFirst()
        }.resume()
    }

    func wait() async {
        while !state.withLock({ s -> Bool in
            guard s.permits > 0 else { return false }
            s.permits -= 1
            return true
        }) {
            await state.wait { s in s.permits > 0 }
        }
    }
}

/// A log handler that keeps every message (for tests of what the runtime logs).
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lock = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lock.withLock { $0.append("\(event.level): \(event.message)") }
    }
    var messages: [String] { lock.withLock { $0 } }
}

/// A runtime over an injected system-call layer, and the injector that scripts its faults.
func runtimeWithFaults(_ configuration: Runtime.Configuration) throws -> (Runtime, SubmitFaultInjector) {
    let faults = SubmitFaultInjector()
    var configuration = configuration
    configuration.faults = faults
    return (try Runtime(configuration: configuration), faults)
}

/// Runs the Swift Testing test `filter` of this test binary in a child process with
/// `variable=1` set (tests that change process-wide state: the descriptor limit, the
/// cooperative pool), on a plain thread; `timeout` (seconds, via timeout(1)) bounds a hang.
/// Returns the child's exit status and output.
func runTestInChildProcess(_ filter: String, variable: String, timeout: Int? = nil) async throws -> (status: Int32, output: String) {
    var path = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &path, 4095)
    try #require(n > 0)
    let exe = String(decoding: path[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let result = PosixLocked<(status: Int32, output: String)>((-1, ""))
    let bound = timeout.map { "timeout \($0) " } ?? ""
    await onForeignThreadAsync {
        let r = shell("\(variable)=1 \(bound)'\(exe)' --testing-library swift-testing --filter '\(filter)'")
        result.withLock { $0 = r }
    }
    return result.withLock { $0 }
}

/// A runtime of one ring on `backend` (the shape of most hostile-peer and pool tests).
func singleRingRuntime(_ backend: Backend) throws -> Runtime {
    var configuration = Runtime.Configuration(ringCount: 1)
    configuration.backend = backend
    return try Runtime(configuration: configuration)
}

/// A plain blocking TCP socket connected to 127.0.0.1:`port` (a raw peer, no Spool), or -1.
func connectedLoopbackSocket(port: UInt16) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    if connectLoopback(fd, port: port) != 0 { close(fd); return -1 }
    return fd
}

/// Connects the plain TCP socket `fd` to 127.0.0.1:`port`: `connect(2)`'s result (0, or -1
/// with `errno`).
func connectLoopback(_ fd: Int32, port: UInt16) -> Int32 {
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    sin.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}
