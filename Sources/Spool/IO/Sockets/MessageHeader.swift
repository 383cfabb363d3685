#if canImport(Glibc)
import Glibc
#endif

/// A `msghdr` with room for one socket address and `capacity` iovecs, in one heap block that
/// lives for one `sendmsg`/`recvmsg` (the kernel reads and writes it while the request runs).
///
/// **Thread-safety:** none; one operation's. **Lifetime:** until ``free()``.
struct MessageHeader {
    let message: UnsafeMutablePointer<msghdr>
    let address: UnsafeMutableRawPointer
    let iovecs: UnsafeMutablePointer<iovec>
    private let block: UnsafeMutableRawPointer

    static let addressCapacity = MemoryLayout<sockaddr_storage>.size

    init(iovecCapacity: Int) {
        let messageBytes = (MemoryLayout<msghdr>.size + 15) & ~15
        let iovecBytes = max(iovecCapacity, 1) * MemoryLayout<iovec>.stride
        block = .allocate(byteCount: messageBytes + Self.addressCapacity + iovecBytes, alignment: 16)
        message = block.bindMemory(to: msghdr.self, capacity: 1)
        message.initialize(to: msghdr())
        address = block + messageBytes
        address.initializeMemory(as: UInt8.self, repeating: 0, count: Self.addressCapacity)
        iovecs = (block + messageBytes + Self.addressCapacity).bindMemory(to: iovec.self, capacity: max(iovecCapacity, 1))
        message.pointee.msg_iov = iovecs
        message.pointee.msg_iovlen = 0
    }

    func free() { block.deallocate() }

    /// Sets the iovecs: `segments` of the memory at `base`.
    func setSegments(base: UnsafeRawPointer, _ segments: [Range<Int>]) {
        for (i, s) in segments.enumerated() {
            iovecs[i] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + s.lowerBound), iov_len: s.count)
        }
        message.pointee.msg_iovlen = segments.count
    }

    /// Sets one iovec.
    func setBuffer(_ base: UnsafeRawPointer, count: Int) {
        iovecs[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: count)
        message.pointee.msg_iovlen = 1
    }

    /// The destination of a send.
    func setDestination(_ destination: SocketAddress) {
        let length = destination.withSocketAddress { p, n in
            address.copyMemory(from: UnsafeRawPointer(p), byteCount: Int(n))
            return n
        }
        message.pointee.msg_name = address
        message.pointee.msg_namelen = length
    }

    /// Room for a receive's source address.
    func prepareForSource() {
        message.pointee.msg_name = address
        message.pointee.msg_namelen = socklen_t(Self.addressCapacity)
    }

    /// The source address a receive filled in (nil if the kernel gave one it could not parse).
    var source: SocketAddress? { Self.source(address, length: Int(message.pointee.msg_namelen)) }

    /// Parses a received source address; no address at all is an unnamed Unix sender (the
    /// kernel reports none for a Unix datagram from a socket that never bound).
    static func source(_ address: UnsafeRawPointer?, length: Int) -> SocketAddress? {
        guard let address, length > 0 else { return SocketAddress(storage: .unnamedUnix) }
        return SocketAddress(address.assumingMemoryBound(to: sockaddr.self), length: socklen_t(length))
    }
}
