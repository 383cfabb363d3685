internal import CSpoolURing
internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The portable backend of one ring thread, used where io_uring is refused: epoll readiness
/// for sockets and pipes, worker threads for file and path calls, and completions shaped like
/// io_uring's, so the executor above (admission, cancellation, timers, shutdown) is the same
/// for both backends (README, *Backends*; docs/design/portable-backend.md).
///
/// **Readiness.** Edge-triggered epoll with one registration per descriptor for its whole
/// life: one `epoll_ctl` per descriptor, not one per wait. Each descriptor keeps a ready flag
/// and a FIFO of waiting requests per direction. A request is tried at once when its
/// direction is ready and nobody waits ahead of it; `EAGAIN` clears the flag and queues it; an
/// event sets the flag and retries the queue in order until one answers `EAGAIN` again. A short
/// read of a stream clears the flag too (the stream is drained; new data is a new edge), so a
/// receive costs one `recv`, not a second one answering `EAGAIN`.
///
/// **Closed descriptors.** The kernel drops a registration silently when its file is closed,
/// and a reused number would look watched and never report an event. Every close Spool makes
/// (its handles' `close()` and `deinit`, on any thread) bumps the number's close epoch
/// (``DescriptorClose``); a registration whose epoch changed is dropped and made again. A
/// descriptor lent to Spool must not be closed behind Spool's back while Spool may use it.
///
/// **Completions.** Every request ends with exactly one final ``Completion`` (multishot ones
/// with `F_MORE` on the others), queued in ``ready`` and handed to the executor's
/// `complete(_:)` by ``reapCompletions(into:)``, like CQEs.
///
/// **Cancellation.** A request waiting for readiness, or a worker job that has not started,
/// ends at once with `-ECANCELED`. A worker job that has started runs to its end (a thread
/// cannot be interrupted), and its caller waits for it, as for a request in the kernel.
///
/// **Thread-safety:** none: the ring thread's, except that worker threads post their results
/// through the executor's inbox. **Lifetime:** owned by its executor, which is never freed;
/// ``close()`` closes its epoll descriptor when the ring thread ends.
final class PortableReactor: ReactorBackend {
    let epoll: Epoll
    /// The ring's eventfd, watched for wakes from other threads.
    let wakeDescriptor: Int32
    /// Worker threads for file and path calls, and for calls that wait on a peer (shared by
    /// the runtime's rings).
    let workers: PortableWorkers
    /// The executor this backend serves (set once, before the thread starts).
    unowned(unsafe) var executor: RingExecutor! = nil
    /// Completions ready for the executor, oldest first.
    @exclusivity(unchecked) private(set) var ready = FIFOQueue<Completion>(capacity: 64)
    /// Registrations by descriptor number (a table, not a hash: a lookup per event and per
    /// request).
    @exclusivity(unchecked) var registrations = RegistrationTable<Registration>()
    /// Requests handed to a worker thread so far (they would have blocked the ring thread).
    /// Ring thread only; read by tests and diagnostics.
    @exclusivity(unchecked) var workerJobsStarted = 0
    @exclusivity(unchecked) var waiters: [UInt64: Waiter] = [:]
    @exclusivity(unchecked) var jobs: [UInt64: WorkerJob] = [:]

    /// A request on a worker thread: its job, the pool it is on, and, on the peer pool, what
    /// lets its caller leave early. `token` tells this job's result from a later job's that
    /// reuses the same `user_data` after the caller left.
    struct WorkerJob {
        let job: BlockingPool.Job
        let pool: BlockingPool
        let peer: PeerWork?
        let token: AnyObject
        /// Its caller asked to cancel while it ran on the file pool (an open still looking at
        /// what it opens): if it moves to the peer pool, it ends there instead.
        var cancelRequested = false
    }
    /// Descriptors whose queue was cut short (a multishot request that delivered many
    /// completions in a row): served again at the next wait, before it blocks.
    @exclusivity(unchecked) var deferred: [Int32] = []
    /// Descriptors whose connect found a Unix listener's backlog full (`EAGAIN`), with when to
    /// try again: no readiness edge says the backlog has room, so the wait is bounded instead.
    /// Ring thread only. An entry outlives a cancelled connect until it is due: the retry then
    /// serves the descriptor's queue once more, which finds nothing (or a newer request, which
    /// tries a connect that does not block).
    @exclusivity(unchecked) var connectRetries: [(fd: Int32, at: ContinuousClock.Instant)] = []
    /// Completions one multishot request delivers in a row before others get their turn.
    static let multishotBurst = 64

