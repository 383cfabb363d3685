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
/// **Readiness.** Level-triggered epoll with one-shot interest (`EPOLLONESHOT`), armed with
/// one `epoll_ctl` when a request starts to wait. A request is tried at once when nobody waits
/// ahead of it; `EAGAIN` queues it (a FIFO per descriptor and direction) and arms the interest;
/// an event retries the queue in order until one answers `EAGAIN` again, and re-arms if some
/// still wait.
///
/// Why not edge-triggered with one registration per descriptor for its whole life (one
/// `epoll_ctl` fewer per wait)? Spool's handles close their descriptors from `deinit`, on any
/// thread, and users may close descriptors they lent to Spool: the kernel then drops the
/// registration silently, and a reused descriptor number would look registered and never
/// report an event — a hang. Re-arming per wait finds that out (`ENOENT`, then a new
/// registration) and costs one system call; an idle descriptor never wakes the ring.
///
/// **Completions.** Every request ends with exactly one final ``Completion`` (multishot ones
/// with `F_MORE` on the others), queued in ``ready`` and handed to the executor's
/// `complete(_:)` by ``reap(_:)``, like CQEs.
///
/// **Cancellation.** A request waiting for readiness, or a worker job that has not started,
/// ends at once with `-ECANCELED`. A worker job that has started runs to its end (a thread
/// cannot be interrupted), and its caller waits for it, as for a request in the kernel.
///
/// **Thread-safety:** none: the ring thread's, except that worker threads post their results
/// through the executor's inbox. **Lifetime:** owned by its executor; closes its epoll
/// descriptor when dropped. Descriptors it watched are forgotten when closed through Spool.
final class PortableReactor {
    /// One watched descriptor.
    private final class Registration {
        let fd: Int32
        /// The interest armed in epoll now (one-shot: cleared when it fires).
        var armed: Epoll.Events = []
        /// The last read on this stream was short: the next one waits for readiness first
        /// (the arm re-polls, so data already there is reported at once).
        var probablyDrained = false
        /// Requests (their `user_data`) waiting in each direction, oldest first.
        var readers: [UInt64] = [], writers: [UInt64] = []
        /// Registered with epoll (false: not yet, or a regular file epoll refuses).
        var watched = false
        /// epoll refused it (`EPERM`): a regular file or directory; reads and writes that would
        /// wait go to a worker.
        var isFile = false
        /// The descriptor does not take `RWF_NOWAIT` (a terminal): once epoll says it is ready,
        /// a plain call is made.
        var noWaitUnsupported = false
        /// The descriptor cannot seek (`ESPIPE`): offsets are ignored, as io_uring does.
        var stream = false
        /// Spool set `O_NONBLOCK` on it (a listener: accept has no per-call flag).
        var madeNonBlocking = false

        init(fd: Int32) { self.fd = fd }
    }

    /// A request waiting for readiness.
    private struct Waiter {
        var request: OperationRequest
        var write: Bool
        /// A multishot receive's bytes left before its byte limit ends it (0: no limit).
        var remaining: UInt32 = 0
        /// A connect that answered `EINPROGRESS`: readiness means it finished.
        var connecting = false
        /// `O_NONBLOCK` to clear again when a connect ends (Spool set it for the connect).
        var restoreBlocking = false
    }

    /// What one attempt of a request did.
    private enum Attempt {
        case finished
        case wouldBlock
        /// A regular file whose data is not cached: a worker must do it.
        case needsWorker
    }

    let epoll: Epoll
    /// The ring's eventfd, watched for wakes from other threads.
    let wakeDescriptor: Int32
    /// Worker threads for file and path calls (shared by the runtime's rings).
    let workers: BlockingPool
    unowned let executor: RingExecutor
    /// Completions ready for the executor, oldest first.
    private(set) var ready = JobQueue<Completion>(capacity: 64)
    private var registrations: [Int32: Registration] = [:]
    private var waiters: [UInt64: Waiter] = [:]
    private var jobs: [UInt64: BlockingPool.Job] = [:]
    /// Descriptors whose queue was cut short (a multishot request that delivered many
    /// completions in a row): served again at the next wait.
    private var deferred: [Int32] = []
    /// Completions one multishot request delivers in a row before others get their turn.
    static let multishotBurst = 64

