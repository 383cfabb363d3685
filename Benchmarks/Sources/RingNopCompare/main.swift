// Side-by-side: Spool's raw ring against the C peer, the same NOP loop, alternating trials
// in one process so both see the same machine noise. Prints ns/op (median of trials) and
// the ratio Swift/C.
//
//   swift run -c release ring-nop-compare [ops-per-trial] [trials]
import NopLoops
import SpoolRing

let args = CommandLine.arguments
let opsPerTrial = args.count > 1 ? Int(args[1]) ?? 2_000_000 : 2_000_000
let trials = args.count > 2 ? Int(args[2]) ?? 11 : 11
let clock = ContinuousClock()

func fixed(_ x: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (x * scale).rounded() / scale
    var text = "\(v)"
    let dot = text.firstIndex(of: ".") ?? text.endIndex
    let have = text.distance(from: dot, to: text.endIndex) - 1
    if have < digits { text += String(repeating: "0", count: digits - max(have, 0)) }
    return text
}
func pad(_ x: some CustomStringConvertible, _ width: Int) -> String {
    let s = x.description
    return String(repeating: " ", count: max(0, width - s.count)) + s
}
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }
func nanos(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
}

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
