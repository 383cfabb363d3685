import Glibc
@testable import Spool
import SystemPackage
import Testing

/// Inputs the libFuzzer targets of scripts/fuzz/ found (scripts/fuzz/README.md, "Findings";
/// the fuzz harness names each class, given here in brackets). Each test asserts what the API
/// documents; each failed before its fix (or, for the kernel-only addresses, before the
/// documentation named them as exceptions).
@Suite struct FuzzRegressionTests {
    /// The address the kernel would report as the first `length` bytes of a `sockaddr_storage`
    /// holding `bytes` (the rest zero).
    private static func decode(_ bytes: [UInt8], length: Int) -> SocketAddress? {
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            for (i, b) in bytes.enumerated() where i < raw.count { raw[i] = b }
        }
        return withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: socklen_t(length)) }
        }
    }

    // MARK: [grapheme-syntax] init(_:) matches its syntax as Characters, the format is bytes

    /// `"unix:@\u{301}"` is "unix:@" and the abstract name U+0301, but `"@\u{301}"` is one
    /// Character, so `rest.hasPrefix("@")` (SocketAddress.swift, init(_:)) was false and the
    /// string was silently taken as the *file* path "@\u{301}".
    @Test("\"unix:@\" + a name starting with a combining mark is that abstract name")
    func abstractNameStartingWithCombiningMark() throws {
        let expected = try SocketAddress(abstractUnixName: "\u{301}")
        let parsed = try SocketAddress("unix:@\u{301}")
        #expect(parsed.isAbstract)
        #expect(parsed == expected)
    }

    /// `"unix:\u{301}"`: ":" and U+0301 form one Character, so `string.hasPrefix("unix:")` is
    /// false and the string falls through to the IPv4 branch (throwing `.missingPort`).
    @Test("\"unix:\" + a path starting with a combining mark is that file path")
    func filePathStartingWithCombiningMark() throws {
        let expected = try SocketAddress(unixPath: FilePath("\u{301}"))
        let parsed = try SocketAddress("unix:\u{301}")
        #expect(parsed == expected)
    }

    /// `"[\u{301}::1]:80"` starts with "[": it is a (bad) bracketed IPv6 address, not an
    /// unbracketed one (`hasPrefix("[")` is false for "[\u{301}").
    @Test("\"[\" + a combining mark is reported as a bad IPv6 address")
    func bracketFollowedByCombiningMark() {
        #expect(throws: SocketAddressError(input: "[\u{301}::1]:80", reason: .badIPv6("\u{301}::1"))) {
            try SocketAddress("[\u{301}::1]:80")
        }
    }

    /// The documented round trip of `description` (a UTF-8, NUL-free name): the fuzzer's
    /// minimal input was the abstract name U+034C.
    @Test("an abstract name starting with a combining mark prints a string that parses back")
    func abstractNameDescriptionRoundTrip() throws {
        let address = try SocketAddress(abstractUnixName: "\u{34C}")
        #expect(address.description == "unix:@\u{34C}")
        let back = try SocketAddress(address.description)
        #expect(back == address)
    }

    // MARK: [unix-path-at-sign] a file path beginning with "@" prints as the abstract form

    /// `SocketAddress(unixPath: "@x").description` was "unix:@x", which init(_:) parses as the
    /// abstract name "x": a different socket (no file at all). It prints "unix:./@x" now.
    @Test("a relative file path beginning with \"@\" prints a string that parses back to the same file")
    func filePathStartingWithAtSign() throws {
        let path = try SocketAddress(unixPath: "@x")
        #expect(!path.isAbstract && path.unixPath == "@x")
        #expect(path.description == "unix:./@x")
        let back = try SocketAddress(path.description)
        #expect(!back.isAbstract)
        #expect(back.unixPath == "./@x", "the same file")
        // The fuzzer's minimal input: the path "@" printed "unix:@", which throws .emptyPath.
        let at = try SocketAddress(unixPath: "@")
        let atBack = try SocketAddress(at.description)
        #expect(!atBack.isAbstract && atBack.unixPath == "./@")
        // The strict rerun's finding: at 106 bytes the "./" makes the string too long, a
        // documented exception; at 105 it still parses back.
        let long = try SocketAddress(unixPath: FilePath("@" + String(repeating: "p", count: 105)))
        #expect(throws: SocketAddressError(input: long.description, reason: .pathTooLong(length: 108, maximum: 107))) {
            try SocketAddress(long.description)
        }
        let fits = try SocketAddress(unixPath: FilePath("@" + String(repeating: "p", count: 104)))
        #expect(try SocketAddress(fits.description).unixPath == "./" + (fits.unixPath ?? ""))
    }

    // MARK: [unix-path-fills-sun-path] a kernel path of 108 bytes prints a string init(_:) refuses

    /// Linux accepts (and getsockname reports) a `sun_path` filled without a NUL: length 110.
    /// Its description names a 108-byte path, above `maximumUnixPathLength` (107), so init(_:)
    /// throws `.pathTooLong(length: 108, maximum: 107)`; the exceptions the documentation of
    /// `description` lists do not include it.
    @Test("a sun_path filled to the end decodes, and its description parses back")
    func kernelPathFillingSunPath() throws {
        let address = try #require(Self.decode([1, 0] + [UInt8](repeating: 0x70, count: 108), length: 110))
        #expect(address.unixPath == String(repeating: "p", count: 108) && !address.isAbstract)
        // A documented exception of `description`: only the kernel makes such an address.
        #expect(throws: SocketAddressError(input: address.description, reason: .pathTooLong(length: 108, maximum: 107))) {
            try SocketAddress(address.description)
        }
    }

    // MARK: [unix-empty-abstract-name] an abstract name of no bytes prints "unix:@"

    /// A `sockaddr_un` of length 3 with `sun_path[0] == 0` is the abstract name of no bytes
    /// (the decoder keeps it: "abstract: exactly the bytes, even none"); its description
    /// "unix:@" throws `.emptyPath`, and the documented exceptions do not include it.
    @Test("an empty abstract name decodes, and its description parses back")
    func emptyAbstractName() throws {
        let address = try #require(Self.decode([1, 0, 0], length: 3))
        #expect(address.isAbstract && address.unixPath == "")
        #expect(address.description == "unix:@")
        // A documented exception of `description`: only the kernel makes such an address.
        #expect(throws: SocketAddressError(input: "unix:@", reason: .emptyPath)) { try SocketAddress(address.description) }
    }

    // MARK: [zone-alias-suffix] a zone "name:anything" is taken as the interface "name"

    /// The zone is looked up with if_nametoindex, and Linux's SIOCGIFINDEX drops a ":label"
    /// suffix (IPv4 alias syntax): "lo:x" names no interface, yet it is accepted as lo's index
    /// instead of throwing the documented `.unknownInterface`. With a "]" in the suffix the
    /// fuzzer's input `init(ipv6: "::%lo:[]:", port: 443)` is accepted, while the same host in
    /// brackets, "[::%lo:[]:]:443", throws `.badPort("]:443")`.
    @Test("a zone that is an interface name plus \":label\" is an unknown interface")
    func zoneWithAliasSuffix() throws {
        #expect(if_nametoindex("lo") != 0, "the loopback interface is \"lo\" on Linux")
        #expect(throws: SocketAddressError(input: "[fe80::1%lo:x]:80", reason: .unknownInterface("lo:x"))) {
            try SocketAddress("[fe80::1%lo:x]:80")
        }
        #expect(throws: SocketAddressError(input: "::%lo:[]:", reason: .unknownInterface("lo:[]:"))) {
            try SocketAddress(ipv6: "::%lo:[]:", port: 443)
        }
        let exact = try SocketAddress("[fe80::1%lo]:80")
        #expect(exact == (try SocketAddress("[fe80::1%\(if_nametoindex("lo"))]:80")), "an exact interface name still works")
    }
}