    /// Creates the epoll instance and watches the wake eventfd.
    init(executor: RingExecutor, wakeDescriptor: Int32, workers: BlockingPool) throws(Errno) {
        epoll = try Epoll()
        self.executor = executor
        self.wakeDescriptor = wakeDescriptor
        self.workers = workers
        try epoll.add(wakeDescriptor, .readable)  // level-triggered: the ring reads it to reset it
    }

    /// Requests in progress (waiting for readiness or on a worker).
    var pending: Int { waiters.count + jobs.count }

    /// Whether completions are ready to reap.
    var hasReady: Bool { !ready.isEmpty || !deferred.isEmpty }

    // MARK: Starting

    /// Starts `request`, whose completions carry `userData`.
    func start(_ request: OperationRequest, userData: UInt64) {
        switch request.portableRoute {
        case .inline:
            post(userData, runInline(request))
        case .worker:
            startOnWorker(request, userData: userData)
        case .readiness(let fd, let write):
            startOnReadiness(request, userData: userData, fd: fd, write: write)
        }
    }

    private func runInline(_ request: OperationRequest) -> Int32 {
        switch request {
        case .close(let fd):
            forget(fd)
            return Glibc.close(fd) < 0 ? -errno : 0
        case .shutdownSocket(let fd, let how):
            return Glibc.shutdown(fd, how) < 0 ? -errno : 0
        default:
            return 0  // nop
        }
    }

    private func startOnReadiness(_ request: OperationRequest, userData: UInt64, fd: Int32, write: Bool) {
        let reg = registration(fd)
        var waiter = Waiter(request: request, write: write)
        if case .receiveMultishot(_, _, let limit) = request { waiter.remaining = limit }
        if reg.isFile {
            fileAttempt(request, userData: userData, reg: reg)
            return
        }
        if request.isAccept && !reg.madeNonBlocking {
            // accept4 has no per-call non-blocking flag: the listener itself must not block.
            _ = spool_set_nonblocking(fd, 1)  // if this fails, the accept says why
            reg.madeNonBlocking = true
        }
        if case .connect = request {
            let was = spool_set_nonblocking(fd, 1)
            if was < 0 {
                post(userData, was)
                return
            }
            waiter.restoreBlocking = was == 0
        }
        let queueEmpty = write ? reg.writers.isEmpty : reg.readers.isEmpty
        if queueEmpty && !(reg.probablyDrained && !write && request.isStreamRead) {
            switch attempt(&waiter, userData: userData, reg: reg) {
            case .finished: return
            case .needsWorker:
                startOnWorker(request, userData: userData)
                return
            case .wouldBlock:
                break
            }
        }
        waiters[userData] = waiter
        if write { reg.writers.append(userData) } else { reg.readers.append(userData) }
        if let error = arm(reg) {
            // epoll refused: a regular file or directory (EPERM), or a bad descriptor.
            waiters[userData] = nil
            if write { reg.writers.removeLast() } else { reg.readers.removeLast() }
            finishConnect(waiter)
            if error == .notPermitted {
                reg.isFile = true
                fileAttempt(request, userData: userData, reg: reg)
            } else {
                post(userData, -error.rawValue)
            }
        }
    }

    /// Arms `reg`'s one-shot interest for the directions in which requests wait (one
    /// `epoll_ctl`; none if that interest is armed already). A registration the kernel dropped
    /// (its descriptor was closed behind the reactor's back and the number reused) answers
    /// `ENOENT` and is made again. Returns the errno if epoll refuses the descriptor.
    private func arm(_ reg: Registration) -> Errno? {
        var wanted: Epoll.Events = []
        if !reg.readers.isEmpty { wanted.formUnion([.readable, .readHangUp]) }
        if !reg.writers.isEmpty { wanted.insert(.writable) }
        if wanted.isEmpty || wanted == reg.armed { return nil }
        let interest = wanted.union(.oneShot)
        do throws(Errno) {
            if reg.watched {
                do throws(Errno) {
                    try epoll.modify(reg.fd, interest)
                } catch where error == .noSuchFileOrDirectory {
                    try epoll.add(reg.fd, interest)
                }
            } else {
                do throws(Errno) {
                    try epoll.add(reg.fd, interest)
                } catch where error == .fileExists {
                    try epoll.modify(reg.fd, interest)  // registered by a reactor that forgot it
                }
                reg.watched = true
            }
            reg.armed = wanted
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
            if r == -EAGAIN || r == -EOPNOTSUPP {
                startOnWorker(request, userData: userData)
            } else {
                post(userData, r)
            }
        default:
            post(userData, -ENOTSOCK)  // a socket call on a file
        }
    }

