internal import CSpoolURing
internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// The portable backend's attempts: one non-blocking try of a request (a multishot one until
/// it would block), posting what completed. Ring thread only, like the reactor.
extension PortableReactor {
    /// Tries `waiter`'s request once (a multishot one until it would block, ends, or used its
    /// burst), posting what it completed.
    func attempt(_ waiter: inout Waiter, userData: UInt64, reg: Registration) -> Attempt {
        switch waiter.request {
        case .acceptMultishot:
            for _ in 0..<Self.multishotBurst {
                let r = waiter.request.attemptWithoutBlocking()
                if r.wouldBlock { return .wouldBlock }
                if r.failed(with: .connectionAbort) || r.failed(with: .interrupted) { continue }  // that connection is gone; the next one may not be
                if r.errno != nil {
                    post(userData, r)
                    return .finished
                }
                post(userData, r, flags: IORING_CQE_F_MORE)
            }
            deferred.append(reg.fd)
            return .wouldBlock
        case .receiveMultishot(let fd, _, let limit):
            return receiveIntoPool(&waiter, userData: userData, reg: reg, fd: fd, limit: limit, message: nil)
        case .receiveMessageMultishot(let fd, let message, _):
            return receiveIntoPool(&waiter, userData: userData, reg: reg, fd: fd, limit: 0, message: message)
        case .connect(let fd, _, _) where waiter.connecting:
            let r = IOCalls.socketError(fd)
            finishConnect(waiter)
            post(userData, r)
            return .finished
        default:
            var r: CallResult
            if reg.noWaitUnsupported {
                // No RWF_NOWAIT here (a terminal): a plain read, only when poll says it will not block.
                guard DescriptorCalls.isReady(reg.fd, write: waiter.write) else { return .wouldBlock }
                r = waiter.request.attemptWithoutBlocking(blockingRetry: true, stream: reg.stream)
            } else {
                r = waiter.request.attemptWithoutBlocking(stream: reg.stream)
            }
            if r.failed(with: .illegalSeek) && !reg.stream, waiter.request.isPositional {
                reg.stream = true  // a pipe or socket: io_uring ignores the offset there
                r = waiter.request.attemptWithoutBlocking(stream: true)
            }
            if r.failed(with: .notSupported), waiter.request.isPositional {
                // The descriptor does not take RWF_NOWAIT: a regular file goes to a worker (epoll
                // refuses to watch it); a terminal's writes too; its reads wait for epoll, then
                // make plain calls when poll says they will not block. Ask epoll now if nobody
                // has: a file whose first request is a buffered write (ext4 and tmpfs refuse
                // RWF_NOWAIT there) must not pass for a terminal, or its uncached reads would
                // block the ring thread.
                if !reg.isFile && !reg.watched && watch(reg) == .notPermitted { reg.isFile = true }
                if reg.isFile { return .needsWorker }
                reg.noWaitUnsupported = true
                if waiter.write { return .needsWorker }
                guard reg.watched, DescriptorCalls.isReady(reg.fd, write: false) else { return .wouldBlock }
                r = waiter.request.attemptWithoutBlocking(blockingRetry: true, stream: reg.stream)
            }
            if r.wouldBlock {
                if reg.isFile && waiter.request.isPositional { return .needsWorker }
                if case .connect = waiter.request {
                    // A Unix listener's backlog is full: no edge will say it has room, so try
                    // again after a while (a timeout or cancel still ends the wait).
                    waiter.connectDelayMilliseconds = waiter.connectDelayMilliseconds == 0 ? 1 : min(waiter.connectDelayMilliseconds * 2, 64)
                    connectRetries.append((reg.fd, ContinuousClock.now.advanced(by: .milliseconds(waiter.connectDelayMilliseconds))))
                }
                return .wouldBlock
            }
            if let n = r.value, n > 0, !reg.readClosed, let wanted = waiter.request.streamReadCount, n < wanted, isStream(reg, waiter.request) {
                reg.readReady = false  // a short read of a stream: drained; new data is a new edge
            }
            if case .connect = waiter.request {
                if r.failed(with: .nowInProgress) || r.failed(with: .alreadyInProcess) {
                    waiter.connecting = true
                    return .wouldBlock
                }
                finishConnect(waiter)
            }
            post(userData, r)
            return .finished
        }
    }

    /// Whether `reg` is a stream (a stream socket, or a pipe known not to seek): a short read
    /// means it is drained. A datagram socket's short read does not.
    func isStream(_ reg: Registration, _ request: OperationRequest) -> Bool {
        if case .receive = request { return shortReadDrains(reg) }
        return reg.stream && shortReadDrains(reg)
    }

    /// Whether a short read of `reg` means it is drained (see ``Registration/shortReadDrains``).
    func shortReadDrains(_ reg: Registration) -> Bool {
        if reg.urgent { return false }
        if let known = reg.shortReadDrains { return known }
        let drains = IOCalls.shortReadDrains(reg.fd)
        reg.shortReadDrains = drains
        return drains
    }

