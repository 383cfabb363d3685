import Glibc
import SpoolRing
import SystemPackage
import Testing

/// Submits everything pending and reaps until `count` completions have arrived.
func collect(_ ring: Ring, count: Int) throws -> [Completion] {
    var out: [Completion] = []
    out.reserveCapacity(count)
    var idleRounds = 0
    while out.count < count {
        let before = out.count
        try ring.submit(waitingFor: 1, timeout: .seconds(2))
        ring.reapCompletions { out.append($0) }
        if out.count == before {
            idleRounds += 1
            if idleRounds > 5 { break }  // 10 s without progress: give up and let the test report it
        } else {
            idleRounds = 0
        }
    }
    return out
}

/// A temporary directory removed when the value is dropped.
final class TemporaryDirectory {
    let path: String
    init() {
        var template = Array("/tmp/spool-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit {
        _ = try? FileManagerLite.removeTree(path)
    }
}

enum FileManagerLite {
    static func removeTree(_ path: String) throws {
        guard let dir = opendir(path) else { unlink(path); return }
        while let entry = readdir(dir) {
            let name = String(cString: UnsafeRawPointer(entry).advanced(by: direntNameOffset).assumingMemoryBound(to: CChar.self))
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if entry.pointee.d_type == UInt8(DT_DIR) { try removeTree(child) } else { unlink(child) }
        }
        closedir(dir)
        rmdir(path)
    }
}

/// A connected pair of stream sockets.
func socketPair() throws -> (FileDescriptor, FileDescriptor) {
    var fds: [Int32] = [0, 0]
    let r = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    if r != 0 { throw Errno(rawValue: errno) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}

/// Number of open descriptors of this process.
func openDescriptorCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var n = 0
    while readdir(dir) != nil { n += 1 }
    return n - 3  // ".", "..", and the directory stream's own descriptor
}

/// A TCP listener on an ephemeral loopback port; returns its descriptor and address.
func loopbackListener() throws -> (Int32, sockaddr_in) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | SOCK_CLOEXEC_VALUE, 0)
    guard listener >= 0 else { throw Errno(rawValue: errno) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
    guard bound == 0, listen(listener, 16) == 0 else { close(listener); throw Errno(rawValue: errno) }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
    return (listener, addr)
}

/// The whole text of a small file (for /proc files).
func readFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw Errno(rawValue: errno) }
    defer { close(fd) }
    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Where `d_name` starts in a `dirent`: the name is read in place, because `readdir` returns
/// records only as long as their name (copying the whole `d_name` tuple reads past the end).
let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
