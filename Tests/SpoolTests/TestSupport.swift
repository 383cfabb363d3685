import Glibc
@testable import Spool
import SystemPackage
import Testing

/// A temporary directory, removed (with its files) when dropped.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        var template = Array("/tmp/spool-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }
    func file(_ name: String) -> FilePath { FilePath(path + "/" + name) }
    deinit { removeTree(path) }
}

func removeTree(_ path: String) {
    guard let dir = opendir(path) else { unlink(path); return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
    }
    closedir(dir)
    rmdir(path)
}

/// Writes `bytes` to a new file with plain system calls.
func writeFile(_ path: FilePath, _ bytes: [UInt8]) throws {
    let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
    defer { try? fd.close() }
    _ = try fd.writeAll(bytes)
}

/// What `/proc/self/fd/N` points at, or nil if N is not open.
func descriptorTarget(_ fd: Int32) -> String? {
    var link = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/fd/\(fd)", &link, 4095)
    guard n > 0 else { return nil }
    return String(decoding: link[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A deterministic byte pattern for offset `i`.
func pattern(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: (i &* 2654435761) >> 13) }

/// Runs `body` on a fresh runtime with `configuration`, then shuts it down.
func withTestRuntime<T: Sendable>(
    _ configuration: Runtime.Configuration = Runtime.Configuration(submissionEntries: 64),
    _ body: @Sendable (Runtime) async throws -> T
) async throws -> T {
    try await Runtime.withRuntime(configuration: configuration, body)
}

/// Starts a plain POSIX thread running `body` and returns when it finishes.
func onForeignThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(&thread, nil, { arg in
        Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box)
    pthread_join(thread, nil)
}
