// Fuzz target: decoding the socket addresses the kernel writes: `SocketAddress.init?(_:length:)`
// (Sources/Spool/IO/Sockets/SocketAddress.swift), reached from `accept`/`getsockname`/
// `getpeername` (SocketCalls.address) and `recvmsg` (MessageHeader.source, `header.source`).
//
// Input: one byte of mode, four of length (little-endian), then the sockaddr bytes (the
// first two are `sa_family` in host order: 01 00 AF_UNIX, 02 00 AF_INET, 0a 00 AF_INET6).
//   mode bit 0 clear: the bytes go into a zeroed `sockaddr_storage` (the decoder's contract)
//     and the length is the fuzzed UInt32 (it may exceed what was written, as the kernel's
//     does when it truncates);
//   mode bit 0 set ("strict"): the bytes are in an allocation of exactly `length` bytes
//     (`length` = min(fuzzed, bytes given)), so ASan catches any read past `length`.
// Checks: what was decoded is what the bytes say (family, port, address, scope, Unix path
// rules: no path → unnamed, sun_path[0] == 0 → abstract with exactly the bytes after it,
// else the bytes up to the first NUL); `MessageHeader.source` and a real `MessageHeader`
// agree with `init?(_:length:)`; the result survives `withSocketAddress` → decode again;
// `description` parses back (the documented exceptions aside).

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func spoolFuzzSockaddrDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzReader(data, size)
    let mode = input.byte()
    let fuzzedLength = input.integer(UInt32.self)
    let bytes = input.rest()
    let capacity = MemoryLayout<sockaddr_storage>.size
    guard bytes.count <= capacity else { return -1 }  // more than a sockaddr_storage: not a kernel answer

    let strict = mode & 1 != 0
    let length = strict ? UInt32(min(Int(fuzzedLength), bytes.count)) : fuzzedLength
    let allocated = strict ? max(Int(length), 1) : capacity
    // The bytes the decoder may look at: what was given, zero-filled to the allocation,
    // up to `length`.
    let padded = bytes + [UInt8](repeating: 0, count: max(allocated - bytes.count, 0))
    let visible = Array(padded.prefix(min(Int(length), capacity)))
    let memory = UnsafeMutableRawPointer.allocate(byteCount: allocated, alignment: 16)
    defer { memory.deallocate() }
    memory.initializeMemory(as: UInt8.self, repeating: 0, count: allocated)
    bytes.prefix(allocated).withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    let address = memory.assumingMemoryBound(to: sockaddr.self)

    let decoded = SocketAddress(address, length: socklen_t(length))
    checkDecoded(decoded, visible: visible, length: Int(length))

    // recvmsg's path: no name at all (length 0) is an unnamed Unix sender.
    let viaSource = MessageHeader.source(UnsafeRawPointer(memory), length: Int(length))
    if length == 0 {
        Fuzz.check(viaSource == SocketAddress(storage: .unnamedUnix), "source(length: 0) = \(String(describing: viaSource?.storage))")
    } else {
        Fuzz.check(viaSource == decoded, "source(length: \(length)) = \(String(describing: viaSource?.storage)), init = \(String(describing: decoded?.storage))")
    }
    Fuzz.check(MessageHeader.source(nil, length: Int(length)) == SocketAddress(storage: .unnamedUnix), "source(nil)")

    // A real header, as DatagramSocket.receive reads it after the kernel filled it in.
    if !strict {
        let header = MessageHeader(iovecCapacity: 1)
        defer { header.free() }
        header.prepareForSource()
        Fuzz.check(header.message.pointee.msg_namelen == socklen_t(MessageHeader.addressCapacity), "prepareForSource length")
        header.address.copyMemory(from: memory, byteCount: MessageHeader.addressCapacity)
        header.message.pointee.msg_namelen = socklen_t(length)
        let viaHeader = header.source
        Fuzz.check(viaHeader == viaSource, "header.source \(String(describing: viaHeader?.storage)) vs source \(String(describing: viaSource?.storage))")
    }
    return 0
}

