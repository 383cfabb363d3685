import Benchmark
import NopLoops
import SpoolRing

// NOP submit+reap through Spool's raw ring and through the C peer, in one run.
// Each iteration is one NOP; batches of 32 per io_uring_enter (and 1, the worst case).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .mega,
        maxDuration: .seconds(5),
        maxIterations: 20
    )
    for batch in [1, 32] {
        Benchmark("Ring NOP batch \(batch) (Swift, SpoolRing)") { benchmark in
            let ring = try Ring(options: RingOptions(submissionEntries: 32))
            let total = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            let sum = try swiftNopLoop(ring, total: total, batch: batch)
            benchmark.stopMeasurement()
            precondition(sum == expectedNopSum(total))
        }
        Benchmark("Ring NOP batch \(batch) (C peer, raw io_uring_enter)") { benchmark in
            guard let peer = CNopRing(entries: 32) else { return }
            let total = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            let sum = peer.run(total: total, batch: batch)
            benchmark.stopMeasurement()
            precondition(sum == expectedNopSum(total))
        }
    }
}
