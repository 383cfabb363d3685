import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The synchronous socket system calls Spool makes (none of them blocks): creating a
/// socket, options, bind, listen, and reading addresses. Each failure is an ``IOError``
/// naming the call, the descriptor and the address.
///
/// A namespace of stateless functions: thread-safe.
enum SocketCalls {
    /// `socket(2)` for `address`'s family with close-on-exec.
    static func create(for address: SocketAddress, type: Int32) throws(IOError) -> FileDescriptor {
        let domain: Int32
        switch address.family {
        case .ipv4: domain = AF_INET
        case .ipv6: domain = AF_INET6
        case .unix: domain = AF_UNIX
        }
        let fd = socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw IOError(.socket, errno: Errno(rawValue: errno), address: address) }
        return FileDescriptor(rawValue: fd)
    }

    /// `setsockopt` of an `Int32` option.
    static func setOption(_ fd: FileDescriptor, level: Int32, name: Int32, _ value: Int32) throws(IOError) {
        var v = value
        if setsockopt(fd.rawValue, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw IOError(.setOption, errno: Errno(rawValue: errno), descriptor: fd)
        }
    }

    /// `getsockopt` of an `Int32` option.
    static func option(_ fd: FileDescriptor, level: Int32, name: Int32) throws(IOError) -> Int32 {
        var v: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd.rawValue, level, name, &v, &length) != 0 {
            throw IOError(.getOption, errno: Errno(rawValue: errno), descriptor: fd)
        }
        return v
    }

    /// `bind(2)`.
    static func bind(_ fd: FileDescriptor, to address: SocketAddress) throws(IOError) {
        let r = address.withSocketAddress { Glibc.bind(fd.rawValue, $0, $1) }
        if r != 0 { throw IOError(.bind, errno: Errno(rawValue: errno), descriptor: fd, address: address) }
    }

    /// `listen(2)`.
    static func listen(_ fd: FileDescriptor, backlog: Int32, address: SocketAddress) throws(IOError) {
        if Glibc.listen(fd.rawValue, backlog) != 0 {
            throw IOError(.listen, errno: Errno(rawValue: errno), descriptor: fd, address: address)
        }
    }

    /// The local (`getsockname`) or remote (`getpeername`) address of `fd`.
    static func address(of fd: FileDescriptor, peer: Bool) throws(IOError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd.rawValue, $0, &length) : getsockname(fd.rawValue, $0, &length) }
        }
        let operation: IOError.Operation = peer ? .peerAddress : .localAddress
        if r != 0 { throw IOError(operation, errno: Errno(rawValue: errno), descriptor: fd) }
        let address = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
        }
        guard let address else { throw IOError(operation, errno: .addressFamilyNotSupported, descriptor: fd) }
        return address
    }

    /// Closes `fd` on the calling thread (an error path before the handle owns it).
    static func closeQuietly(_ fd: FileDescriptor) {
        DescriptorClose.close(fd.rawValue)
    }
}