/// `decoded` is what the first `length` bytes (`visible`) of a sockaddr say.
private func checkDecoded(_ decoded: SocketAddress?, visible: [UInt8], length: Int) {
    func u16(_ at: Int) -> UInt16 { UInt16(visible[at]) | UInt16(visible[at + 1]) << 8 }  // host order (little-endian)
    func be16(_ at: Int) -> UInt16 { UInt16(visible[at]) << 8 | UInt16(visible[at + 1]) }
    func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(visible[at + $1]) << (8 * $1) } }
    func context() -> String { "sockaddr \(hex(visible)) length \(length)" }
    guard visible.count >= 2 else {
        Fuzz.check(decoded == nil, "\(context()): decoded \(String(describing: decoded?.storage)) from < 2 bytes")
        return
    }
    let family = Int32(u16(0))
    switch family {
    case AF_INET:
        guard visible.count >= MemoryLayout<sockaddr_in>.size else {
            Fuzz.check(decoded == nil, "\(context()): short sockaddr_in decoded")
            return
        }
        guard let a = decoded, case .ipv4(let address, let port) = a.storage else { Fuzz.fail("\(context()): \(String(describing: decoded?.storage))") }
        Fuzz.check(port == be16(2) && address == u32(4), "\(context()): \(a.storage)")
        let dotted = visible[4..<8].map { String($0) }.joined(separator: ".")
        Fuzz.check(a.host == dotted, "\(context()): host \(String(describing: a.host)), expected \(dotted)")
        Fuzz.check(a.description == "\(dotted):\(port)", "\(context()): description \(a.description)")
        checkRoundTrips(a, context())
    case AF_INET6:
        guard visible.count >= MemoryLayout<sockaddr_in6>.size else {
            Fuzz.check(decoded == nil, "\(context()): short sockaddr_in6 decoded")
            return
        }
        guard let a = decoded, case .ipv6(_, _, let port, let scope) = a.storage else { Fuzz.fail("\(context()): \(String(describing: decoded?.storage))") }
        Fuzz.check(port == be16(2) && scope == u32(24), "\(context()): \(a.storage)")
        // The host text is the system's own rendering of the 16 address bytes.
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let bytes16 = Array(visible[8..<24])
        let rendered = bytes16.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
        Fuzz.check(rendered != nil, "inet_ntop")
        let base = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let expected = scope == 0 ? base : "\(base)%\(scope)"
        Fuzz.check(a.host == expected, "\(context()): host \(String(describing: a.host)), expected \(expected)")
        checkRoundTrips(a, context())
    case AF_UNIX:
        guard let a = decoded else { Fuzz.fail("\(context()): AF_UNIX not decoded") }
        let pathBytes = Array(visible.prefix(MemoryLayout<sockaddr_un>.size).dropFirst(2))
        let expected: SocketAddress.Storage
        if pathBytes.isEmpty {
            expected = .unnamedUnix
        } else if pathBytes[0] == 0 {
            expected = .unix(path: Array(pathBytes.dropFirst()), abstract: true)
        } else {
            expected = .unix(path: Array(pathBytes.prefix { $0 != 0 }), abstract: false)
        }
        Fuzz.check(a.storage == expected, "\(context()): \(a.storage), expected \(expected)")
        Fuzz.check(a.family == .unix && a.port == nil && a.host == nil, "\(context()): unix accessors")
        if case .unnamedUnix = a.storage {
            Fuzz.check(a.isUnnamedUnix && a.unixPath == "" && !a.isAbstract, "\(context()): unnamed accessors")
        }
        checkRoundTrips(a, context())
    default:
        Fuzz.check(decoded == nil, "\(context()): family \(family) decoded as \(String(describing: decoded?.storage))")
    }
}

private func checkRoundTrips(_ a: SocketAddress, _ context: @autoclosure () -> String) {
    checkSockaddrRoundTrip(a, origin: context())
    checkDescriptionRoundTrip(a, origin: context())
}