    /// Creates the epoll instance and watches the wake eventfd.
    init(wakeDescriptor: Int32, workers: PortableWorkers) throws(Errno) {
        epoll = try Epoll()
        self.wakeDescriptor = wakeDescriptor
        self.workers = workers
        try epoll.add(wakeDescriptor, .readable)  // level-triggered: the ring reads it to reset it
    }

    /// Requests in progress (waiting for readiness or on a worker).
    var pending: Int { waiters.count + jobs.count }

    /// Whether completions are ready to reap, or a cut-short burst waits to go on.
    var hasReady: Bool { !ready.isEmpty || !deferred.isEmpty }

    // MARK: Starting

    /// Starts `request`, whose completions carry `userData`.
    func start(_ request: OperationRequest, userData: UInt64) {
        switch request.portableRoute {
        case .inline:
            if case .close(let fd) = request, !isWatched(fd) {
                // Not a socket or pipe Spool watched: maybe a file, whose close may flush (NFS,
                // FUSE) and take long; io_uring hands such closes to its workers too.
                forget(fd)
                startOnWorker(request, userData: userData)
                return
            }
            post(userData, runInline(request))
        case .worker:
            startOnWorker(request, userData: userData)
        case .readiness(let fd, let write):
            startOnReadiness(request, userData: userData, fd: fd, write: write)
        }
    }

    private func runInline(_ request: OperationRequest) -> CallResult {
        switch request {
        case .close(let fd):
            forget(fd)
            return DescriptorCalls.close(fd)  // the caller bumps its close epoch around this
        case .shutdownSocket(let fd, let how):
            return DescriptorCalls.shutdown(fd, how: how)
        default:
            return CallResult(rawValue: 0)  // nop
        }
    }

    private func startOnReadiness(_ request: OperationRequest, userData: UInt64, fd: Int32, write: Bool) {
        // A number never seen is checked before the table grows to it: a bogus one
        // (2_000_000_000) is EBADF, as the kernel says, not two billion empty slots.
        if registrations[fd] == nil && !DescriptorCalls.isOpen(fd) {
            post(userData, CallResult(rawValue: -EBADF))
            return
        }
        let reg = registration(fd)
        var waiter = Waiter(request: request, write: write)
        switch request {
        case .receiveMultishot(_, let group, let limit):
            waiter.remaining = limit
            waiter.pool = executor.pool(group: group)
        case .receiveMessageMultishot(_, _, let group):
            waiter.pool = executor.pool(group: group)
        default:
            break
        }
        if reg.direct && request.isPositional {
            startOnWorker(request, userData: userData)  // the device's wait would block the ring
            return
        }
        if reg.isFile {
            fileAttempt(request, userData: userData, reg: reg)
            return
        }
        if reg.noWaitUnsupported && write && request.isPositional {
            startOnWorker(request, userData: userData, waitsOnPeer: true)  // a terminal write may block: not on the ring
            return
        }
        if request.isAccept && !reg.madeNonBlocking {
            // accept4 has no per-call non-blocking flag: the listener itself must not block.
            _ = DescriptorCalls.setNonBlocking(fd, true)  // if this fails, the accept says why
            reg.madeNonBlocking = true
        }
        if case .connect = request {
            let was = DescriptorCalls.setNonBlocking(fd, true)
            guard let wasNonBlocking = was.value else {
                post(userData, was)
                return
            }
            waiter.restoreBlocking = wasNonBlocking == 0
        }
        // Cancelled requests leave their queue lazily: drop those at its head first.
        if write { purgeCancelled(&reg.writers) } else { purgeCancelled(&reg.readers) }
        let queueEmpty = write ? reg.writers.isEmpty : reg.readers.isEmpty
        if queueEmpty && (write ? reg.writeReady : reg.readReady || reg.readClosed) {
            switch attempt(&waiter, userData: userData, reg: reg) {
            case .finished: return
            case .needsWorker:
                // A regular file's call, or a terminal's write (it waits on the reader).
                startOnWorker(request, userData: userData, waitsOnPeer: write && !reg.isFile && !reg.direct)
                return
            case .wouldBlock:
                if deferred.last != reg.fd {
                    if write { reg.writeReady = false } else { reg.readReady = false }
                }
            }
        }
        waiters[userData] = waiter
        if write { reg.writers.append(userData) } else { reg.readers.append(userData) }
        watchOrRedirect(reg)
    }

