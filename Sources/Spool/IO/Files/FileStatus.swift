internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A file's metadata, as `statx` reports it. A plain value: `Sendable`.
public struct FileStatus: Sendable, Hashable {
    /// Size in bytes.
    public var size: UInt64
    /// Permission bits (the low 12 bits of `st_mode`).
    public var permissions: FilePermissions
    /// The file type bits of `st_mode` (`S_IFREG`, `S_IFDIR`, …).
    public var typeBits: UInt32
    /// Preferred I/O block size.
    public var blockSize: UInt32
    /// 512-byte blocks allocated.
    public var blocks: UInt64
    /// Inode number.
    public var inode: UInt64
    /// Number of hard links.
    public var linkCount: UInt32
    /// Last modification, seconds and nanoseconds since the epoch.
    public var modificationTime: (seconds: Int64, nanoseconds: UInt32)
    /// Required memory alignment for `O_DIRECT` buffers, if the file system reports it (0 if not).
    public var directIOMemoryAlignment: UInt32
    /// Required offset alignment for `O_DIRECT`, if reported (0 if not).
    public var directIOOffsetAlignment: UInt32

    /// A regular file.
    public var isRegularFile: Bool { typeBits == UInt32(S_IFREG) }
    /// A directory.
    public var isDirectory: Bool { typeBits == UInt32(S_IFDIR) }

    public static func == (a: FileStatus, b: FileStatus) -> Bool {
        a.size == b.size && a.permissions == b.permissions && a.typeBits == b.typeBits && a.inode == b.inode
            && a.modificationTime == b.modificationTime && a.blocks == b.blocks
    }
    public func hash(into h: inout Hasher) {
        h.combine(size); h.combine(inode); h.combine(typeBits)
    }

    init(_ s: StatxRecord) {
        size = s.size
        permissions = FilePermissions(rawValue: mode_t(s.mode) & 0o7777)
        typeBits = UInt32(s.mode) & UInt32(S_IFMT)
        blockSize = s.blockSize
        blocks = s.blocks
        inode = s.inode
        linkCount = s.linkCount
        modificationTime = (s.modificationSeconds, s.modificationNanoseconds)
        directIOMemoryAlignment = s.directIOMemoryAlignment
        directIOOffsetAlignment = s.directIOOffsetAlignment
    }

    static func load(runtime: Runtime, directory: Int32, path: UnsafePointer<CChar>, flags: Int32, context: IOErrorContext) async throws -> FileStatus {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: StatxRecord.byteCount, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: StatxRecord.byteCount)
        defer { buffer.deallocate() }
        _ = try await runtime.perform(.statx(directory: directory, path: path, flags: flags,
                                             mask: StatxRecord.defaultMask, buffer: buffer))
            .value(context)
        return FileStatus(StatxRecord(decoding: buffer))
    }
}

extension File {
    /// The metadata of `path` (`statx`; follows symbolic links).
    public static func status(of path: FilePath, runtime: Runtime? = nil) async throws -> FileStatus {
        let runtime = try runtime ?? Runtime.requireCurrent()
        let c = CPath(path)
        defer { c.free() }
        return try await FileStatus.load(runtime: runtime, directory: AT_FDCWD, path: c.pointer, flags: 0,
                                         context: IOErrorContext(operation: .status, path: path))
    }

    /// Removes the file at `path` (`unlinkat`).
    public static func remove(at path: FilePath, runtime: Runtime? = nil) async throws {
        try await pathOperation(path, .remove, runtime) { .unlinkAt(directory: AT_FDCWD, path: $0, flags: 0) }
    }

    /// Removes the empty directory at `path` (`unlinkat` with `AT_REMOVEDIR`).
    public static func removeDirectory(at path: FilePath, runtime: Runtime? = nil) async throws {
        try await pathOperation(path, .removeDirectory, runtime) { .unlinkAt(directory: AT_FDCWD, path: $0, flags: AT_REMOVEDIR) }
    }

    /// Creates a directory at `path` (`mkdirat`), with `permissions` (default `0o755`).
    public static func createDirectory(at path: FilePath, permissions: FilePermissions = [.ownerReadWriteExecute, .groupReadExecute, .otherReadExecute], runtime: Runtime? = nil) async throws {
        try await pathOperation(path, .createDirectory, runtime) { .mkdirAt(directory: AT_FDCWD, path: $0, mode: permissions.rawValue) }
    }

    /// Renames (moves) `source` to `destination` (`renameat`), replacing a file there.
    public static func rename(_ source: FilePath, to destination: FilePath, runtime: Runtime? = nil) async throws {
        let runtime = try runtime ?? Runtime.requireCurrent()
        let from = CPath(source), to = CPath(destination)
        defer { from.free(); to.free() }
        _ = try await runtime.perform(.renameAt(from: from.pointer, to: to.pointer)).value(IOErrorContext(operation: .rename, path: source))
    }

    private static func pathOperation(
        _ path: FilePath, _ operation: IOError.Operation, _ runtime: Runtime?, _ request: (UnsafePointer<CChar>) -> OperationRequest
    ) async throws {
        let runtime = try runtime ?? Runtime.requireCurrent()
        let c = CPath(path)
        defer { c.free() }
        _ = try await runtime.perform(request(c.pointer)).value(IOErrorContext(operation: operation, path: path))
    }
}
