import Synchronization
import SystemPackage

/// Spool's count of the calls using a shared descriptor, so that closing it can refuse new
/// calls at once and wait for the running ones (see ``SharedFile/close()``).
///
/// The count and the closed flag share one atomic word (bit 0: closed; the rest: twice the
/// calls inside), so a call enters and leaves with one atomic add each; only a close that
/// must wait takes the lock.
///
/// Every member is internal to Spool: code outside cannot unbalance the count.
/// **Thread-safety:** `Sendable` (an atomic word, and a lock for the waiting close).
/// **Lifetime:** owned by the handle that uses it.
public final class FileAccessGate: Sendable {
    private static let closedBit = 1
    private static let oneUser = 2
    /// Bit 0: closed. Bits 1...: calls between `enter` and `leave` (including calls that
    /// found the gate closed and are about to leave again).
    private let word = Atomic<Int>(0)
    /// A close waiting for the last call to leave.
    private let closer = PosixLocked(Closer())

    private struct Closer: ~Copyable, WaiterListHolding {
        var waiters = WaiterList()
    }

    init() {}

    /// Whether the gate has been closed.
    var isClosed: Bool { word.load(ordering: .acquiring) & Self.closedBit != 0 }

    /// Registers a call; throws `IOError` with `EBADF` once closed.
    func enter(_ operation: IOError.Operation, path: FilePath?, descriptor: FileDescriptor) throws(IOError) {
        let before = word.wrappingAdd(Self.oneUser, ordering: .acquiring).oldValue
        if before & Self.closedBit != 0 {
            leave()  // undo; if it was the last one inside, the close goes on
            throw IOError(operation, errno: .badFileDescriptor, path: path, descriptor: descriptor)
        }
    }

    /// Ends a call that `enter` registered; the last one lets a waiting close proceed.
    func leave() {
        let after = word.wrappingSubtract(Self.oneUser, ordering: .acquiringAndReleasing).newValue
        if after == Self.closedBit { wakeCloser() }
    }

    private func wakeCloser() {
        closer.withLock { $0.waiters.takeAll() }.resume()
    }

    /// Closes the gate (throws `IOError` with `EBADF` if it already was) and waits until no
    /// call is inside.
    func close(path: FilePath?, descriptor: FileDescriptor) async throws(IOError) {
        let before = word.bitwiseOr(Self.closedBit, ordering: .acquiringAndReleasing).oldValue
        if before & Self.closedBit != 0 { throw IOError(.close, errno: .badFileDescriptor, path: path, descriptor: descriptor) }
        if before == 0 { return }  // nobody inside
        // The last call to leave wakes it under the same lock, after its count went down: a
        // leave between the check and the wait is never missed.
        while word.load(ordering: .acquiring) != Self.closedBit {
            await closer.wait { _ in word.load(ordering: .acquiring) == Self.closedBit }
        }
    }
}
