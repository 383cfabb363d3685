import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The portable backend's worker threads, in two pools so that calls which may wait on a peer
/// never hold the threads file calls need.
///
/// - `files`: reads and writes of regular files that are not cached, opens, stats, renames,
///   closes: calls bounded by the disk.
/// - `peers`: calls that may wait as long as someone else pleases: the open of a FIFO or a
///   character device (it waits for the other end, or a carrier), a write to a terminal (it
///   waits for the reader). Their callers can leave: a cancel or timeout resumes the caller
///   at once, and the job, which owns copies of what it reads (``PeerWork``), finishes on its
///   own and disposes of its result. Unlike io_uring's, such a call is not interrupted: a
///   terminal write its caller left still happens later, and an abandoned FIFO open takes
///   part in the writer's rendezvous before its descriptor is closed.
///
/// `fsync` stays on the file pool and its caller waits for it, as on io_uring (a running sync
/// cannot be cancelled there either): a detached sync would need a duplicate descriptor, and
/// closing any descriptor of a file drops the process's `fcntl` record locks on it. (The
/// duplicates a terminal write or a FIFO open relative to a directory descriptor use have
/// that effect on locks held on that terminal or directory.)
///
/// **Thread-safety:** `Sendable`; the pools are. **Lifetime:** owned by the runtime, stopped at
/// its shutdown.
struct PortableWorkers: Sendable {
    let files: BlockingPool
    let peers: BlockingPool

    init(threads: Int, queueLimit: Int) {
        files = BlockingPool(threads: threads, queueLimit: queueLimit)
        peers = BlockingPool(threads: threads, queueLimit: queueLimit)
    }

    /// Stops both pools: the jobs that never started.
    func stop() -> [BlockingPool.Job] {
        files.stop().notStarted + peers.stop().notStarted
    }
}

/// One job on the ``PortableWorkers/peers`` pool: the request it runs, rewritten to use memory
/// and a descriptor of its own (a duplicate), since the caller's may be freed, closed and
/// reused once the caller has left; and whether the caller left (then the result is disposed
/// of where the job ends: a descriptor it opened is closed).
///
/// **Thread-safety:** `Sendable`; `detached` is atomic, the rest immutable. **Lifetime:** held by
/// the job and the reactor's table; the copies go (and the duplicate is closed) when the last
/// holder goes, after the call returned.
final class PeerWork: Sendable {
    /// The request to run (its pointers and descriptor are this object's).
    let request: OperationRequest
    /// Whether the caller may leave before the job ends: false when the descriptor could not
    /// be duplicated (`EMFILE`), so the job uses the caller's, which must stay open.
    let detachable: Bool
    /// The caller stopped waiting (cancel, timeout, shutdown).
    let detached = Atomic<Bool>(false)
    private nonisolated(unsafe) let copy: UnsafeMutableRawPointer?
    private let duplicate: Int32?

    /// Copies what `request` borrows from its caller (a path, the bytes to write, the
    /// descriptor). Ring thread, while the caller waits.
    init(copying request: OperationRequest) {
        func own(_ fd: Int32) -> Int32? {
            guard fd != AT_FDCWD else { return nil }
            let d = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            return d >= 0 ? d : nil
        }
        var copy: UnsafeMutableRawPointer? = nil
        var duplicate: Int32? = nil
        var needsDuplicate = true
        switch request {
        case .openAt(let directory, let path, let flags, let mode):
            let length = strlen(path) + 1
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 1)
            bytes.copyMemory(from: path, byteCount: length)
            copy = bytes
            duplicate = own(directory)
            needsDuplicate = directory != AT_FDCWD
            self.request = .openAt(directory: duplicate ?? directory, path: bytes.assumingMemoryBound(to: CChar.self), flags: flags, mode: mode)
        case .write(let fd, let buffer, let count, let offset):
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(Int(count), 1), alignment: 16)
            bytes.copyMemory(from: buffer, byteCount: Int(count))
            copy = bytes
            duplicate = own(fd)
            self.request = .write(fd: duplicate ?? fd, buffer: bytes, count: count, offset: offset)
        case .writeVector(let fd, let iovecs, let count, let offset):
            // Gathered into one buffer: one write(2) of the same bytes, as atomic for a pipe.
            let parts = UnsafeBufferPointer(start: iovecs, count: count)
            let total = parts.reduce(0) { $0 + $1.iov_len }
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 16)
            var at = 0
            for part in parts where part.iov_len > 0 {
                bytes.advanced(by: at).copyMemory(from: part.iov_base, byteCount: part.iov_len)
                at += part.iov_len
            }
            copy = bytes
            duplicate = own(fd)
            self.request = .write(fd: duplicate ?? fd, buffer: bytes, count: UInt32(clamping: total), offset: offset)
        default:
            // Nothing else may leave its caller: it would use the caller's memory.
            self.request = request
        }
        self.copy = copy
        self.duplicate = duplicate
        switch request {
        case .openAt, .write, .writeVector: detachable = !needsDuplicate || duplicate != nil
        default: detachable = false
        }
    }

    deinit {
        copy?.deallocate()
        if let duplicate { _ = DescriptorCalls.close(duplicate) }
    }

    /// Disposes of the result of a call nobody waits for: a descriptor it opened is closed.
    func dispose(_ result: CallResult) {
        if case .openAt = request, let fd = result.value, fd >= 0 { _ = DescriptorCalls.close(fd) }
    }
}

extension OperationRequest {
    /// Whether this is the open of something that waits for a peer before it returns (a FIFO
    /// or a character device opened without `O_NONBLOCK`); asked on a file worker, which then
    /// hands the open to the peer pool instead. (A FIFO put in its place between this look and
    /// the open would make the open wait on the file pool, as before.)
    var opensSomethingThatWaits: Bool {
        guard case .openAt(let directory, let path, let flags, _) = self, flags & O_NONBLOCK == 0 else { return false }
        var st = stat()
        guard fstatat(directory, path, &st, flags & O_NOFOLLOW != 0 ? AT_SYMLINK_NOFOLLOW : 0) == 0 else { return false }
        let type = st.st_mode & S_IFMT
        return type == S_IFIFO || type == S_IFCHR
    }
}

/// The identity of one worker job, told apart from a later one with the same `user_data`.
/// **Thread-safety:** immutable. **Lifetime:** held by the job and the reactor's table.
final class WorkerJobToken: Sendable {}
