// Fuzz target: SocketAddress's string initialisers (Sources/Spool/IO/Sockets/SocketAddress.swift).
//
// The input's bytes, decoded as UTF-8 (invalid sequences become U+FFFD, as for any String),
// are given to every string initialiser: `init(_:)` ("host:port", "[v6]:port", "unix:…"),
// `init(ipv4:port:)`, `init(ipv6:port:)`, `init(abstractUnixName:)` and `init(unixPath:)`.
// Beyond "no crash", each result is checked against what the API documents:
//   - a parsed address's `description` parses back to an equal address (and equal hash), a
//     relative path beginning with "@" to "./" + that path (support/AddressChecks.swift);
//   - a zone given by name is exactly the interface the scope ID names ("lo:x" is unknown);
//   - the address survives `withSocketAddress` → `init?(_:length:)` (sockaddr round trip);
//   - `init(_:)` classifies by the input's bytes: "unix:" → a Unix address or a Unix error,
//     "[" → IPv6 or an IPv6/port error, anything else → IPv4 or an IPv4/port error; a Unix
//     address's bytes are exactly the input's after "unix:" (or "unix:@", abstract);
//   - the Unix initialisers succeed exactly when the bytes are non-empty, NUL-free and at
//     most `maximumUnixPathLength` long, and otherwise throw that reason;
//   - a thrown error's `input` is the string parsed.

import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func spoolFuzzSocketAddressParse(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzReader(data, size)
    let string = String(decoding: input.rest(), as: UTF8.self)
    fuzzParse(string)
    fuzzAbstractName(string)
    fuzzUnixPath(string)
    fuzzIPv4Host(string)
    fuzzIPv6Host(string)
    return 0
}

private let unixPrefix = Array("unix:".utf8)

/// `init(_:)`: the general form.
private func fuzzParse(_ string: String) {
    let bytes = Array(string.utf8)
    let result: Result<SocketAddress, SocketAddressError>
    do throws(SocketAddressError) { result = .success(try SocketAddress(string)) } catch { result = .failure(error) }

    if bytes.starts(with: unixPrefix) {
        // A Unix address, named by the bytes after the prefix (abstract after "unix:@").
        let rest = Array(bytes.dropFirst(unixPrefix.count))
        let abstract = rest.first == UInt8(ascii: "@")
        let name = abstract ? Array(rest.dropFirst()) : rest
        switch result {
        case .success(let a):
            guard case .unix(let path, let isAbstract) = a.storage else {
                Fuzz.fail("\(show(string)) starts with \"unix:\" but parsed as \(a.storage)")
            }
            if path != name || isAbstract != abstract {
                Fuzz.fail("\(show(string)) parsed as unix path \(hex(path)) abstract=\(isAbstract); expected \(hex(name)) abstract=\(abstract)")
            }
        case .failure(let e):
            Fuzz.check(e.input == string, "error input \(show(e.input)) for \(show(string))")
            guard let expected = unixError(name) else {
                Fuzz.fail("unix name \(hex(name)) (input \(show(string))) is valid but failed with \(e.reason)")
            }
            if e.reason != expected {
                Fuzz.fail("unix name \(hex(name)) (input \(show(string))): \(e.reason), expected \(expected)")
            }
        }
    } else if bytes.first == UInt8(ascii: "[") {
        switch result {
        case .success(let a):
            if a.family != .ipv6 { Fuzz.fail("\(show(string)) starts with \"[\" but parsed as \(a.storage)") }
        case .failure(let e):
            Fuzz.check(e.input == string, "error input \(show(e.input)) for \(show(string))")
            switch e.reason {
            case .badIPv6, .missingPort, .badPort, .badZone, .unknownInterface: break
            default: Fuzz.fail("\(show(string)) starts with \"[\" but failed with \(e.reason)")
            }
        }
    } else {
        switch result {
        case .success(let a):
            if a.family != .ipv4 { Fuzz.fail("\(show(string)) parsed as \(a.storage)") }
        case .failure(let e):
            Fuzz.check(e.input == string, "error input \(show(e.input)) for \(show(string))")
            switch e.reason {
            case .empty: Fuzz.check(bytes.isEmpty, "\(show(string)) reported empty")
            case .missingPort, .badPort, .badIPv4, .unbracketedIPv6: Fuzz.check(!bytes.isEmpty, "empty input not reported empty")
            default: Fuzz.fail("\(show(string)) failed with \(e.reason)")
            }
        }
    }

    guard case .success(let a) = result else { return }
    _ = a.host; _ = a.unixPath; _ = a.isAbstract; _ = a.isUnnamedUnix
    if a.family != .unix {
        // The port is the decimal number after the last colon.
        let digits = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).last ?? []
        if a.port.map({ UInt64($0) }) != UInt64(String(decoding: digits, as: UTF8.self)) {
            Fuzz.fail("\(show(string)) parsed port \(String(describing: a.port))")
        }
        Fuzz.check(a.host != nil, "\(show(string)): no host text")
    }
    if a.family == .ipv6, let open = bytes.firstIndex(of: UInt8(ascii: "[")), let close = bytes.firstIndex(of: UInt8(ascii: "]")), open < close {
        checkZone(String(decoding: bytes[(open + 1)..<close], as: UTF8.self), a, origin: "init(_: \(show(string)))")
    }
    checkDescriptionRoundTrip(a, origin: "init(_: \(show(string)))")
    checkSockaddrRoundTrip(a, origin: "init(_: \(show(string)))")
}