    /// Watches `reg`; if epoll refuses it — a regular file or directory (`EPERM`), or a bad
    /// descriptor — every request queued on it goes elsewhere (the file path, or its error).
    func watchOrRedirect(_ reg: Registration) {
        guard let error = watch(reg) else { return }
        let queued = reg.readers.elements + reg.writers.elements
        _ = reg.readers.removeAll()
        _ = reg.writers.removeAll()
        if error == .notPermitted { reg.isFile = true }
        for u in queued {
            guard let w = waiters.removeValue(forKey: u) else { continue }
            finishConnect(w)
            if error == .notPermitted { fileAttempt(w.request, userData: u, reg: reg) } else { post(u, .failure(error)) }
        }
    }

    /// Registers `reg` with epoll for its whole life (edge-triggered, both directions), once.
    /// The add reports readiness that is already there, so nothing between the `EAGAIN` and the
    /// registration is missed. Returns the errno if epoll refuses the descriptor.
    func watch(_ reg: Registration) -> Errno? {
        if reg.watched { return nil }
        let interest: Epoll.Events = [.readable, .writable, .readHangUp, .priority, .edgeTriggered]
        do throws(Errno) {
            do throws(Errno) {
                try epoll.add(reg.fd, interest)
            } catch where error == .fileExists {
                // Still registered for a file this number named before, closed without Spool
                // knowing (a lingering duplicate elsewhere keeps it): take it over.
                try epoll.modify(reg.fd, interest)
            }
            reg.watched = true
            return nil
        } catch {
            return error
        }
    }

    /// A read or write of a regular file: the page cache at once, else a worker.
    private func fileAttempt(_ request: OperationRequest, userData: UInt64, reg: Registration) {
        switch request {
        case .read, .readVector, .write, .writeVector:
            let r = request.attemptWithoutBlocking(stream: reg.stream)
            if r.wouldBlock || r.failed(with: .notSupported) {
                startOnWorker(request, userData: userData)
            } else {
                post(userData, r)
            }
        default:
            post(userData, .failure(.notSocket))  // a socket call on a file
        }
    }

    // MARK: Waiting

    /// Waits for readiness (at most `timeout`; `.zero`: a poll; nil: no bound) and retries the
    /// requests of every descriptor that became ready.
    /// - Throws: the errno of an epoll wait that failed in a way that will not pass (not `EINTR`).
    func wait(timeout: Duration?) throws(Errno) {
        if !deferred.isEmpty {
            let again = deferred
            deferred.removeAll(keepingCapacity: true)
            for fd in again {
                guard let reg = registrations[fd] else { continue }
                serve(reg, write: false)
                serve(reg, write: true)
            }
        }
        var timeout = ready.isEmpty && deferred.isEmpty ? timeout : .zero
        if let soonest = connectRetries.lazy.map(\.at).min() {
            let left = max(ContinuousClock.now.duration(to: soonest), .zero)
            timeout = timeout.map { min($0, left) } ?? left
        }
        let n = try epoll.wait(timeout: timeout)
        if !connectRetries.isEmpty { retryConnects() }
        for i in 0..<n {
            let (fd, events) = epoll.event(i)
            if fd == wakeDescriptor {
                _ = DescriptorCalls.resetCounter(fd)  // readable: never blocks
                continue
            }
            guard let reg = registrations[fd] else { continue }
            if !events.isDisjoint(with: [.hangUp, .error, .readHangUp]) { reg.readClosed = true }
            if events.contains(.priority) { reg.urgent = true }
            if !events.isDisjoint(with: [.readable, .hangUp, .error, .readHangUp, .priority]) {
                reg.readReady = true
                serve(reg, write: false)
            }
            if !events.isDisjoint(with: [.writable, .hangUp, .error]) {
                reg.writeReady = true
                serve(reg, write: true)
            }
        }
    }

    /// Retries the requests waiting on `reg` in one direction, oldest first, until one would block.
    private func serve(_ reg: Registration, write: Bool) {
        while let userData = write ? reg.writers.first : reg.readers.first {
            guard let index = waiters.index(forKey: userData) else {
                removeFirst(reg, write: write)
                continue
            }
            switch attempt(&waiters.values[index], userData: userData, reg: reg) {
            case .finished:
                waiters.remove(at: index)
                removeFirst(reg, write: write)
            case .needsWorker:
                let waiter = waiters.remove(at: index).value
                removeFirst(reg, write: write)
                startOnWorker(waiter.request, userData: userData, waitsOnPeer: write && !reg.isFile && !reg.direct)
            case .wouldBlock:
                if deferred.last == reg.fd { return }  // a burst was cut short: it goes on at the next wait
                if write { reg.writeReady = false } else if !reg.readClosed { reg.readReady = false }
                return
            }
        }
    }


