// Zero-copy sends against copying sends, over one loopback TCP connection, per send size:
// the measurement behind `Runtime.Configuration.zeroCopySendThreshold`. A writer sends
// `--megabytes` MiB in sends of each size (the same buffer, reused), a reader on the same
// ring reads and discards; reported: throughput and the process's CPU time per MiB
// (getrusage), median of `--runs` runs, for copy and zero-copy, and their ratio.
//
// Usage: swift run -c release send-zc-compare [--megabytes 256] [--runs 5]
import BenchSupport
import Spool

#if canImport(Glibc)
import Glibc
#endif

let megabytes = option("--megabytes", 256)
let runs = option("--runs", 5)
let sizes = [4096, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// One run: seconds and CPU seconds to move `megabytes` MiB in sends of `size` bytes.
func measure(size: Int, zeroCopy: Bool) throws -> (seconds: Double, cpu: Double) {
    var configuration = Runtime.Configuration()
    configuration.zeroCopySendThreshold = zeroCopy ? 1 : nil
    return try Runtime.run(configuration: configuration) { runtime in
        let listener = try StreamListener.bind(SocketAddress("127.0.0.1:0"), runtime: runtime)
        let address = listener.localAddress
        let total = megabytes << 20
        let reader = runtime.spawn(taking: listener) { listener -> Int in
            let connection = try await listener.accept()
            var buffer = IOBuffer(capacity: 256 * 1024)
            var got = 0
            while true {
                let n = try await connection.read(into: &buffer)
                if n == 0 { break }
                got += n
            }
            try await connection.close()
            try await listener.close()
            return got
        }
        let writer = try await StreamSocket.connect(to: address, runtime: runtime)
        let chunk = IOBuffer([UInt8](repeating: 0x5a, count: size))
        let cpu0 = cpuSeconds()
        let start = ContinuousClock.now
        var sent = 0
        while sent < total {
            try await writer.writeAll(chunk)
            sent += size
        }
        try await writer.shutdown(.write)
        let got = try await reader.value
        let seconds = nanoseconds(ContinuousClock.now - start) / 1e9
        let cpu = cpuSeconds() - cpu0
        try await writer.close()
        precondition(got == sent, "received \(got) of \(sent) bytes")
        return (seconds, cpu)
    }
}

print("send size   copy MiB/s  zc MiB/s   copy CPU ms/MiB  zc CPU ms/MiB  zc CPU ÷ copy")
for size in sizes {
    var copy: [(Double, Double)] = []
    var zc: [(Double, Double)] = []
    for _ in 0..<runs {
        copy.append(try measure(size: size, zeroCopy: false))
        zc.append(try measure(size: size, zeroCopy: true))
    }
    let mib = Double(megabytes)
    let copyRate = median(copy.map { mib / $0.0 }), zcRate = median(zc.map { mib / $0.0 })
    let copyCPU = median(copy.map { $0.1 * 1000 / mib }), zcCPU = median(zc.map { $0.1 * 1000 / mib })
    let ratio = median(zip(zc, copy).map { $0.1 / $1.1 })
    print("\(pad(size, 9))   \(pad(fixed(copyRate, 0), 10))  \(pad(fixed(zcRate, 0), 8))   \(pad(fixed(copyCPU, 3), 15))  \(pad(fixed(zcCPU, 3), 13))  \(pad(fixed(ratio, 2), 12))")
}
