internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An open file whose I/O runs on a Spool ring.
///
/// ```swift
/// let file = try await File.open("data.bin", .readWrite, options: [.create])
/// var buffer = IOBuffer(capacity: 4096)
/// let n = try await file.read(into: &buffer, at: 0)
/// try await file.close()
/// ```
///
/// Every call returns only after the kernel has finished with the memory it was given, also
/// when the calling task is cancelled (the call then throws `CancellationError`, unless the
/// operation completed first). Errors are ``IOError`` (naming the operation, path, descriptor
/// and offset), `CancellationError`, or ``RuntimeError``.
///
/// **Ownership:** `~Copyable`: one owner, so a closed file cannot be used by accident.
/// ``close()`` consumes it and reports errors; a file dropped without `close()` has its
/// descriptor closed synchronously by `deinit`, on whatever thread drops it.
/// **Thread-safety:** `Sendable`; calls may come from any task. They run fastest from a task
/// on a ring of the file's runtime (see ``Runtime``).
public struct File: ~Copyable, FileIO {
    /// The descriptor. Valid until the file is closed or dropped.
    public let descriptor: FileDescriptor
    /// The path the file was opened with, if any (used in error messages).
    public let path: FilePath?
    /// The runtime whose rings run this file's I/O.
    public let runtime: Runtime
    /// Whether positional reads try the page cache first (see ``CachedReadState``); nil for
    /// an `O_DIRECT` descriptor. Set once; safe from any thread; lives as long as the handle.
    public let cachedReadState: CachedReadState?
    private var closed = false

    /// Wraps an open descriptor; the file takes ownership of it. Reads its status flags once
    /// (`fcntl(F_GETFL)`) to learn whether it was opened with `O_DIRECT`.
    public init(adopting descriptor: FileDescriptor, path: FilePath? = nil, runtime: Runtime) {
        self.init(descriptor, path: path, runtime: runtime, cachedReadState: CachedReadState.forDescriptor(descriptor, runtime: runtime))
    }

    init(_ descriptor: FileDescriptor, path: FilePath?, runtime: Runtime, cachedReadState: CachedReadState?) {
        self.descriptor = descriptor
        self.path = path
        self.runtime = runtime
        self.cachedReadState = cachedReadState
    }

    deinit {
        if !closed { DescriptorClose.close(descriptor.rawValue) }
    }

    /// The largest transfer one read or write asks for (the kernel's `MAX_RW_COUNT`);
    /// larger buffers are served by short transfers (see ``readFully(into:at:)``).
    public static let maximumTransfer = Int(Int32.max) & ~4095

    /// How to open a file. A plain value: `Sendable`.
    ///
    /// The raw values are Spool's own bits, not the kernel's `O_*` values (those differ
    /// between architectures); ``File/open(_:_:options:permissions:runtime:)`` maps them
    /// to the platform's flags.
    public struct Options: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Create the file if it does not exist (`O_CREAT`).
        public static let create = Options(rawValue: 1 << 0)
        /// With ``create``: fail with `EEXIST` if it exists (`O_EXCL`).
        public static let exclusive = Options(rawValue: 1 << 1)
        /// Truncate to zero length (`O_TRUNC`).
        public static let truncate = Options(rawValue: 1 << 2)
        /// Writes at the current position go to the end (`O_APPEND`).
        public static let append = Options(rawValue: 1 << 3)
        /// Bypass the page cache (`O_DIRECT`): buffers, offsets and lengths must be aligned
        /// to the device's logical block size (use `IOBuffer(capacity:alignment: 4096)`).
        public static let direct = Options(rawValue: 1 << 4)
        /// Each write reaches stable storage before it completes (`O_DSYNC`).
        public static let dataSync = Options(rawValue: 1 << 5)
        /// Do not follow a symbolic link in the last component (`O_NOFOLLOW`).
        public static let noFollow = Options(rawValue: 1 << 6)
        /// Keep the descriptor across `exec` (by default Spool opens with `O_CLOEXEC`).
        public static let inheritable = Options(rawValue: 1 << 7)

