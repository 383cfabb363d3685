import Glibc
@testable import Spool
import SystemPackage
import Testing

/// `SocketAddress`: parsing, printing, and the `sockaddr` the kernel sees (checked by binding
/// real sockets and reading the address back with `getsockname`).
@Suite("Socket addresses")
struct SocketAddressTests {
    @Test("well-formed strings parse and print back the same", arguments: [
        "127.0.0.1:8080", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:8080", "[::]:0",
        "[2001:db8::1]:443", "[fe80::1%1]:80", "unix:/run/app.sock", "unix:@spool-name", "unix:relative.sock",
    ])
    func roundTrip(_ text: String) throws {
        let address = try SocketAddress(text)
        #expect(address.description == text)
        #expect(try SocketAddress(address.description) == address)
    }

    @Test("the parts: family, host, port, path")
    func parts() throws {
        let v4 = try SocketAddress("10.1.2.3:99")
        #expect(v4.family == .ipv4 && v4.host == "10.1.2.3" && v4.port == 99 && v4.unixPath == nil)
        let v6 = try SocketAddress("[::ffff:10.1.2.3]:7")
        #expect(v6.family == .ipv6 && v6.host == "::ffff:10.1.2.3" && v6.port == 7)
        let unix = try SocketAddress("unix:/tmp/x.sock")
        #expect(unix.family == .unix && unix.unixPath == "/tmp/x.sock" && !unix.isAbstract && unix.port == nil && unix.host == nil)
        let abstract = try SocketAddress("unix:@name")
        #expect(abstract.isAbstract && abstract.unixPath == "name")
        #expect(SocketAddress.ipv4Loopback(port: 1) == (try SocketAddress("127.0.0.1:1")))
        #expect(SocketAddress.ipv6Loopback(port: 2) == (try SocketAddress("[::1]:2")))
        #expect(SocketAddress.ipv4Any(port: 3) == (try SocketAddress(ipv4: "0.0.0.0", port: 3)))
        #expect(SocketAddress.ipv6Any(port: 4) == (try SocketAddress(ipv6: "::", port: 4)))
        #expect(try SocketAddress(unixPath: "/a/b") == SocketAddress("unix:/a/b"))
        #expect(try SocketAddress(abstractUnixName: "n") == SocketAddress("unix:@n"))
        // A zone by interface name: the loopback interface is "lo" on Linux.
        let zoned = try SocketAddress("[fe80::1%lo]:80")
        #expect(zoned.host == "fe80::1%\(if_nametoindex("lo"))")
    }

    @Test("malformed strings each get a clear, typed error", arguments: [
        ("", SocketAddressError.Reason.empty),
        ("127.0.0.1", .missingPort),
        ("127.0.0.1:", .missingPort),
        ("127.0.0.1:65536", .badPort("65536")),
        ("127.0.0.1:-1", .badPort("-1")),
        ("127.0.0.1:+80", .badPort("+80")),
        ("127.0.0.1:80a", .badPort("80a")),
        ("127.0.0.1:0000080", .badPort("0000080")),
        ("256.0.0.1:80", .badIPv4("256.0.0.1")),
        ("localhost:80", .badIPv4("localhost")),
        (":80", .badIPv4("")),
        ("::1:80", .unbracketedIPv6),
        ("[::1]", .missingPort),
        ("[::1:80", .badIPv6("no closing bracket")),
        ("[::g]:80", .badIPv6("::g")),
        ("[]:80", .badIPv6("")),
        ("[fe80::1%no-such-interface0]:80", .unknownInterface("no-such-interface0")),
        ("[::1%]:80", .badZone("")),
        ("[::1%99999999999]:80", .badZone("99999999999")),
        ("[zz%eth9]:80", .badIPv6("zz")),
        ("127.0.0.1\u{0}junk:80", .badIPv4("127.0.0.1\u{0}junk")),
        ("[::1\u{0}x]:80", .badIPv6("::1\u{0}x")),
        ("[fe80::1%lo\u{0}x]:80", .badZone("lo\u{0}x")),
        ("unix:", .emptyPath),
        ("unix:@", .emptyPath),
        ("unix:/a\u{0}b", .nulInPath),
    ])
    func malformed(_ text: String, _ reason: SocketAddressError.Reason) {
        do {
            let address = try SocketAddress(text)
            Issue.record("\"\(text)\" parsed as \(address)")
        } catch {
            #expect(error.reason == reason)
            #expect(error.input == text)
            #expect(error.description.contains("bad socket address"))
        }
    }