/// The zone (after the first "%") of an IPv6 host text.
private func zone(of host: String) -> String? {
    guard let percent = host.utf8.firstIndex(of: UInt8(ascii: "%")) else { return nil }
    return String(decoding: host.utf8[host.utf8.index(after: percent)...], as: UTF8.self)
}

/// A zone given by name names the interface whose index became the scope ID
/// (`unknownInterface` otherwise, as documented); a numeric zone is that number.
private func checkZone(_ host: String, _ a: SocketAddress, origin: @autoclosure () -> String) {
    guard case .ipv6(_, _, _, let scope) = a.storage else { return }
    guard let z = zone(of: host) else {
        Fuzz.check(scope == 0, "\(origin()): scope \(scope) without a zone")
        return
    }
    if !z.isEmpty && z.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
        Fuzz.check(UInt32(z) == scope, "\(origin()): zone \(show(z)) gave scope \(scope)")
        return
    }
    var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
    let named = if_indextoname(scope, &name).map { _ in String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    // Exactly that name: Linux's lookup (if_nametoindex, SIOCGIFINDEX) drops a ":label"
    // suffix, so "lo:x" would give lo's index, but the documentation says unknownInterface.
    Fuzz.check(named == z, "\(origin()): zone \(show(z)) accepted as scope \(scope), the interface \(String(describing: named))")
}

/// Why a Unix name is refused, in the order the initialisers check; nil: it is valid.
private func unixError(_ name: [UInt8]) -> SocketAddressError.Reason? {
    if name.isEmpty { return .emptyPath }
    if name.contains(0) { return .nulInPath }
    if name.count > SocketAddress.maximumUnixPathLength {
        return .pathTooLong(length: name.count, maximum: SocketAddress.maximumUnixPathLength)
    }
    return nil
}

/// A Unix initialiser's error for `name` is the one `unixError` expects.
private func checkUnixError(_ e: SocketAddressError, name: [UInt8], input: String) {
    Fuzz.check(e.input == input, "error input \(show(e.input)) for \(show(input))")
    guard let expected = unixError(name) else {
        Fuzz.fail("unix name \(hex(name)) (input \(show(input))) is valid but failed with \(e.reason)")
    }
    Fuzz.check(e.reason == expected, "unix name \(hex(name)) (input \(show(input))): \(e.reason), expected \(expected)")
    Fuzz.check(!e.description.isEmpty, "empty error description")
}

