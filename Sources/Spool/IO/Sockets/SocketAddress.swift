import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The address of a socket: IPv4, IPv6 or a Unix-domain path (including Linux's abstract
/// namespace). Parsed from the strings operators write, printed back the same way:
///
/// | string | address |
/// |---|---|
/// | `"127.0.0.1:8080"` | IPv4 and port |
/// | `"[::1]:8080"`, `"[fe80::1%eth0]:80"` | IPv6 (brackets required), optional zone, port |
/// | `"unix:/run/app.sock"` | a Unix socket file |
/// | `"unix:@name"` | a name in the abstract namespace (no file) |
///
/// Names are not resolved (`"localhost:80"` is an error): resolution is out of scope.
///
/// A plain value: `Sendable`, `Hashable`; no resources.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family. A plain value: `Sendable`.
    public enum Family: Sendable, Hashable {
        /// `AF_INET`.
        case ipv4
        /// `AF_INET6`.
        case ipv6
        /// `AF_UNIX` (files, abstract names, and unnamed sockets).
        case unix
    }

    enum Storage: Sendable, Hashable {
        /// `s_addr` as stored in memory (network byte order) and the port (host order).
        case ipv4(address: UInt32, port: UInt16)
        /// `in6_addr` as two words of memory, the port (host order) and the zone.
        case ipv6(high: UInt64, low: UInt64, port: UInt16, scopeID: UInt32)
        /// The path's bytes (no terminating NUL); `abstract`: the name lives in the abstract
        /// namespace (`sun_path[0] == 0`).
        case unix(path: [UInt8], abstract: Bool)
        /// A Unix socket with no name (a peer that never bound; only the kernel reports these).
        case unnamedUnix
    }

    let storage: Storage

    /// The longest Unix path (or abstract name) that fits `sun_path` with its terminator.
    public static let maximumUnixPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    init(storage: Storage) { self.storage = storage }

    // MARK: Parsing

    /// Parses `"a.b.c.d:port"`, `"[ipv6]:port"`, `"unix:/path"` or `"unix:@name"`.
    /// - Throws: ``SocketAddressError`` saying what is wrong with `string`.
    public init(_ string: String) throws(SocketAddressError) {
        func fail(_ reason: SocketAddressError.Reason) -> SocketAddressError { SocketAddressError(input: string, reason: reason) }
        if string.isEmpty { throw fail(.empty) }
        // The syntax is bytes: a combining mark after "@", "[" or ":" must not fuse with it
        // (Character comparison would), and every split is at an ASCII byte, so each part is
        // valid UTF-8 again.
        let bytes = Array(string.utf8)
        func text(_ part: ArraySlice<UInt8>) -> String { String(decoding: part, as: UTF8.self) }
        let colonByte = UInt8(ascii: ":")
        if bytes.starts(with: "unix:".utf8) {
            let rest = bytes[5...]
            if rest.first == UInt8(ascii: "@") {
                self = try Self.unix(Array(rest.dropFirst()), abstract: true, input: string)
            } else {
                self = try Self.unix(Array(rest), abstract: false, input: string)
            }
            return
        }
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { throw fail(.badIPv6("no closing bracket")) }
            let inside = text(bytes[1..<close])
            let after = bytes[(close + 1)...]
            guard after.first == colonByte else { throw fail(.missingPort) }
            let port = try Self.port(text(after.dropFirst()), input: string)
            self = try Self.ipv6(inside, port: port, input: string)
            return
        }
        guard let colon = bytes.lastIndex(of: colonByte) else { throw fail(.missingPort) }
        if bytes[..<colon].contains(colonByte) { throw fail(.unbracketedIPv6) }
        let port = try Self.port(text(bytes[(colon + 1)...]), input: string)
        self = try Self.ipv4(text(bytes[..<colon]), port: port, input: string)
    }

    /// An IPv4 address (dotted quad, `"0.0.0.0"` for any) and port.
    public init(ipv4 host: String, port: UInt16) throws(SocketAddressError) {
        self = try Self.ipv4(host, port: port, input: host)
    }

    /// An IPv6 address (without brackets; an optional `%zone` names an interface or its
    /// index) and port.
    public init(ipv6 host: String, port: UInt16) throws(SocketAddressError) {
        self = try Self.ipv6(host, port: port, input: host)
    }

    /// A Unix socket file at `path` (at most ``maximumUnixPathLength`` bytes).
    public init(unixPath path: FilePath) throws(SocketAddressError) {
        // The path's own bytes (a `FilePath` need not be UTF-8).
        let bytes = path.withPlatformString { p in Array(UnsafeBufferPointer(start: p, count: strlen(p))).map { UInt8(bitPattern: $0) } }
        self = try Self.unix(bytes, abstract: false, input: path.string)
    }

    /// A name in Linux's abstract Unix namespace (no file; at most ``maximumUnixPathLength``
    /// bytes).
    public init(abstractUnixName name: String) throws(SocketAddressError) {
        self = try Self.unix(Array(name.utf8), abstract: true, input: "@" + name)
    }

    /// `127.0.0.1:port`.
    public static func ipv4Loopback(port: UInt16) -> SocketAddress {
        SocketAddress(storage: .ipv4(address: UInt32(0x7f00_0001).bigEndian, port: port))
    }

    /// `0.0.0.0:port`: every IPv4 interface.
    public static func ipv4Any(port: UInt16) -> SocketAddress {
        SocketAddress(storage: .ipv4(address: 0, port: port))
    }

    /// `[::1]:port`.
    public static func ipv6Loopback(port: UInt16) -> SocketAddress {
        SocketAddress(storage: .ipv6(high: 0, low: UInt64(1).bigEndian, port: port, scopeID: 0))
    }

    /// `[::]:port`: every IPv6 interface (and IPv4 ones, unless the socket is IPv6-only).
    public static func ipv6Any(port: UInt16) -> SocketAddress {
        SocketAddress(storage: .ipv6(high: 0, low: 0, port: port, scopeID: 0))
    }

    private static func port(_ text: String, input: String) throws(SocketAddressError) -> UInt16 {
        guard !text.isEmpty else { throw SocketAddressError(input: input, reason: .missingPort) }
        guard text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text), value <= 65535 else {
            throw SocketAddressError(input: input, reason: .badPort(text))
        }
        return UInt16(value)
    }

    private static func ipv4(_ host: String, port: UInt16, input: String) throws(SocketAddressError) -> SocketAddress {
        var address = in_addr()
        // C sees a string only up to its first NUL: refuse one rather than parse a prefix.
        guard !host.isEmpty, !host.utf8.contains(0), inet_pton(AF_INET, host, &address) == 1 else {
            throw SocketAddressError(input: input, reason: .badIPv4(host))
        }
        return SocketAddress(storage: .ipv4(address: address.s_addr, port: port))
    }

    private static func ipv6(_ text: String, port: UInt16, input: String) throws(SocketAddressError) -> SocketAddress {
        var host = text
        var zone: String?
        let bytes = Array(text.utf8)
        if let percent = bytes.firstIndex(of: UInt8(ascii: "%")) {
            host = String(decoding: bytes[..<percent], as: UTF8.self)
            zone = String(decoding: bytes[(percent + 1)...], as: UTF8.self)
        }
        var address = in6_addr()
        // C sees a string only up to its first NUL: refuse one rather than parse a prefix.
        guard !host.isEmpty, !host.utf8.contains(0), inet_pton(AF_INET6, host, &address) == 1 else {
            throw SocketAddressError(input: input, reason: .badIPv6(host))
        }
        var scopeID: UInt32 = 0
        if let zone {
            if zone.isEmpty || zone.utf8.contains(0) {
                throw SocketAddressError(input: input, reason: .badZone(zone))
            } else if zone.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                guard let index = UInt32(zone) else { throw SocketAddressError(input: input, reason: .badZone(zone)) }
                scopeID = index
            } else {
                // Linux's lookup ignores a ":label" suffix (IPv4 alias syntax): "lo:x" would be
                // lo. The index must name exactly this interface.
                scopeID = if_nametoindex(zone)
                var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
                if scopeID == 0 || if_indextoname(scopeID, &name) == nil || String(cString: name) != zone {
                    throw SocketAddressError(input: input, reason: .unknownInterface(zone))
                }
            }
        }
        let (high, low) = withUnsafeBytes(of: address) { ($0.load(as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self)) }
        return SocketAddress(storage: .ipv6(high: high, low: low, port: port, scopeID: scopeID))
    }

    private static func unix(_ path: [UInt8], abstract: Bool, input: String) throws(SocketAddressError) -> SocketAddress {
        if path.isEmpty { throw SocketAddressError(input: input, reason: .emptyPath) }
        if path.contains(0) { throw SocketAddressError(input: input, reason: .nulInPath) }
        if path.count > maximumUnixPathLength {
            throw SocketAddressError(input: input, reason: .pathTooLong(length: path.count, maximum: maximumUnixPathLength))
        }
        return SocketAddress(storage: .unix(path: path, abstract: abstract))
    }

    // MARK: Reading

    /// The family.
    public var family: Family {
        switch storage {
        case .ipv4: return .ipv4
        case .ipv6: return .ipv6
        case .unix, .unnamedUnix: return .unix
        }
    }

    /// The port of an IP address; nil for a Unix address.
    public var port: UInt16? {
        switch storage {
        case .ipv4(_, let port), .ipv6(_, _, let port, _): return port
        case .unix, .unnamedUnix: return nil
        }
    }

    /// The host part of an IP address as text (`"127.0.0.1"`, `"::1"`, `"fe80::1%2"`); nil for
    /// a Unix address.
    public var host: String? {
        switch storage {
        case .ipv4(let address, _):
            var a = in_addr(s_addr: address)
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil else { return nil }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case .ipv6(let high, let low, _, let scopeID):
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { raw in
                raw.storeBytes(of: high, as: UInt64.self)
                raw.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil else { return nil }
            let base = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return scopeID == 0 ? base : "\(base)%\(scopeID)"
        case .unix, .unnamedUnix:
            return nil
        }
    }

    /// The path of a Unix socket file, or the name of an abstract one (see ``isAbstract``),
    /// decoded as UTF-8 (other bytes become U+FFFD: ``description`` then does not parse back
    /// to this address); empty for an unnamed Unix socket (a peer that never bound); nil for an
    /// IP address.
    public var unixPath: String? {
        switch storage {
        case .unix(let path, _): return String(decoding: path, as: UTF8.self)
        case .unnamedUnix: return ""
        default: return nil
        }
    }

    /// Whether this is a name in the abstract Unix namespace.
    public var isAbstract: Bool {
        if case .unix(_, true) = storage { return true }
        return false
    }

    /// Whether this is an unnamed Unix socket's address (a socket that never bound): one
    /// cannot bind, listen on or connect to it.
    public var isUnnamedUnix: Bool {
        if case .unnamedUnix = storage { return true }
        return false
    }

    /// The string form, which ``init(_:)`` parses back to an equal address, except for the
    /// few addresses only the kernel produces: an unnamed Unix socket (`"unix:"`), Unix names
    /// that are not UTF-8 or contain NUL bytes, the empty abstract name (`"unix:@"`), and a
    /// path that fills `sun_path` without a terminating NUL (108 bytes, one more than
    /// ``init(unixPath:)`` takes). A relative path beginning with `@` prints as `"unix:./@…"`
    /// (`"unix:@…"` is the abstract form): it parses back to the same file, spelled with `./`,
    /// unless the path is 106 or 107 bytes long, which the `./` makes too long to parse.
    public var description: String {
        switch storage {
        case .ipv4(_, let port): return "\(host ?? "?"):\(port)"
        case .ipv6(_, _, let port, _): return "[\(host ?? "?")]:\(port)"
        case .unix(_, let abstract):
            let path = unixPath ?? ""
            if !abstract && path.utf8.first == UInt8(ascii: "@") { return "unix:./\(path)" }
            return "unix:\(abstract ? "@" : "")\(path)"
        case .unnamedUnix: return "unix:"
        }
    }

    // MARK: sockaddr

    /// Calls `body` with this address as a `sockaddr` and its length (valid only inside
    /// `body`).
    func withSocketAddress<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        switch storage {
        case .ipv4(let address, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = in_addr(s_addr: address)
            return try withUnsafePointer(to: &sin) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6(let high, let low, let port, let scopeID):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                raw.storeBytes(of: high, as: UInt64.self)
                raw.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            }
            return try withUnsafePointer(to: &sin6) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        case .unix(let path, let abstract):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
            let start = abstract ? 1 : 0  // abstract: sun_path[0] stays 0
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                for (i, byte) in path.enumerated() where start + i < raw.count { raw[start + i] = byte }
            }
            // A file path is NUL-terminated (the zeroed byte after it) unless it fills
            // `sun_path` (Linux accepts that); an abstract name is exactly its bytes after the
            // leading NUL.
            let length = min(pathOffset + start + path.count + (abstract ? 0 : 1), MemoryLayout<sockaddr_un>.size)
            return try withUnsafePointer(to: &sun) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(length)) }
            }
        case .unnamedUnix:
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            return try withUnsafePointer(to: &sun) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sa_family_t>.size)) }
            }
        }
    }

    /// The address the kernel wrote into `address`, which must point at a whole
    /// `sockaddr_storage` (as given to `accept`, `getsockname` or `recvmsg`; `length` is what
    /// the kernel reported, which can exceed what it wrote when it truncated); nil for a
    /// family Spool does not handle or a length too short for its family.
    init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        let size = min(Int(length), MemoryLayout<sockaddr_storage>.size)
        guard size >= MemoryLayout<sa_family_t>.size else { return nil }
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            guard size >= MemoryLayout<sockaddr_in>.size else { return nil }
            let sin = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
            storage = .ipv4(address: sin.sin_addr.s_addr, port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            guard size >= MemoryLayout<sockaddr_in6>.size else { return nil }
            let sin6 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)
            let (high, low) = withUnsafeBytes(of: sin6.sin6_addr) { ($0.load(as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self)) }
            storage = .ipv6(high: high, low: low, port: UInt16(bigEndian: sin6.sin6_port), scopeID: sin6.sin6_scope_id)
        case AF_UNIX:
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
            let count = min(size, MemoryLayout<sockaddr_un>.size) - pathOffset
            let bytes = count > 0 ? Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(address) + pathOffset, count: count)) : []
            if bytes.isEmpty {
                storage = .unnamedUnix
            } else if bytes[0] == 0 {
                storage = .unix(path: Array(bytes.dropFirst()), abstract: true)  // abstract: exactly the bytes, even none
            } else {
                storage = .unix(path: Array(bytes.prefix { $0 != 0 }), abstract: false)
            }
        default:
            return nil
        }
    }
}

