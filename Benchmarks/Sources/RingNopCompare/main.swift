// Side-by-side: Spool's raw ring against the C peer, the same NOP loop, alternating trials
// in one process so both see the same machine noise. Prints ns/op (median of trials) and
// the ratio Swift/C.
//
//   swift run -c release ring-nop-compare [ops-per-trial] [trials]
import BenchSupport
import Glibc
import NopLoops
import Spool
import SpoolRing

let args = CommandLine.arguments
let opsPerTrial = args.count > 1 ? Int(args[1]) ?? 2_000_000 : 2_000_000
let trials = args.count > 2 ? Int(args[2]) ?? 11 : 11
let clock = ContinuousClock()

func nanos(_ d: Duration) -> Double { nanoseconds(d) }

print("NOP submit+reap, \(opsPerTrial) ops per trial, \(trials) alternating trials, ring of 32")
print("batch  swift ns/op   C ns/op   swift/C")
for batch in [1, 8, 32] {
    let ring = try Ring(options: RingOptions(submissionEntries: 32))
    guard let peer = CNopRing(entries: 32) else { fatalError("the C peer could not set up its ring") }
    // Warm up both.
    _ = try swiftNopLoop(ring, total: 100_000, batch: batch)
    _ = peer.run(total: 100_000, batch: batch)
    var swiftTimes: [Double] = []
    var cTimes: [Double] = []
    for _ in 0..<trials {
        var sum: UInt64 = 0
        let s = try clock.measure { sum = try swiftNopLoop(ring, total: opsPerTrial, batch: batch) }
        precondition(sum == expectedNopSum(opsPerTrial), "Swift loop lost completions")
        let c = clock.measure { sum = peer.run(total: opsPerTrial, batch: batch) }
        precondition(sum == expectedNopSum(opsPerTrial), "C loop lost completions")
        swiftTimes.append(nanos(s) / Double(opsPerTrial))
        cTimes.append(nanos(c) / Double(opsPerTrial))
    }
    let sw = median(swiftTimes), cc = median(cTimes)
    print("\(pad(batch, 5))  \(pad(fixed(sw, 1), 11))  \(pad(fixed(cc, 1), 8))   \(pad(fixed(sw / cc, 3), 6))")
}

// The same NOP as an `async` call from a task on a Spool ring, against the raw ring's
// batch-1 loop: with inline completion (the default: submitted at once, completed inside the
// submit, no suspension) and without it (suspend, submit at park, reap, resume on the ring).
print("")
print("async NOP from a task on the ring vs the raw ring (batch 1), \(opsPerTrial / 4) ops per trial")
let eagerRuntime = try Runtime(configuration: Runtime.Configuration(submissionEntries: 32))
var suspendingConfiguration = Runtime.Configuration(submissionEntries: 32)
suspendingConfiguration.inlineCompletion = false
let suspendingRuntime = try Runtime(configuration: suspendingConfiguration)
let asyncOps = opsPerTrial / 4
var rawTimes: [Double] = [], eagerTimes: [Double] = [], suspendingTimes: [Double] = []
let rawRing = try Ring(options: RingOptions(submissionEntries: 32))

func asyncNopLoop(_ runtime: Runtime) -> Double {
    let done = DoneFlag()
    let start = clock.now
    Task(executorPreference: runtime.executor) {
        for _ in 0..<asyncOps { try await runtime.nop() }
        done.signal()
    }
    done.wait()
    return nanos(clock.now - start) / Double(asyncOps)
}

for _ in 0..<trials {
    var sum: UInt64 = 0
    let r = try clock.measure { sum = try swiftNopLoop(rawRing, total: asyncOps, batch: 1) }
    precondition(sum == expectedNopSum(asyncOps))
    rawTimes.append(nanos(r) / Double(asyncOps))
    eagerTimes.append(asyncNopLoop(eagerRuntime))
    suspendingTimes.append(asyncNopLoop(suspendingRuntime))
}
let raw = median(rawTimes), eager = median(eagerTimes), suspending = median(suspendingTimes)
print("raw ring \(fixed(raw, 1)) ns/op")
print("async NOP, inline completion (default): \(fixed(eager, 1)) ns/op: overhead \(fixed(eager - raw, 1)) ns/op (\(fixed(eager / raw, 2))x)")
print("async NOP, inlineCompletion = false:    \(fixed(suspending, 1)) ns/op: overhead \(fixed(suspending - raw, 1)) ns/op (\(fixed(suspending / raw, 2))x)")
eagerRuntime.shutdown()
suspendingRuntime.shutdown()

final class DoneFlag: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var done = false
    init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&condition, nil) }
    func signal() { pthread_mutex_lock(&mutex); done = true; pthread_cond_signal(&condition); pthread_mutex_unlock(&mutex) }
    func wait() {
        pthread_mutex_lock(&mutex)
        while !done { pthread_cond_wait(&condition, &mutex) }
        done = false
        pthread_mutex_unlock(&mutex)
    }
}
