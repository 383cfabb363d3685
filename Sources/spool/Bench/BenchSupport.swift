#if canImport(Glibc)
import Glibc
#endif

/// Small helpers shared by the bench workloads.
enum BenchMath {
    /// Seconds in `d`.
    static func seconds(_ d: Duration) -> Double { Formatting.seconds(d) }

    /// The `p`-th percentile (0...1) of `samples` (sorted here), or 0.
    static func percentile(_ samples: [Double], _ p: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

/// A tiny deterministic generator (xorshift64) for offsets and payloads.
struct XorShift: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// A result handed from a task to a thread that blocks for it (the bench drives async work
/// from its synchronous command).
final class BlockingResult<T: Sendable>: @unchecked Sendable {  // guarded by `mutex`
    private var value: Result<T, any Error>?
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }
    func set(_ r: Result<T, any Error>) {
        pthread_mutex_lock(&mutex)
        value = r
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }
    func wait() throws -> T {
        pthread_mutex_lock(&mutex)
        while value == nil { pthread_cond_wait(&condition, &mutex) }
        let r = value!
        pthread_mutex_unlock(&mutex)
        return try r.get()
    }
}

/// Runs `body` on the global executor (plain tasks, as a Swift program without Spool would)
/// and blocks this thread for its result.
func runOnDefaultExecutor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = BlockingResult<T>()
    Task.detached {
        do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
    }
    return try box.wait()
}