/// `init(abstractUnixName:)`.
private func fuzzAbstractName(_ string: String) {
    let name = Array(string.utf8)
    do throws(SocketAddressError) {
        let a = try SocketAddress(abstractUnixName: string)
        Fuzz.check(!name.isEmpty && !name.contains(0) && name.count <= SocketAddress.maximumUnixPathLength,
                   "abstract name \(show(string)) accepted")
        Fuzz.check(a.isAbstract && a.family == .unix && a.port == nil && a.host == nil, "abstract \(show(string)): \(a.storage)")
        Fuzz.check(a.unixPath == string, "abstract \(show(string)): unixPath \(String(describing: a.unixPath))")
        checkDescriptionRoundTrip(a, origin: "init(abstractUnixName: \(show(string)))")
        checkSockaddrRoundTrip(a, origin: "init(abstractUnixName: \(show(string)))")
    } catch {
        checkUnixError(error, name: name, input: "@" + string)
    }
}

/// `init(unixPath:)`.
private func fuzzUnixPath(_ string: String) {
    let path = FilePath(string)
    // The bytes the initialiser takes: the path's C string (FilePath normalises separators).
    let name = path.withPlatformString { p in Array(UnsafeBufferPointer(start: p, count: strlen(p))).map { UInt8(bitPattern: $0) } }
    do throws(SocketAddressError) {
        let a = try SocketAddress(unixPath: path)
        Fuzz.check(!name.isEmpty && name.count <= SocketAddress.maximumUnixPathLength, "unix path \(hex(name)) accepted")
        guard case .unix(let stored, false) = a.storage, stored == name else {
            Fuzz.fail("unixPath \(show(string)) stored as \(a.storage), expected \(hex(name))")
        }
        checkDescriptionRoundTrip(a, origin: "init(unixPath: \(show(string)))")
        checkSockaddrRoundTrip(a, origin: "init(unixPath: \(show(string)))")
    } catch {
        checkUnixError(error, name: name, input: path.string)
    }
}

/// `init(ipv4:port:)`: agrees with `init(_:)` on "host:port".
private func fuzzIPv4Host(_ string: String) {
    do throws(SocketAddressError) {
        let a = try SocketAddress(ipv4: string, port: 8080)
        Fuzz.check(a.family == .ipv4 && a.port == 8080, "ipv4 \(show(string)): \(a.storage)")
        let b: SocketAddress
        do throws(SocketAddressError) { b = try SocketAddress(string + ":8080") } catch {
            Fuzz.fail("ipv4 host \(show(string)) accepted, but \"host:8080\" failed: \(error)")
        }
        Fuzz.check(a == b, "ipv4 \(show(string)): \(a.storage) vs \(b.storage)")
        checkDescriptionRoundTrip(a, origin: "init(ipv4: \(show(string)))")
        checkSockaddrRoundTrip(a, origin: "init(ipv4: \(show(string)))")
    } catch {
        Fuzz.check(error.input == string, "error input \(show(error.input)) for \(show(string))")
        guard case .badIPv4 = error.reason else { Fuzz.fail("ipv4 \(show(string)): \(error.reason)") }
    }
}

/// `init(ipv6:port:)`: agrees with `init(_:)` on "[host]:port".
private func fuzzIPv6Host(_ string: String) {
    do throws(SocketAddressError) {
        let a = try SocketAddress(ipv6: string, port: 443)
        Fuzz.check(a.family == .ipv6 && a.port == 443, "ipv6 \(show(string)): \(a.storage)")
        let b: SocketAddress
        do throws(SocketAddressError) { b = try SocketAddress("[" + string + "]:443") } catch {
            Fuzz.fail("ipv6 host \(show(string)) accepted, but \"[host]:443\" failed: \(error)")
        }
        Fuzz.check(a == b, "ipv6 \(show(string)): \(a.storage) vs \(b.storage)")
        checkZone(string, a, origin: "init(ipv6: \(show(string)))")
        checkDescriptionRoundTrip(a, origin: "init(ipv6: \(show(string)))")
        checkSockaddrRoundTrip(a, origin: "init(ipv6: \(show(string)))")
    } catch {
        Fuzz.check(error.input == string, "error input \(show(error.input)) for \(show(string))")
        switch error.reason {
        case .badIPv6, .badZone, .unknownInterface: break
        default: Fuzz.fail("ipv6 \(show(string)): \(error.reason)")
        }
    }
}
