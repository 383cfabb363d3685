// Checks of a SocketAddress shared by the address targets.

#if canImport(Glibc)
import Glibc
#endif

/// The documented contract of `SocketAddress.description`: ``init(_:)`` parses it back to an
/// equal address, "except for the few addresses only the kernel produces: an unnamed Unix
/// socket ("unix:"), and Unix names that are not UTF-8 or contain NUL bytes".
func checkDescriptionRoundTrip(_ a: SocketAddress, origin: @autoclosure () -> String) {
    let text = a.description
    switch a.storage {
    case .unnamedUnix:
        Fuzz.check(text == "unix:", "\(origin()): unnamed Unix description \(show(text))")
        return
    case .unix(let path, _):
        if path.contains(0) || String(validating: path, as: UTF8.self) == nil { return }
    default:
        break
    }
    let back: SocketAddress
    do throws(SocketAddressError) {
        back = try SocketAddress(text)
    } catch {
        descriptionRoundTripFailed(a, text: text, outcome: "throws \(error.reason)", origin: origin())
        return
    }
    if back != a {
        descriptionRoundTripFailed(a, text: text, outcome: "parses to \(back.storage)", origin: origin())
        return
    }
    Fuzz.check(back.hashValue == a.hashValue, "\(origin()): equal addresses with different hashes")
    Fuzz.check(back.description == text, "\(origin()): description \(show(text)) reparsed prints \(show(back.description))")
}

/// Classifies a failed description round trip: a reported bug (scripts/fuzz/README.md,
/// "Findings") is counted; anything else stops the run.
private func descriptionRoundTripFailed(_ a: SocketAddress, text: String, outcome: String, origin: String) {
    let message = "\(origin): description \(show(text)) of \(a.storage) \(outcome)"
    if case .unix(let path, let abstract) = a.storage {
        if !abstract && path.first == UInt8(ascii: "@") {
            // A file path beginning with "@" prints as "unix:@…", which is the abstract form.
            return Fuzz.knownIssue("unix-path-at-sign", message)
        }
        if abstract && path.isEmpty {
            // An abstract name of no bytes (sun_path[0] == 0, length 3) prints as "unix:@",
            // which init(_:) refuses as an empty path.
            return Fuzz.knownIssue("unix-empty-abstract-name", message)
        }
        if path.count > SocketAddress.maximumUnixPathLength {
            // A kernel-reported path that fills sun_path (108 bytes, no NUL) prints as a
            // string init(_:) refuses as too long.
            return Fuzz.knownIssue("unix-path-fills-sun-path", message)
        }
    }
    if joinsSyntaxGrapheme(text) {
        return Fuzz.knownIssue("grapheme-syntax", message)
    }
    Fuzz.fail(message)
}

/// The ASCII characters `init(_:)` splits on.
private let syntaxScalars: Set<Unicode.Scalar> = [":", "@", "[", "]", "%"]

/// Whether a syntax character of `string` shares its Character (extended grapheme cluster)
/// with a neighbouring scalar: a combining mark, ZWJ or variation selector after it, a
/// prepended mark before it. `init(_:)` matches with Character-based String methods
/// (`hasPrefix`, `firstIndex(of:)`, `lastIndex(of:)`), which then do not see it.
func joinsSyntaxGrapheme(_ string: String) -> Bool {
    string.contains { c in c.unicodeScalars.count > 1 && c.unicodeScalars.contains { syntaxScalars.contains($0) } }
}

/// `withSocketAddress` then `init?(_:length:)` gives the address back.
func checkSockaddrRoundTrip(_ a: SocketAddress, origin: @autoclosure () -> String) {
    let capacity = MemoryLayout<sockaddr_storage>.size
    let (back, length, family) = a.withSocketAddress { p, n -> (SocketAddress?, socklen_t, sa_family_t) in
        Fuzz.check(Int(n) >= MemoryLayout<sa_family_t>.size && Int(n) <= capacity, "\(origin()): sockaddr length \(n)")
        // The decoder's contract: a pointer to a whole sockaddr_storage.
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: p, count: Int(n))) }
        let decoded = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: n) } }
        return (decoded, n, p.pointee.sa_family)
    }
    let expectedFamily: Int32 = switch a.family { case .ipv4: AF_INET; case .ipv6: AF_INET6; case .unix: AF_UNIX }
    Fuzz.check(Int32(family) == expectedFamily, "\(origin()): sa_family \(family) for \(a.family)")
    if case .unix = a.storage {
        Fuzz.check(Int(length) <= MemoryLayout<sockaddr_un>.size, "\(origin()): unix sockaddr length \(length)")
    }
    Fuzz.check(back == a, "\(origin()): \(a.storage) → sockaddr (\(length) bytes) → \(String(describing: back?.storage))")
}
