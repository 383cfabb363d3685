import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An open file that many tasks use at once (for example a worker pool reading one file).
///
/// Make one with ``File/shared()``. It offers every ``FileIO`` operation. Its descriptor is
/// closed by ``close()`` or, failing that, when the last reference is dropped (synchronously,
/// on whatever thread that is).
///
/// **Thread-safety:** `Sendable`; calls may overlap. **Lifetime:** ``close()`` refuses new
/// calls at once (they throw `IOError` with `EBADF`), then waits for the calls already using
/// the descriptor to finish before it closes it, so no call can ever reach a descriptor
/// number the system has reused. Cancel calls that may block for long (a read of a quiet
/// pipe) before closing.
public final class SharedFile: FileIO {
    /// The descriptor. Valid until ``close()`` or until the last reference is dropped.
    public let descriptor: FileDescriptor
    /// The path the file was opened with, if any (used in error messages).
    public let path: FilePath?
    /// The runtime whose rings run this file's I/O.
    public let runtime: Runtime

    /// Counts the calls using ``descriptor``, so that ``close()`` can wait for them.
    public let accessGate: FileAccessGate?
    private let gate = FileAccessGate()

    /// Whether positional reads try the page cache first (see ``CachedReadState``). Set once;
    /// safe from any thread; lives as long as the handle.
    public let cachedReadState: CachedReadState?

    init(descriptor: FileDescriptor, path: FilePath?, runtime: Runtime, cachedReadState: CachedReadState?) {
        self.cachedReadState = cachedReadState
        self.descriptor = descriptor
        self.path = path
        self.runtime = runtime
        accessGate = gate
    }

    deinit {
        // No reference is left, so no call is running.
        if !gate.isClosed { DescriptorClose.close(descriptor.rawValue) }
    }

    /// Closes the file through the ring and reports the kernel's answer; a second call throws
    /// `IOError` with `EBADF`.
    ///
    /// New calls are refused from the moment this is called; calls already running finish
    /// first (this waits for them), then the descriptor is released in every outcome, exactly
    /// once (see ``File/close()``): the close is not cancellable, and it falls back to a
    /// synchronous close when the request cannot reach the kernel.
    public func close() async throws {
        try await gate.close(path: path, descriptor: descriptor)
        try await File.release(descriptor, path: path, runtime: runtime)
    }
}