    private func startOnWorker(_ request: OperationRequest, userData: UInt64) {
        let executor = self.executor
        let job = BlockingPool.Job(
            run: { executor.post(.completed(userData, request.runBlocking())) },
            refuse: { _ in executor.post(.completed(userData, -ECANCELED)) })
        jobs[userData] = job
        if workers.submit(job) != nil {
            jobs[userData] = nil
            post(userData, -EAGAIN)  // cannot happen: the queue holds more than the rings admit
        }
    }

    /// A worker finished `userData`'s job (ring thread, from the inbox).
    func workerFinished(_ userData: UInt64, _ result: Int32) {
        guard jobs.removeValue(forKey: userData) != nil else { return }
        post(userData, result)
    }

    // MARK: Attempts

    /// Tries `waiter`'s request once (a multishot one until it would block, ends, or used its
    /// burst), posting what it completed.
    private func attempt(_ waiter: inout Waiter, userData: UInt64, reg: Registration) -> Attempt {
        switch waiter.request {
        case .acceptMultishot:
            for _ in 0..<Self.multishotBurst {
                let r = waiter.request.attemptWithoutBlocking()
                if r == -EAGAIN { return .wouldBlock }
                if r == -ECONNABORTED || r == -EINTR { continue }  // that connection is gone; the next one may not be
                if r < 0 {
                    post(userData, r)
                    return .finished
                }
                post(userData, r, flags: IORING_CQE_F_MORE)
            }
            deferred.append(reg.fd)
            return .wouldBlock
        case .receiveMultishot(let fd, let group, let limit):
            return receiveIntoPool(&waiter, userData: userData, reg: reg, fd: fd, group: group, limit: limit, message: nil)
        case .receiveMessageMultishot(let fd, let message, let group):
            return receiveIntoPool(&waiter, userData: userData, reg: reg, fd: fd, group: group, limit: 0, message: message)
        case .connect(let fd, _, _) where waiter.connecting:
            let r = spool_socket_error(fd)
            finishConnect(waiter)
            post(userData, r)
            return .finished
        default:
            var r: Int32
            if reg.noWaitUnsupported {
                // No RWF_NOWAIT here (a terminal): a plain call, only when poll says it will not block.
                guard Self.isReadyNow(reg.fd, write: waiter.write) else { return .wouldBlock }
                r = waiter.request.attemptWithoutBlocking(blockingRetry: true, stream: reg.stream)
            } else {
                r = waiter.request.attemptWithoutBlocking(stream: reg.stream)
            }
            if r == -ESPIPE && !reg.stream, waiter.request.isPositional {
                reg.stream = true  // a pipe or socket: io_uring ignores the offset there
                r = waiter.request.attemptWithoutBlocking(stream: true)
            }
            if r == -EOPNOTSUPP, waiter.request.isPositional {
                // The descriptor does not take RWF_NOWAIT: a regular file goes to a worker; any
                // other kind waits for epoll, then makes plain calls when poll says they will not block.
                if reg.isFile { return .needsWorker }
                reg.noWaitUnsupported = true
                if reg.watched {
                    guard Self.isReadyNow(reg.fd, write: waiter.write) else { return .wouldBlock }
                    r = waiter.request.attemptWithoutBlocking(blockingRetry: true, stream: reg.stream)
                } else {
                    return .wouldBlock
                }
            }
            if r == -EAGAIN {
                if reg.isFile && waiter.request.isPositional { return .needsWorker }
                return .wouldBlock
            }
            if r > 0, let wanted = waiter.request.streamReadCount, r < wanted, reg.stream || waiter.request.isReceive {
                reg.probablyDrained = true  // a short read: the socket (or pipe) is most likely empty now
            }
            if case .connect = waiter.request {
                if r == -EINPROGRESS || r == -EALREADY {
                    waiter.connecting = true
                    return .wouldBlock
                }
                finishConnect(waiter)
            }
            post(userData, r)
            return .finished
        }
    }

