// Shared by every fuzz target (compiled into each binary with Sources/Spool, as the module
// Spool): reading structured values off the fuzzer's bytes, and checks that abort (libFuzzer
// then saves the input as a crash artifact).

#if canImport(Glibc)
import Glibc
#endif

/// The fuzzer's bytes, consumed from the front.
struct FuzzReader {
    private(set) var bytes: ArraySlice<UInt8>

    init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size))[...] : []
    }

    var isEmpty: Bool { bytes.isEmpty }

    /// The next byte, or 0 when none are left.
    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    /// The next `n` bytes as a little-endian integer (missing bytes read as 0).
    mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: byte()) << (8 * i) }
        return value
    }

    /// Everything left.
    mutating func rest() -> [UInt8] {
        defer { bytes = [] }
        return Array(bytes)
    }
}

/// Checks. A failed one prints what went wrong and aborts: libFuzzer records the input.
enum Fuzz {
    static func fail(_ message: String) -> Never {
        writeStderr("\nFUZZ CHECK FAILED: \(message)\n")
        abort()
    }

    @inline(__always)
    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }
}

/// Bytes shown as a Swift array literal (for reports).
func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    "[" + bytes.map { "0x" + String($0, radix: 16) }.joined(separator: ", ") + "]"
}

/// A string shown with its UTF-8 bytes.
func show(_ s: String) -> String { "\(s.debugDescription) utf8=\(hex(s.utf8))" }

/// Writes `text` to standard error (unbuffered: it must be out before an abort).
func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
