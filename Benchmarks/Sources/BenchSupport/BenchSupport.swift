// Shared helpers for the side-by-side benchmark executables (no Foundation).

/// `x` rounded to `digits` decimals, as text.
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (abs(x) * scale).rounded()
    let whole = Int(v / scale)
    let frac = Int(v.truncatingRemainder(dividingBy: scale))
    var s = (x < 0 ? "-" : "") + String(whole)
    if digits > 0 {
        let f = String(frac)
        s += "." + String(repeating: "0", count: digits - f.count) + f
    }
    return s
}

/// Right-aligns `x` in `width` columns.
public func pad(_ x: some CustomStringConvertible, _ width: Int) -> String {
    let s = x.description
    return String(repeating: " ", count: max(0, width - s.count)) + s
}

/// The median of `xs`.
public func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s[s.count / 2]
}

/// Nanoseconds in a duration.
public func nanoseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
}

/// A tiny deterministic PRNG (xorshift64), the same one the C peers use.
public struct XorShift64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    public mutating func next() -> UInt64 {
        var x = state
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        state = x
        return x
    }
}

/// Command-line option `--name value` as an Int, or `fallback`.
public func option(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--" + name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return fallback
}

/// Command-line option `--name value` as text, or `fallback`.
public func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--" + name), i + 1 < args.count { return args[i + 1] }
    return fallback
}