/// Why a string is not a socket address. A plain value: `Sendable`.
public struct SocketAddressError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public enum Reason: Sendable, Hashable {
        /// The string is empty.
        case empty
        /// No `:port` after the host.
        case missingPort
        /// The port is not a decimal number in 0...65535 (at most five digits).
        case badPort(String)
        /// The host is not a dotted-quad IPv4 address (names are not resolved).
        case badIPv4(String)
        /// The text in brackets is not an IPv6 address.
        case badIPv6(String)
        /// An IPv6 address without brackets (`::1:80` is ambiguous; write `[::1]:80`).
        case unbracketedIPv6
        /// The `%zone` of an IPv6 address names no interface of this machine.
        case unknownInterface(String)
        /// The `%zone` of an IPv6 address is empty, or a number too large for a scope ID.
        case badZone(String)
        /// A Unix address with no path or name.
        case emptyPath
        /// A Unix path or name longer than `sun_path` holds.
        case pathTooLong(length: Int, maximum: Int)
        /// A Unix path or name containing a NUL byte.
        case nulInPath
    }

    /// The text that was parsed.
    public let input: String
    /// What is wrong with it.
    public let reason: Reason

    /// One sentence: the input, and what is wrong with it.
    public var description: String {
        let what: String
        switch reason {
        case .empty: what = "it is empty"
        case .missingPort: what = "a port is missing (write host:port)"
        case .badPort(let p): what = "the port \"\(p)\" is not a number in 0...65535"
        case .badIPv4(let h): what = "\"\(h)\" is not an IPv4 address (names are not resolved)"
        case .badIPv6(let h): what = "\"\(h)\" is not an IPv6 address"
        case .unbracketedIPv6: what = "an IPv6 address needs brackets, as in [::1]:8080"
        case .unknownInterface(let z): what = "no network interface is named \"\(z)\""
        case .badZone(let z): what = "the zone \"\(z)\" is neither an interface name nor a scope number"
        case .emptyPath: what = "the Unix path or name is empty"
        case .pathTooLong(let n, let max): what = "the Unix path is \(n) bytes; at most \(max) fit"
        case .nulInPath: what = "the Unix path contains a NUL byte"
        }
        return "bad socket address \"\(input)\": \(what)"
    }
}