    /// A multishot receive into pool buffers: one completion per filled buffer (`F_MORE` while
    /// it goes on), ending with `ENOBUFS` when the pool is dry, at end of stream, on an error, or
    /// when the byte limit is reached, as the kernel's does.
    private func receiveIntoPool(
        _ waiter: inout Waiter, userData: UInt64, reg: Registration, fd: Int32, group: UInt16, limit: UInt32,
        message: UnsafeMutablePointer<msghdr>?
    ) -> Attempt {
        guard let pool = executor.pool(group: group) else {
            post(userData, -ENOBUFS)
            return .finished
        }
        for _ in 0..<Self.multishotBurst {
            guard let id = pool.takeForReceive() else {
                post(userData, -ENOBUFS)
                return .finished
            }
            let buffer = pool.bytes(of: id)
            let base = UnsafeMutableRawPointer(mutating: buffer.baseAddress!)
            var r: Int32
            if let message {
                r = receiveMessage(fd, into: base, size: buffer.count, shape: message)
            } else {
                var want = buffer.count
                if limit > 0 { want = min(want, Int(waiter.remaining)) }
                let n = recv(fd, base, want, Int32(MSG_DONTWAIT))
                r = n < 0 ? -errno : Int32(clamping: n)
            }
            if r <= 0 {
                pool.returnUnfilled(id)
                if r == -EAGAIN { return .wouldBlock }
                post(userData, r)
                return .finished
            }
            var final = false
            if limit > 0 {
                waiter.remaining -= min(waiter.remaining, UInt32(r))
                final = waiter.remaining == 0
            }
            let flags = IORING_CQE_F_BUFFER | UInt32(id) << IORING_CQE_BUFFER_SHIFT | (final ? 0 : IORING_CQE_F_MORE)
            post(userData, r, flags: flags)
            if final { return .finished }
        }
        deferred.append(reg.fd)
        return .wouldBlock
    }

