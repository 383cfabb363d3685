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

    private struct State {
        var closed = false
        /// Calls between `beginUse` and `endUse`.
        var users = 0
        /// A `close()` waiting for `users` to reach zero.
        var closer: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    init(descriptor: FileDescriptor, path: FilePath?, runtime: Runtime) {
        self.descriptor = descriptor
        self.path = path
        self.runtime = runtime
    }

    deinit {
        // No reference is left, so no call is running.
        if !state.withLock({ $0.closed }) { _ = Glibc.close(descriptor.rawValue) }
    }

    /// Registers a call; throws `IOError` with `EBADF` once ``close()`` has been called.
    public func beginUse(_ operation: IOError.Operation) throws {
        let open = state.withLock { s -> Bool in
            if s.closed { return false }
            s.users += 1
            return true
        }
        if !open { throw IOError(operation, errno: .badFileDescriptor, path: path, descriptor: descriptor) }
    }

    /// Ends a call; the last one lets a waiting ``close()`` proceed.
    public func endUse() {
        let closer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.users -= 1
            guard s.users == 0, let c = s.closer else { return nil }
            s.closer = nil
            return c
        }
        closer?.resume()
    }

    /// Closes the file through the ring and reports the kernel's answer; a second call throws
    /// `IOError` with `EBADF`.
    ///
    /// New calls are refused from the moment this is called; calls already running finish
    /// first (this waits for them), then the descriptor is released in every outcome, exactly
    /// once (see ``File/close()``): the close is not cancellable, and it falls back to a
    /// synchronous close when the request cannot reach the kernel.
    public func close() async throws {
        let mustWait = try state.withLock { (s: inout State) throws(IOError) -> Bool in
            if s.closed { throw IOError(.close, errno: .badFileDescriptor, path: path, descriptor: descriptor) }
            s.closed = true
            return s.users > 0
        }
        if mustWait {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.users == 0 { return true }
                    s.closer = c
                    return false
                }
                if now { c.resume() }
            }
        }
        try await File.release(descriptor, path: path, runtime: runtime)
    }
}
