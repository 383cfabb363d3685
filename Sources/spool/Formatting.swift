/// Small number formatting for the tool's output (no Foundation).
enum Formatting {
    /// `x` with `digits` decimals.
    static func fixed(_ x: Double, _ digits: Int) -> String {
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

    /// A byte count in binary units ("12.3 MiB").
    static func bytes(_ n: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = n
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(Int(v)) B" : "\(fixed(v, 1)) \(units[i])"
    }

    /// Seconds in a duration, as a Double.
    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