    /// One `recvmsg` into a pool buffer laid out as io_uring's multishot `recvmsg` lays it out
    /// (`io_uring_recvmsg_out`, the name, the control data, then the payload): the bytes of the
    /// buffer used, or `-errno`.
    private func receiveMessage(_ fd: Int32, into base: UnsafeMutableRawPointer, size: Int, shape: UnsafeMutablePointer<msghdr>) -> Int32 {
        let header = MemoryLayout<spool_uring_recvmsg_out>.size
        let nameCapacity = Int(shape.pointee.msg_namelen)
        let controlCapacity = Int(shape.pointee.msg_controllen)
        let start = header + nameCapacity + controlCapacity
        guard size > start else { return -EINVAL }
        var v = iovec(iov_base: base + start, iov_len: size - start)
        var m = msghdr()
        m.msg_name = nameCapacity > 0 ? base + header : nil
        m.msg_namelen = socklen_t(nameCapacity)
        m.msg_control = controlCapacity > 0 ? base + header + nameCapacity : nil
        m.msg_controllen = controlCapacity
        let n = withUnsafeMutablePointer(to: &v) { iov -> Int in
            m.msg_iov = iov
            m.msg_iovlen = 1
            return recvmsg(fd, &m, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC))
        }
        if n < 0 { return -errno }
        var out = spool_uring_recvmsg_out()
        out.namelen = UInt32(m.msg_namelen)
        out.controllen = UInt32(m.msg_controllen)
        out.payloadlen = UInt32(clamping: n)
        out.flags = UInt32(bitPattern: m.msg_flags)
        base.storeBytes(of: out, as: spool_uring_recvmsg_out.self)
        return Int32(clamping: start + min(n, size - start))
    }

    private func finishConnect(_ waiter: Waiter) {
        guard case .connect(let fd, _, _) = waiter.request, waiter.restoreBlocking else { return }
        _ = spool_set_nonblocking(fd, 0)
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
                rearm(reg)
            }
        }
        let n = try epoll.wait(timeout: ready.isEmpty ? timeout : .zero)
        for i in 0..<n {
            let (fd, events) = epoll.event(i)
            if fd == wakeDescriptor {
                var value: UInt64 = 0
                _ = Glibc.read(fd, &value, 8)  // readable: never blocks; resets the counter
                continue
            }
            guard let reg = registrations[fd] else { continue }
            reg.armed = []  // one-shot: it fired
            if !events.isDisjoint(with: [.readable, .hangUp, .error, .readHangUp]) {
                reg.probablyDrained = false
                serve(reg, write: false)
            }
            if !events.isDisjoint(with: [.writable, .hangUp, .error]) {
                serve(reg, write: true)
            }
            rearm(reg)
        }
    }

    /// Retries the requests waiting on `reg` in one direction, oldest first, until one would block.
    private func serve(_ reg: Registration, write: Bool) {
        while let userData = write ? reg.writers.first : reg.readers.first {
            guard var waiter = waiters[userData] else {
                removeFirst(reg, write: write)
                continue
            }
            switch attempt(&waiter, userData: userData, reg: reg) {
            case .finished:
                waiters[userData] = nil
                removeFirst(reg, write: write)
            case .needsWorker:
                waiters[userData] = nil
                removeFirst(reg, write: write)
                startOnWorker(waiter.request, userData: userData)
            case .wouldBlock:
                waiters[userData] = waiter
                return
            }
        }
    }

    /// Re-arms `reg` for the requests still waiting on it (after an event or a cut burst); one
    /// whose descriptor epoll no longer takes ends with that error.
    private func rearm(_ reg: Registration) {
        guard let error = arm(reg) else { return }
        for userData in reg.readers + reg.writers {
            if let waiter = waiters.removeValue(forKey: userData) {
                finishConnect(waiter)
                post(userData, -error.rawValue)
            }
        }
        reg.readers.removeAll()
        reg.writers.removeAll()
    }

    /// Whether a call on `fd` would not block now (`poll` with no wait).
    private static func isReadyNow(_ fd: Int32, write: Bool) -> Bool {
        var p = pollfd(fd: fd, events: Int16(write ? POLLOUT : POLLIN), revents: 0)
        return Glibc.poll(&p, 1, 0) == 1
    }

    private func removeFirst(_ reg: Registration, write: Bool) {
        if write { reg.writers.removeFirst() } else { reg.readers.removeFirst() }
    }

    // MARK: Cancelling

    /// Ends `userData`'s request with `-ECANCELED` if it is waiting for readiness or its worker
    /// job has not started; a started job runs to its end.
    func cancel(_ userData: UInt64) {
        if let waiter = waiters.removeValue(forKey: userData) {
            if let fd = waiter.request.portableDescriptor, let reg = registrations[fd] {
                if waiter.write { reg.writers.removeAll { $0 == userData } } else { reg.readers.removeAll { $0 == userData } }
            }
            finishConnect(waiter)
            post(userData, -ECANCELED)
        } else if let job = jobs[userData], workers.withdraw(job) {
            jobs[userData] = nil
            post(userData, -ECANCELED)
        }
    }

    /// Cancels every request (shutdown).
    func cancelAll() {
        for userData in Array(waiters.keys) { cancel(userData) }
        for userData in Array(jobs.keys) { cancel(userData) }
    }

    // MARK: Completions

    /// Hands every ready completion to `body`, oldest first (including those posted meanwhile).
    func reap(_ body: (Completion) -> Void) {
        while let next = ready.popFirst() { body(next) }
    }

    private func post(_ userData: UInt64, _ result: Int32, flags: UInt32 = 0) {
        ready.append(Completion(userData: userData, result: result, flags: flags))
    }

    // MARK: Descriptors

    private func registration(_ fd: Int32) -> Registration {
        if let reg = registrations[fd] { return reg }
        let reg = Registration(fd: fd)
        registrations[fd] = reg
        return reg
    }

    /// Forgets `fd` before it is closed: its requests end with `-ECANCELED` (none normally:
    /// Spool closes a descriptor after its requests ended), and epoll stops watching it.
    func forget(_ fd: Int32) {
        guard let reg = registrations.removeValue(forKey: fd) else { return }
        for userData in reg.readers + reg.writers {
            if let waiter = waiters.removeValue(forKey: userData) {
                finishConnect(waiter)
                post(userData, -ECANCELED)
            }
        }
        if reg.watched { epoll.remove(fd) }
    }

    /// Releases what the reactor holds (ring thread, at exit; nothing is pending).
    func close() {
        ready.destroy()
        ready = JobQueue(capacity: 2)
        registrations.removeAll()
    }
}

extension OperationRequest {
    /// The descriptor a readiness request waits on.
    var portableDescriptor: Int32? {
        if case .readiness(let fd, _) = portableRoute { return fd }
        return nil
    }

    /// The bytes a plain read or receive asks for (the short-read hint), else nil.
    var streamReadCount: Int? {
        switch self {
        case .read(_, _, let count, _), .receive(_, _, let count, _): return Int(count)
        default: return nil
        }
    }

    /// A plain read or receive (the short-read hint applies).
    var isStreamRead: Bool { streamReadCount != nil }

    /// A `recv`.
    var isReceive: Bool { if case .receive = self { return true } else { return false } }

    /// A read or write with a file offset (`preadv2`/`pwritev2`).
    var isPositional: Bool {
        switch self {
        case .read, .readVector, .write, .writeVector: return true
        default: return false
        }
    }
}
