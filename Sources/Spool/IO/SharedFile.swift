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
/// **Thread-safety:** `Sendable`; calls may overlap. **Lifetime:** call ``close()`` only after
/// every task using the file has finished with it: a call that starts after `close()` throws
/// `IOError` with `EBADF` instead of touching a descriptor number that may have been reused.
public final class SharedFile: FileIO {
    /// The descriptor. Valid until ``close()`` or until the last reference is dropped.
    public let descriptor: FileDescriptor
    /// The path the file was opened with, if any (used in error messages).
    public let path: FilePath?
    /// The runtime whose rings run this file's I/O.
    public let runtime: Runtime
    private let closed = Atomic<Bool>(false)

    init(descriptor: FileDescriptor, path: FilePath?, runtime: Runtime) {
        self.descriptor = descriptor
        self.path = path
        self.runtime = runtime
    }

    deinit {
        if !closed.load(ordering: .acquiring) { _ = Glibc.close(descriptor.rawValue) }
    }

    /// Throws `IOError` with `EBADF` once ``close()`` has been called.
    public func checkOpen(_ operation: IOError.Operation) throws {
        if closed.load(ordering: .acquiring) {
            throw IOError(operation, errno: .badFileDescriptor, path: path, descriptor: descriptor)
        }
    }

    /// Closes the file through the ring and reports the kernel's answer; a second call throws
    /// `IOError` with `EBADF`.
    ///
    /// The descriptor is released in every outcome, exactly once (see ``File/close()``):
    /// the close is not cancellable, and it falls back to a synchronous close when the
    /// request cannot reach the kernel.
    public func close() async throws {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw IOError(.close, errno: .badFileDescriptor, path: path, descriptor: descriptor)
        }
        try await File.release(descriptor, path: path, runtime: runtime)
    }
}