    /// Tries again the connects whose backlog wait is over (their queue is served as if the
    /// descriptor had become writable).
    private func retryConnects() {
        let now = ContinuousClock.now
        var due: [Int32] = []
        connectRetries.removeAll { entry in
            guard entry.at <= now else { return false }
            due.append(entry.fd)
            return true
        }
        for fd in due {
            guard let reg = registrations[fd] else { continue }
            reg.writeReady = true
            serve(reg, write: true)
        }
    }

    /// Drops the queue's leading entries whose request was cancelled meanwhile.
    private func purgeCancelled(_ queue: inout FIFOQueue<UInt64>) {
        while let first = queue.first, waiters[first] == nil { _ = queue.popFirst() }
        queue.shrinkIfEmpty()
    }

    /// Drops the head of `reg`'s queue in one direction (a burst's memory goes back once it drained).
    private func removeFirst(_ reg: Registration, write: Bool) {
        if write {
            _ = reg.writers.popFirst()
            reg.writers.shrinkIfEmpty()
        } else {
            _ = reg.readers.popFirst()
            reg.readers.shrinkIfEmpty()
        }
    }

    // MARK: Cancelling

    /// Ends `userData`'s request with `-ECANCELED` if it is waiting for readiness or its worker
    /// job has not started, or its job waits on a peer (its caller leaves; the job finishes on
    /// its own, see ``PortableWorkers``); a started file call runs to its end, its caller with it.
    func cancel(_ userData: UInt64) {
        if let waiter = waiters.removeValue(forKey: userData) {
            // Its queue entry stays until it reaches the head (serving and starting skip entries
            // without a waiter): O(1), so cancelling everything at shutdown is linear.
            finishConnect(waiter)
            post(userData, .failure(.canceled))
        } else if let entry = jobs[userData] {
            if entry.pool.withdraw(entry.job) {
                jobs[userData] = nil
                post(userData, .failure(.canceled))
            } else if let peer = entry.peer, peer.detachable {
                // Running, and it may wait on its peer for ever: the caller leaves now; the job
                // owns copies of what it uses and disposes of its result when it ends.
                peer.detached.store(true, ordering: .releasing)
                jobs[userData] = nil
                post(userData, .failure(.canceled))
            } else {
                // A file call that has started: its caller waits for it (it uses the caller's
                // memory), unless it turns out to wait on a peer (see `moveToPeerPool`).
                jobs[userData]?.cancelRequested = true
            }
        }
    }

    /// Cancels every request (shutdown).
    func cancelAll() {
        for userData in Array(waiters.keys) { cancel(userData) }
        for userData in Array(jobs.keys) { cancel(userData) }
    }

    // MARK: Completions

    /// Hands every ready completion to the executor, oldest first (including those posted
    /// meanwhile).
    func reapCompletions(into executor: RingExecutor) {
        while let next = ready.popFirst() { executor.complete(next) }
    }

    func post(_ userData: UInt64, _ result: CallResult, flags: UInt32 = 0) {
        ready.append(Completion(userData: userData, result: result.rawValue, flags: flags))
    }

    /// What waits on which descriptor (diagnostics; ring thread).
    var debugDescription: String {
        registrations.all.filter { !$0.readers.isEmpty || !$0.writers.isEmpty }.map {
            "fd \($0.fd): r\($0.readReady ? "+" : "-")\($0.readers.count) w\($0.writeReady ? "+" : "-")\($0.writers.count)"
        }.joined(separator: ", ") + " jobs \(jobs.count) ready \(ready.count)"
    }

    /// Releases what the reactor holds (ring thread, at exit; nothing is pending). No
    /// descriptor stays reserved: siblings never name this ring's.
    func close() -> Int32? {
        // The executor, and so this reactor, outlives the ring thread: give back everything.
        registrations.removeAll()
        ready = FIFOQueue(capacity: 0)
        waiters = [:]
        jobs = [:]
        deferred = []
        epoll.close()
        return nil
    }

    /// Whether ``close()`` ran (its epoll descriptor is closed).
    var isClosed: Bool { epoll.isClosed }
}
