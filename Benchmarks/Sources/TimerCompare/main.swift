// Timers, side by side in one process: Spool's sleeps on a ring's timing wheel against
// `Task.sleep` on the default executor, alternating trials. Figures are throughputs and
// their ratio; memory is heap bytes per armed sleeper (malloc's own count) and the wheel's
// node size.
//
// Memory is the growth of resident memory while every sleeper is armed, per sleeper: it
// includes each sleeper's task, for both.
//
//   swift run -c release timer-compare [timers] [trials]      (defaults: 1000000 3)
import BenchSupport
import Glibc
import Spool
import SpoolTimer
import Synchronization

let args = CommandLine.arguments
let count = args.count > 1 ? Int(args[1]) ?? 1_000_000 : 1_000_000
let trials = args.count > 2 ? Int(args[2]) ?? 3 : 3

/// Resident memory of the process, in bytes (`/proc/self/statm`).
func heapInUse() -> Int {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 128)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    let fields = String(decoding: bytes[0..<n], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var current: Int { value.load(ordering: .relaxed) }
}

/// Arms `count` sleeps (an hour long) with `sleep`, waits until all are armed, measures the
/// heap, cancels them all; returns (seconds, heap bytes per armed sleeper).
func armAndCancel(_ sleep: @escaping @Sendable () async throws -> Void) async -> (Double, Double) {
    let armed = Counter()
    let before = heapInUse()
    let clock = ContinuousClock()
    let start = clock.now
    var perSleeper = 0.0
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<count {
            group.addTask {
                armed.increment()
                try? await sleep()
            }
        }
        while armed.current < count { await Task.yield() }
        try? await Task.sleep(for: .milliseconds(20))  // let the last ones reach their sleep
        perSleeper = Double(heapInUse() - before) / Double(count)
        group.cancelAll()
    }
    return (nanoseconds(clock.now - start) / 1e9, perSleeper)
}

/// Arms `count` sleeps of 1 to 10 ms and waits until all have fired; returns seconds.
func armAndFire(_ sleep: @escaping @Sendable (Duration) async throws -> Void) async -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    await withTaskGroup(of: Void.self) { group in
        for i in 0..<count {
            let d = Duration.milliseconds(1 + (i &* 7919) % 10)
            group.addTask { try? await sleep(d) }
        }
    }
    return nanoseconds(clock.now - start) / 1e9
}

/// Arms `count` scheduled actions (an hour ahead) from a task on the ring and cancels each:
/// what a server does with an idle timer per request. Returns seconds.
func scheduleAndCancel(_ runtime: Runtime) -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<count {
        let timer = runtime.schedule(after: .seconds(3600)) { _ in }
        timer.cancel()
    }
    return nanoseconds(clock.now - start) / 1e9
}

/// Arms `count` scheduled actions of 1 to 10 ms and waits until all have run. Returns seconds.
func scheduleAndFire(_ runtime: Runtime) async -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let left = Counter()
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        for i in 0..<count {
            runtime.schedule(after: .milliseconds(Int64(1 + (i &* 7919) % 10))) { _ in
                left.increment()
                if left.current == count { done.resume() }
            }
        }
    }
    return nanoseconds(clock.now - start) / 1e9
}

let runtime = try Runtime()
let spool = SpoolClock(runtime: runtime)

print("timers: \(count) per trial, \(trials) alternating trials; Spool's tasks run on its ring, Task.sleep's on the default executor")
var rows: [String: [Double]] = [:]
for _ in 0..<trials {
    let (sc, sm) = try await runtime.spawn { await armAndCancel { try await spool.sleep(for: .seconds(3600)) } }.value
    let (tc, tm) = await Task.detached { await armAndCancel { try await Task.sleep(for: .seconds(3600)) } }.value
    let sf = try await runtime.spawn { await armAndFire { try await spool.sleep(for: $0) } }.value
    let tf = await Task.detached { await armAndFire { try await Task.sleep(for: $0) } }.value
    rows["cancel spool", default: []].append(Double(count) / sc)
    rows["cancel task", default: []].append(Double(count) / tc)
    rows["fire spool", default: []].append(Double(count) / sf)
    rows["fire task", default: []].append(Double(count) / tf)
    let dc = try await runtime.spawn { scheduleAndCancel(runtime) }.value
    let df = try await runtime.spawn { await scheduleAndFire(runtime) }.value
    rows["cancel scheduled", default: []].append(Double(count) / dc)
    rows["fire scheduled", default: []].append(Double(count) / df)
    rows["mem spool", default: []].append(sm)
    rows["mem task", default: []].append(tm)
}
let m = { (k: String) -> Double in median(rows[k] ?? []) }
print("workload                  Spool timers/s   Task.sleep timers/s   ratio")
print("sleeping task + cancel  " + pad(fixed(m("cancel spool"), 0), 15) + pad(fixed(m("cancel task"), 0), 22) + pad(fixed(m("cancel spool") / m("cancel task"), 2), 8))
print("sleeping task + fire    " + pad(fixed(m("fire spool"), 0), 15) + pad(fixed(m("fire task"), 0), 22) + pad(fixed(m("fire spool") / m("fire task"), 2), 8))
print("scheduled action + cancel" + pad(fixed(m("cancel scheduled"), 0), 10) + pad(fixed(m("cancel task"), 0), 22) + pad(fixed(m("cancel scheduled") / m("cancel task"), 2), 8))
print("scheduled action + fire  " + pad(fixed(m("fire scheduled"), 0), 10) + pad(fixed(m("fire task"), 0), 22) + pad(fixed(m("fire scheduled") / m("fire task"), 2), 8))
print("memory per armed sleeper (resident, task included): Spool \(fixed(m("mem spool"), 0)) B, Task.sleep \(fixed(m("mem task"), 0)) B")

// The wheel alone (what a timer costs the ring, without the task around it).
let wheel = TimingWheel()
var rng = XorShift64(seed: 7)
var ids: [TimerID] = []
ids.reserveCapacity(count)
let clock = ContinuousClock()
var t0 = clock.now
for i in 0..<count { ids.append(wheel.schedule(at: 1 + rng.next() % 60_000, UInt64(i))) }
for id in ids { wheel.cancel(id) }
let cancelNs = nanoseconds(clock.now - t0) / Double(count)
t0 = clock.now
for i in 0..<count { wheel.schedule(at: 1 + rng.next() % 60_000, UInt64(i)) }
var fired = 0
wheel.advance(to: 60_001) { _, _ in fired += 1 }
let fireNs = nanoseconds(clock.now - t0) / Double(count)
precondition(fired == count)
print("wheel alone: arm+cancel \(fixed(cancelNs, 1)) ns/timer, arm+fire \(fixed(fireNs, 1)) ns/timer, \(TimingWheel.nodeStride) bytes per armed timer")
await runtime.shutdownAndWait()
