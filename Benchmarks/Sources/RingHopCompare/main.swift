// Cross-ring hops, side by side in one process: a task on ring 0 and a task on ring 1 hand a
// baton back and forth, each hand-off resuming the other task on its own ring. With
// `wakesSiblingsWithMessageRing` (the default) a parked ring is woken by its sibling's
// `IORING_OP_MSG_RING`, sent with the sibling's own next submit; the peer is the same run
// with eventfd wakes (a `write(2)` per wake). Trials alternate between the two.
//
// - latency: one pair, round trips one after another (each hop finds the other ring parked);
// - throughput: 64 pairs at once (wakes coalesce: a busy ring is not woken again);
// - CPU: the process's user + system time per round trip (both rings and the test).
//
//   swift run -c release ring-hop-compare [round-trips] [trials]      (defaults: 100000 5)
import BenchSupport
import Glibc
import Spool
import Synchronization

let args = CommandLine.arguments
let roundTrips = args.count > 1 ? Int(args[1]) ?? 100_000 : 100_000
let trials = args.count > 2 ? Int(args[2]) ?? 5 : 5

/// A one-way hand-off: `signal` resumes the waiter, or leaves a permit.
final class Baton: Sendable {
    private let state = Mutex<(waiter: UnsafeContinuation<Void, Never>?, permits: Int)>((nil, 0))

    func signal() {
        let waiter = state.withLock { s -> UnsafeContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.permits += 1
            return nil
        }
        waiter?.resume()
    }

    func wait() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.permits > 0 {
                    s.permits -= 1
                    return true
                }
                s.waiter = c
                return false
            }
            if now { c.resume() }
        }
    }
}

/// The process's CPU time so far, in seconds (user + system).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// `pairs` pairs of tasks (one on each ring) doing `roundTrips / pairs` round trips each;
/// returns (wall ns per round trip, CPU ns per round trip).
func measure(messageRing: Bool, pairs: Int) async throws -> (Double, Double) {
    var configuration = Runtime.Configuration(ringCount: 2)
    configuration.wakesSiblingsWithMessageRing = messageRing
    configuration.metricsInterval = nil
    let runtime = try Runtime(configuration: configuration)
    let each = roundTrips / pairs
    let clock = ContinuousClock()
    let cpuBefore = cpuSeconds()
    let start = clock.now
    var tasks: [Task<Void, any Error>] = []
    for _ in 0..<pairs {
        let ping = Baton(), pong = Baton()
        tasks.append(runtime.spawn(on: .ring(0)) { for _ in 0..<each { ping.signal(); await pong.wait() } })
        tasks.append(runtime.spawn(on: .ring(1)) { for _ in 0..<each { await ping.wait(); pong.signal() } })
    }
    for t in tasks { try await t.value }
    let wall = nanoseconds(clock.now - start)
    let cpu = (cpuSeconds() - cpuBefore) * 1e9
    await runtime.shutdownAndWait()
    let total = Double(each * pairs)
    return (wall / total, cpu / total)
}

print("ring-hop-compare: \(roundTrips) round trips between two rings, \(trials) alternating trials")
var rows: [String: [(Double, Double)]] = [:]
for trial in 0..<trials {
    for pairs in [1, 64] {
        let order = trial % 2 == 0 ? [true, false] : [false, true]
        for messageRing in order {
            let r = try await measure(messageRing: messageRing, pairs: pairs)
            rows["\(pairs) \(messageRing)", default: []].append(r)
        }
    }
}
print("| pairs | wake | µs per round trip (median) | round trips/s | CPU µs per round trip |")
print("|---:|---|---:|---:|---:|")
for pairs in [1, 64] {
    for messageRing in [true, false] {
        let r = rows["\(pairs) \(messageRing)"]!
        let wall = median(r.map(\.0)), cpu = median(r.map(\.1))
        print("| \(pairs) | \(messageRing ? "MSG_RING" : "eventfd") | \(fixed(wall / 1000, 2)) | \(fixed(1e9 / wall, 0)) | \(fixed(cpu / 1000, 2)) |")
    }
}
print("")
print("| pairs | MSG_RING time ÷ eventfd time (median of per-trial ratios) | MSG_RING CPU ÷ eventfd CPU |")
print("|---:|---:|---:|")
for pairs in [1, 64] {
    let m = rows["\(pairs) true"]!, e = rows["\(pairs) false"]!
    let time = median(zip(m, e).map { $0.0 / $1.0 }), cpu = median(zip(m, e).map { $0.1 / $1.1 })
    print("| \(pairs) | \(fixed(time, 2)) | \(fixed(cpu, 2)) |")
}
