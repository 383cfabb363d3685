import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Tells when the kernel has let go of a ring that is being torn down, so memory that the
/// ring's unfinished requests point at can be given back safely.
///
/// Closing a ring's descriptor makes the kernel cancel its requests and free the ring
/// asynchronously; nothing in the ABI says when that has finished. The witness makes it
/// observable: it registers the write end of a pipe in the ring's file table and closes its
/// own copy, so the only writer left is the ring's table. The kernel drops that reference
/// when it frees the ring, which it does only after every request has released it; the
/// pipe's read end then reports hang-up. ``waitForRelease(timeout:)`` waits for that.
///
/// **Thread-safety:** create it on the ring's owner thread (registration, like every ring
/// call). **Lifetime:** `~Copyable`; the read end is closed when the witness is dropped.
/// The ring must have no file table registered yet (it registers a one-slot table).
public struct TeardownWitness: ~Copyable {
    private let readEnd: Int32

    /// Attaches a witness to `ring`.
    /// - Throws: ``RingError/registrationFailed(operation:_:)`` if the ring refuses the file
    ///   table, or ``RingError/setupFailed(_:)`` if no pipe could be made.
    public init(attachingTo ring: Ring) throws(RingError) {
        var ends: [Int32] = [-1, -1]
        let made = spool_pipe_cloexec(&ends)
        guard made == 0 else { throw .setupFailed(Errno(rawValue: -made)) }
        do {
            do {
                try ring.registerSparseFileTable(count: 1)
                try ring.updateRegisteredFiles(at: 0, with: [FileDescriptor(rawValue: ends[1])])
            } catch .registrationFailed(_, .invalidArgument) {
                try ring.registerFiles([FileDescriptor(rawValue: ends[1])])  // kernels before sparse tables
            }
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[1])  // the ring's table now holds the only write reference
        readEnd = ends[0]
    }

    deinit { close(readEnd) }

    /// Blocks until the kernel has released the ring (every request is finished), or
    /// `timeout` passes. Returns true when released. `nil` waits without limit.
    public func waitForRelease(timeout: Duration? = nil) -> Bool {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        while true {
            var waitMilliseconds: Int32 = -1
            if let deadline {
                let left = deadline - clock.now
                if left <= .zero { return false }
                let (s, a) = left.components
                waitMilliseconds = Int32(clamping: s * 1000 + a / 1_000_000_000_000_000 + 1)
            }
            var p = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, waitMilliseconds)
            if r > 0 {
                if p.revents & Int16(POLLHUP) != 0 { return true }
                var byte: UInt8 = 0
                if read(readEnd, &byte, 1) == 0 { return true }  // end of file: no writer left
            } else if r < 0 && Glibc.errno != EINTR {
                return false
            }
        }
    }
}
