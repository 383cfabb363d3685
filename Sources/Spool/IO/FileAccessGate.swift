import Synchronization
import SystemPackage

/// Spool's count of the calls using a shared descriptor, so that closing it can refuse new
/// calls at once and wait for the running ones (see ``SharedFile/close()``).
///
/// Every member is internal to Spool: code outside cannot unbalance the count.
/// **Thread-safety:** `Sendable`; a `Mutex` guards the state. **Lifetime:** owned by the
/// handle that uses it.
public final class FileAccessGate: Sendable {
    private struct State {
        var closed = false
        /// Calls between `enter` and `leave`.
        var users = 0
        /// A close waiting for `users` to reach zero.
        var closer: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    init() {}

    /// Whether the gate has been closed.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Registers a call; throws `IOError` with `EBADF` once closed.
    func enter(_ operation: IOError.Operation, path: FilePath?, descriptor: FileDescriptor) throws(IOError) {
        let open = state.withLock { s -> Bool in
            if s.closed { return false }
            s.users += 1
            return true
        }
        if !open { throw IOError(operation, errno: .badFileDescriptor, path: path, descriptor: descriptor) }
    }

    /// Ends a call that `enter` registered; the last one lets a waiting close proceed.
    func leave() {
        let closer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.users -= 1
            guard s.users == 0, let c = s.closer else { return nil }
            s.closer = nil
            return c
        }
        closer?.resume()
    }

    /// Closes the gate (throws `IOError` with `EBADF` if it already was) and waits until no
    /// call is inside.
    func close(path: FilePath?, descriptor: FileDescriptor) async throws(IOError) {
        let mustWait = try state.withLock { (s: inout State) throws(IOError) -> Bool in
            if s.closed { throw IOError(.close, errno: .badFileDescriptor, path: path, descriptor: descriptor) }
            s.closed = true
            return s.users > 0
        }
        guard mustWait else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.users == 0 { return true }
                s.closer = c
                return false
            }
            if now { c.resume() }
        }
    }
}