        /// The platform's `open(2)` flags for these options (with `O_CLOEXEC` unless
        /// ``inheritable``); every value comes from the platform's headers.
        var openFlags: Int32 {
            let table: [(Options, Int32)] = [
                (.create, O_CREAT), (.exclusive, O_EXCL), (.truncate, O_TRUNC), (.append, O_APPEND),
                (.direct, SystemConstants.openDirect), (.dataSync, O_DSYNC), (.noFollow, O_NOFOLLOW),
            ]
            var flags: Int32 = contains(.inheritable) ? 0 : SystemConstants.openCloseOnExec
            for (option, flag) in table where contains(option) { flags |= flag }
            return flags
        }
    }

    // MARK: Opening and closing

    /// Opens `path` through the ring (`IORING_OP_OPENAT`), with `O_CLOEXEC` unless
    /// ``Options/inheritable`` is given.
    ///
    /// - Parameters:
    ///   - path: the file to open.
    ///   - mode: read, write, or both (default read-only).
    ///   - options: how to open it (create, truncate, append, direct I/O, …).
    ///   - runtime: the runtime to use; by default the one running the calling task.
    ///   - permissions: the mode for a created file (default `0o644`).
    public static func open(
        _ path: FilePath, _ mode: FileDescriptor.AccessMode = .readOnly, options: Options = [],
        permissions: FilePermissions? = nil, runtime: Runtime? = nil
    ) async throws -> File {
        let runtime = try runtime ?? Runtime.requireCurrent()
        let flags = mode.rawValue | options.openFlags
        let mode = permissions?.rawValue ?? 0o644
        let cPath = CPath(path)
        defer { cPath.free() }
        let fd = try await runtime.perform(.openAt(directory: AT_FDCWD, path: cPath.pointer, flags: flags, mode: mode))
            .value(IOErrorContext(operation: .open, path: path))
        // A synchronous O_DIRECT read waits for the device even with RWF_NOWAIT: no fast path.
        return File(FileDescriptor(rawValue: fd), path: path, runtime: runtime,
                    cachedReadState: CachedReadState.forOpenedFile(direct: options.contains(.direct), runtime: runtime))
    }

    /// A ``File`` is open until it is consumed: no calls to count (`nil`).
    public var accessGate: FileAccessGate? { nil }

    /// Turns this file into a ``SharedFile`` that many tasks can use at once.
    public consuming func shared() -> SharedFile {
        closed = true  // the shared handle owns the descriptor from now on
        return SharedFile(descriptor: descriptor, path: path, runtime: runtime, cachedReadState: cachedReadState)
    }

    /// Closes the file through the ring (`IORING_OP_CLOSE`) and reports the kernel's answer.
    ///
    /// The descriptor is released in every outcome, exactly once: the close is not
    /// cancellable (a cancelled task still closes), and when the request cannot reach the
    /// kernel (the runtime shut down, or a ring broke before submitting it) the descriptor is
    /// closed synchronously instead. Throws only what closing itself reported (`IOError`).
    public nonisolated(nonsending) consuming func close() async throws {
        closed = true
        try await File.release(descriptor, path: path, runtime: runtime)
    }

    /// Releases `descriptor` through `runtime`, or synchronously when the ring cannot take it.
    static nonisolated(nonsending) func release(_ descriptor: FileDescriptor, path: FilePath?, runtime: Runtime) async throws {
        DescriptorClose.willClose(descriptor.rawValue)
        defer { DescriptorClose.didClose(descriptor.rawValue) }
        let outcome = await runtime.perform(.close(fd: descriptor.rawValue), cancellable: false)
        switch outcome {
        case .completed(let r) where r == -ECANCELED:
            // Cancelled by shutdown before it ran: the descriptor is still open.
            try closeSynchronously(descriptor, path: path)
        case .completed:
            _ = try outcome.value(IOErrorContext(operation: .close, path: path, descriptor: descriptor))
        case .shutdown, .broken, .cancelled, .timedOut:  // (a close has no timeout)
            // Never reached the kernel: close it here.
            try closeSynchronously(descriptor, path: path)
        case .brokenInFlight(let e):
            // The ring broke while the kernel held the close: whether it ran is unknown, and
            // closing again could close a reused descriptor number. Report the ring's failure.
            throw RuntimeError.broken(e)
        }
    }

    private static func closeSynchronously(_ descriptor: FileDescriptor, path: FilePath?) throws {
        if DescriptorClose.close(descriptor.rawValue) != 0 {
            let e = Errno(rawValue: Glibc.errno)
            // Linux releases the descriptor even when close reports EINTR or EIO.
            throw IOError(.close, errno: e, path: path, descriptor: descriptor)
        }
    }
}
