// Checks of a SocketAddress shared by the address targets.

#if canImport(Glibc)
import Glibc
#endif

/// The size of `sun_path` (108 on Linux): a path from the kernel can fill it without a NUL.
let sunPathSize = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

/// The documented contract of `SocketAddress.description`
/// (Sources/Spool/IO/Sockets/SocketAddress.swift): ``init(_:)`` parses it back to an equal
/// address, "except for the few addresses only the kernel produces: an unnamed Unix socket
/// ("unix:"), Unix names that are not UTF-8 or contain NUL bytes, the empty abstract name
/// ("unix:@"), and a path that fills sun_path without a terminating NUL (108 bytes, one more
/// than init(unixPath:) takes). A relative path beginning with @ prints as "unix:./@…"
/// ("unix:@…" is the abstract form): it parses back to the same file, spelled with ./,
/// unless the path is 106 or 107 bytes long, which the ./ makes too long to parse."
/// Each exception is checked as far as the documentation says (the text it names, if any);
/// anything else that does not parse back stops the run.
func checkDescriptionRoundTrip(_ a: SocketAddress, origin: @autoclosure () -> String) {
    let text = a.description
    func failed(_ outcome: String) -> Never {
        Fuzz.fail("\(origin()): description \(show(text)) of \(a.storage) \(outcome)")
    }
    var expected = a.storage
    switch a.storage {
    case .unnamedUnix:
        Fuzz.check(text == "unix:", "\(origin()): unnamed Unix description \(show(text))")
        return
    case .unix(let path, let abstract):
        // Documented exceptions (only the kernel reports these).
        if path.contains(0) || String(validating: path, as: UTF8.self) == nil { return }
        if abstract && path.isEmpty {
            Fuzz.check(text == "unix:@", "\(origin()): empty abstract name description \(show(text))")
            return
        }
        if !abstract && path.count == sunPathSize { return }
        // A relative file path beginning with "@": "unix:./" + path, the same file.
        if !abstract && path.first == UInt8(ascii: "@") {
            let spelled = Array("./".utf8) + path
            Fuzz.check(Array(text.utf8) == Array("unix:".utf8) + spelled,
                       "\(origin()): description \(show(text)) of the file path \(hex(path)), expected \"unix:./\" + path")
            // Documented: at 106 or 107 bytes the spelled path is too long to parse back.
            if spelled.count > sunPathSize - 1 { return }
            expected = .unix(path: spelled, abstract: false)
        }
    default:
        break
    }
    let back: SocketAddress
    do throws(SocketAddressError) {
        back = try SocketAddress(text)
    } catch {
        failed("throws \(error.reason)")
    }
    if back.storage != expected {
        failed("parses to \(back.storage)" + (expected == a.storage ? "" : ", expected \(expected)"))
    }
    if expected == a.storage {
        Fuzz.check(back == a, "\(origin()): equal storage, unequal addresses")
        Fuzz.check(back.hashValue == a.hashValue, "\(origin()): equal addresses with different hashes")
    }
    Fuzz.check(back.description == text, "\(origin()): description \(show(text)) reparsed prints \(show(back.description))")
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
