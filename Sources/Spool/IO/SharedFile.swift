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
    public let descriptor: FileDescriptor
    public let path: FilePath?
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

    public func checkOpen(_ operation: IOError.Operation) throws {
        if closed.load(ordering: .acquiring) {
            throw IOError(operation, errno: .badFileDescriptor, path: path, descriptor: descriptor)
        }
    }

    /// Closes the file through the ring and reports the kernel's answer; a second call throws
    /// `IOError` with `EBADF`.
    public func close() async throws {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw IOError(.close, errno: .badFileDescriptor, path: path, descriptor: descriptor)
        }
        _ = try await runtime.perform(.close(fd: descriptor.rawValue)).value(IOErrorContext(operation: .close, path: path, descriptor: descriptor))
    }
}