    /// A multishot receive into pool buffers: one completion per filled buffer (`F_MORE` while
    /// it goes on), ending with `ENOBUFS` when the pool is dry, at end of stream, on an error, or
    /// when the byte limit is reached, as the kernel's does.
    func receiveIntoPool(
        _ waiter: inout Waiter, userData: UInt64, reg: Registration, fd: Int32, limit: UInt32,
        message: UnsafeMutablePointer<msghdr>?
    ) -> Attempt {
        guard let pool = waiter.pool else {
            post(userData, .failure(.noBufferSpace))
            return .finished
        }
        for _ in 0..<Self.multishotBurst {
            guard let (id, buffer) = pool.takeForReceive() else {
                // As io_uring's poll-first receive: ENOBUFS only when bytes (or the end, or an
                // error) are waiting; an idle socket waits for its next edge instead.
                var byte: UInt8 = 0
                if IOCalls.receive(fd, into: &byte, count: 1, flags: Int32(MSG_PEEK)).wouldBlock { return .wouldBlock }
                post(userData, .failure(.noBufferSpace))
                return .finished
            }
            let base = buffer.baseAddress!
            let result: CallResult
            var want = buffer.count
            if let message {
                result = receiveMessage(fd, into: base, size: buffer.count, shape: message)
            } else {
                if limit > 0 { want = min(want, Int(waiter.remaining)) }
                result = IOCalls.receive(fd, into: base, count: want)
            }
            guard let r = result.value, r > 0 else {
                pool.returnUnfilled(id)
                if result.wouldBlock { return .wouldBlock }
                post(userData, result)
                return .finished
            }
            var final = false
            if limit > 0 {
                // Each buffer is charged whole, as the pool sees it (the bytes it pins, not the
                // bytes it shows): an arm fills at most `limit / bufferSize` buffers, so small
                // segments cannot queue more of the pool than the feed's bound while its pause
                // is on its way (io_uring counts bytes and relies on the pause; see
                // `StreamSocket.receiveBuffers`).
                waiter.remaining -= min(waiter.remaining, UInt32(clamping: buffer.count))
                final = waiter.remaining == 0
            }
            let flags = IORING_CQE_F_BUFFER | UInt32(id) << IORING_CQE_BUFFER_SHIFT | (final ? 0 : IORING_CQE_F_MORE)
            post(userData, result, flags: flags)
            if final { return .finished }
            // A short read of a TCP stream: drained; wait for the next edge instead of a second
            // recv answering EAGAIN (not a Unix socket's or after an urgent byte: bytes remain).
            if message == nil && Int(r) < want && !reg.readClosed && shortReadDrains(reg) { return .wouldBlock }
        }
        deferred.append(reg.fd)
        return .wouldBlock
    }

    /// One `recvmsg` into a pool buffer laid out as io_uring's multishot `recvmsg` lays it out
    /// (`io_uring_recvmsg_out`, the name, the control data, then the payload): the bytes of the
    /// buffer used, or `-errno`.
    func receiveMessage(_ fd: Int32, into base: UnsafeMutableRawPointer, size: Int, shape: UnsafeMutablePointer<msghdr>) -> CallResult {
        let header = MemoryLayout<spool_uring_recvmsg_out>.size
        let nameCapacity = Int(shape.pointee.msg_namelen)
        let controlCapacity = Int(shape.pointee.msg_controllen)
        let start = header + nameCapacity + controlCapacity
        guard size > start else { return .failure(.invalidArgument) }
        var v = iovec(iov_base: base + start, iov_len: size - start)
        var m = msghdr()
        m.msg_name = nameCapacity > 0 ? base + header : nil
        m.msg_namelen = socklen_t(nameCapacity)
        m.msg_control = controlCapacity > 0 ? base + header + nameCapacity : nil
        m.msg_controllen = controlCapacity
        let received = withUnsafeMutablePointer(to: &v) { iov -> CallResult in
            m.msg_iov = iov
            m.msg_iovlen = 1
            return IOCalls.receiveMessage(fd, &m, flags: Int32(MSG_TRUNC))
        }
        guard let count = received.value else { return received }
        let n = Int(count)
        var out = spool_uring_recvmsg_out()
        out.namelen = UInt32(m.msg_namelen)
        out.controllen = UInt32(m.msg_controllen)
        out.payloadlen = UInt32(clamping: n)
        out.flags = UInt32(bitPattern: m.msg_flags)
        base.storeBytes(of: out, as: spool_uring_recvmsg_out.self)
        return CallResult(rawValue: Int32(clamping: start + min(n, size - start)))
    }

    func finishConnect(_ waiter: Waiter) {
        guard case .connect(let fd, _, _) = waiter.request, waiter.restoreBlocking else { return }
        _ = DescriptorCalls.setNonBlocking(fd, false)
    }

}
