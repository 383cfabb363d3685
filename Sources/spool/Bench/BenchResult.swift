/// One row of `spool bench`'s table: a workload measured with Spool and with its baseline.
struct BenchResult: Sendable {
    /// Short name (`--only` picks by it), e.g. `file-warm-qd32`.
    var name: String
    /// What it does, for the table.
    var title: String
    /// The unit of `spool` and `baseline` (e.g. "kIOPS", "ns/op").
    var unit: String
    /// Whether a larger figure is better (throughput) or smaller (latency, cost).
    var higherIsBetter: Bool
    var spool: Double = 0
    var baseline: Double = 0
    /// What the baseline is ("blocking pread from tasks").
    var baselineName: String
    /// Latency percentiles, where the workload has them (µs), for Spool and the baseline.
    var p50: (spool: Double, baseline: Double)? = nil
    var p99: (spool: Double, baseline: Double)? = nil
    /// Every byte or count the workload produced was checked.
    var verified = false
    /// Why it did not run here, if it cannot (no `O_DIRECT` on this file system, …).
    var skipped: String? = nil
    /// What went wrong, if it ran and failed (the whole run then exits with status 1).
    var failed: String? = nil
    /// Further figures in `unit` (for QD 32 reads: `per-op` and `batch`; the Spool column
    /// is the better of them).
    var extras: [(name: String, value: Double)] = []
    /// A note shown under the table (e.g. what the baseline cost other tasks).
    var note: String? = nil

    /// Spool's advantage: > 1 means Spool is better, whichever way the unit points.
    var ratio: Double {
        guard spool > 0, baseline > 0 else { return 0 }
        return higherIsBetter ? spool / baseline : baseline / spool
    }

    /// The row as a JSON object.
    var json: String {
        var fields = [
            "\"name\": \(quoted(name))", "\"title\": \(quoted(title))", "\"unit\": \(quoted(unit))",
            "\"higher_is_better\": \(higherIsBetter)", "\"baseline_name\": \(quoted(baselineName))",
        ]
        if let skipped {
            fields.append("\"skipped\": \(quoted(skipped))")
        } else if let failed {
            fields.append("\"failed\": \(quoted(failed))")
        } else {
            fields += ["\"spool\": \(number(spool))", "\"baseline\": \(number(baseline))", "\"ratio\": \(number(ratio))",
                       "\"verified\": \(verified)"]
            if let p50 { fields.append("\"p50_us\": {\"spool\": \(number(p50.spool)), \"baseline\": \(number(p50.baseline))}") }
            if let p99 { fields.append("\"p99_us\": {\"spool\": \(number(p99.spool)), \"baseline\": \(number(p99.baseline))}") }
            if !extras.isEmpty {
                fields.append("\"spool_by_mode\": {" + extras.map { "\(quoted($0.name)): \(number($0.value))" }.joined(separator: ", ") + "}")
            }
            if let note { fields.append("\"note\": \(quoted(note))") }
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}

/// `s` as a JSON string literal.
func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// `x` as a JSON number (finite; 3 decimals).
func number(_ x: Double) -> String { x.isFinite ? Formatting.fixed(x, 3) : "0" }