    @Test("a Unix path longer than sun_path is refused with its length and the limit")
    func unixPathTooLong() {
        let maximum = SocketAddress.maximumUnixPathLength
        #expect(maximum == 107)
        let fits = "/" + String(repeating: "a", count: maximum - 1)
        #expect((try? SocketAddress("unix:" + fits)) != nil)
        #expect((try? SocketAddress("unix:@" + String(repeating: "b", count: maximum))) != nil)
        do {
            _ = try SocketAddress("unix:" + fits + "a")
            Issue.record("a path of \(maximum + 1) bytes parsed")
        } catch {
            #expect(error.reason == .pathTooLong(length: maximum + 1, maximum: maximum))
        }
    }

    /// Binds a socket of `address`'s family to it and reads the kernel's view back.
    func boundAddress(_ address: SocketAddress, type: Int32 = Int32(SOCK_STREAM.rawValue)) throws -> SocketAddress {
        let domain: Int32
        switch address.family {
        case .ipv4: domain = AF_INET
        case .ipv6: domain = AF_INET6
        case .unix: domain = AF_UNIX
        }
        let fd = socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        let bound = address.withSocketAddress { bind(fd, $0, $1) }
        try #require(bound == 0, "bind \(address): errno \(errno)")
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try #require(got == 0)
        return try #require(withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
        })
    }

    @Test("the kernel sees the address as written: IPv4, IPv6 loopback, Unix file, abstract name")
    func kernelRoundTrip() throws {
        let v4 = try boundAddress(SocketAddress("127.0.0.1:0"))
        #expect(v4.family == .ipv4 && v4.host == "127.0.0.1" && (v4.port ?? 0) > 0)
        let v6 = try boundAddress(SocketAddress("[::1]:0"))
        #expect(v6.family == .ipv6 && v6.host == "::1" && (v6.port ?? 0) > 0)
        let dir = TemporaryDirectory()
        let file = try SocketAddress(unixPath: dir.file("s.sock"))
        #expect(try boundAddress(file) == file)
        let abstract = try SocketAddress(abstractUnixName: "spool-test-\(getpid())")
        #expect(try boundAddress(abstract) == abstract)
    }

    @Test("Unix addresses only the kernel makes: unnamed, autobound, a full-length path, non-UTF-8 bytes")
    func kernelUnixAddresses() throws {
        // An unnamed socket (one end of a socketpair).
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(pair[0], $0, &length) } }
        let unnamed = try #require(withUnsafePointer(to: &storage) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) } })
        #expect(unnamed.family == .unix && unnamed.unixPath == "" && !unnamed.isAbstract && unnamed.description == "unix:")
        #expect(unnamed.withSocketAddress { $1 } == length, "encodes back to the kernel's own length")

        // Autobind: binding with only the family makes the kernel pick an abstract name.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(unnamed.withSocketAddress { bind(fd, $0, $1) } == 0)
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let autobound = try #require(withUnsafePointer(to: &storage) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) } })
        #expect(autobound.isAbstract && autobound.unixPath?.utf8.count == 5)
        #expect(autobound.withSocketAddress { $1 } == length)

        // A file path of the greatest length sun_path holds with its terminator.
        let dir = TemporaryDirectory()
        let name = String(repeating: "p", count: SocketAddress.maximumUnixPathLength - dir.path.utf8.count - 1)
        let longest = try SocketAddress(unixPath: FilePath(dir.path + "/" + name))
        #expect(longest.unixPath?.utf8.count == SocketAddress.maximumUnixPathLength)
        #expect(try boundAddress(longest) == longest)

        // Non-UTF-8 bytes in a path reach the kernel unchanged.
        let raw: [UInt8] = Array(dir.path.utf8) + [UInt8(ascii: "/"), 0xff, 0xfe]
        let cString = raw.map { CChar(bitPattern: $0) } + [0]
        let oddPath = cString.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
        let odd = try SocketAddress(unixPath: oddPath)
        #expect(try boundAddress(odd) == odd)
    }

    @Test("addresses the kernel writes that Spool does not take are nil, not a crash")
    func foreignAddresses() {
        var raw = sockaddr_storage()
        raw.ss_family = sa_family_t(AF_PACKET)
        let packet = withUnsafePointer(to: &raw) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: socklen_t(MemoryLayout<sockaddr_storage>.size)) }
        }
        #expect(packet == nil)
        raw.ss_family = sa_family_t(AF_INET6)
        let short = withUnsafePointer(to: &raw) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: 8) }
        }
        #expect(short == nil, "too short for sockaddr_in6")
        let empty = withUnsafePointer(to: &raw) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: 0) }
        }
        #expect(empty == nil)
    }
}
