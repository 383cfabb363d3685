#if canImport(Glibc)
import Glibc
#endif

/// What `spool bench` shows while it runs, on standard error: one line rewritten in place on
/// a terminal, plain lines otherwise (a log, a pipe).
///
/// **Thread-safety:** called from the bench's one driving task only.
struct BenchProgress {
    let live = isatty(2) != 0
    private var width = 0

    /// Shows `text` as the current step.
    mutating func show(_ text: String) {
        if live {
            let padded = text + String(repeating: " ", count: max(0, width - text.count))
            writeStandardError("\r" + padded)
            width = text.count
        } else {
            writeStandardError(text + "\n")
        }
    }

    /// Clears the live line (before the table).
    mutating func finish() {
        if live && width > 0 { writeStandardError("\r" + String(repeating: " ", count: width) + "\r") }
        width = 0
    }
}
