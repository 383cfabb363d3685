import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A stream socket's owned sends: buffers moved into the runtime by
/// ``StreamSocket/write(taking:)-(ReceivedBuffer)``, sent in order, one in the kernel at a
/// time, each released (a lease back to its pool, memory freed) when its send completes.
///
/// The writer does not wait for each send: it waits only when more than `limit` bytes are
/// queued or in flight. The first failure is kept and thrown by the writer's next call
/// (``write(_:runtime:)``, ``flush()``); the buffers still queued are then released unsent.
///
/// **Thread-safety:** `Sendable`; completions arrive on the ring thread, writers call from
/// any task, under one lock. **Lifetime:** the socket holds the queue; a send in the kernel
/// holds it too (through its slot) until its completion, so its buffer outlives the send.
/// A socket dropped with sends pending hands its descriptor to the queue, which closes it
/// after the last completion (a descriptor number must not be reused while an entry that
/// names it may still be waiting in the SQ).
final class SendQueue: CompletionConsumer, Sendable {
    let descriptor: FileDescriptor
    /// Bytes queued or in flight beyond which a writer waits.
    let limit: Int

    private struct Item {
        var bytes: OwnedBytes
        var sent: Int
    }

    private struct State: ~Copyable {
        var items: [Item] = []
        var head = 0
        var queuedBytes = 0
        /// The head item's send is in the kernel (or being started).
        var inFlight = false
        var ring: RingExecutor? = nil
        var failure: (any Error)? = nil
        /// Writers waiting for room or for the queue to drain, by ticket.
        var waiters: [UInt64: UnsafeContinuation<Void, Never>] = [:]
        var nextTicket: UInt64 = 0
        /// The socket was dropped: close the descriptor once idle; start nothing new.
        var orphaned = false
        var isIdle: Bool { head == items.count && !inFlight }
    }

    private let state = Mutex(State())

    init(descriptor: FileDescriptor, limit: Int) {
        self.descriptor = descriptor
        self.limit = limit
    }

    /// Queues `bytes` (taking ownership) behind earlier writes; waits while the queue is over
    /// `limit`. Throws (releasing `bytes`) the failure of an earlier send.
    nonisolated(nonsending) func write(_ bytes: OwnedBytes, runtime: Runtime) async throws {
        if bytes.count == 0 {
            bytes.release()
            return
        }
        while true {
            enum Step { case failed(any Error), start(RingExecutor?), queued, wait }
            let step = state.withLock { s -> Step in
                if let failure = s.failure { return .failed(failure) }
                if s.queuedBytes > 0 && s.queuedBytes + bytes.count > limit { return .wait }
                s.items.append(Item(bytes: bytes, sent: 0))
                s.queuedBytes += bytes.count
                if s.inFlight { return .queued }
                s.inFlight = true
                return .start(s.ring)
            }
            switch step {
            case .failed(let error):
                bytes.release()
                throw error
            case .queued:
                return
            case .wait:
                try await waitForChange()
            case .start(let bound):
                try await startHead(on: bound, runtime: runtime)
                return
            }
        }
    }

    /// Waits until every queued send has completed; throws the first failure.
    nonisolated(nonsending) func flush() async throws {
        while true {
            let (idle, failure) = state.withLock { ($0.isIdle, $0.failure) }
            if let failure { throw failure }
            if idle { return }
            try await waitForChange()
        }
    }

    /// Whether nothing is queued or in flight (tests).
    var isIdleForTesting: Bool { state.withLock { $0.isIdle } }

    /// The socket is going away (its `deinit`): drops what is not yet in the kernel. Returns
    /// true if the queue takes over closing the descriptor (a send is still in the kernel).
    func orphan() -> Bool {
        let (dropped, busy) = state.withLock { s -> ([OwnedBytes], Bool) in
            s.orphaned = true
            let start = s.inFlight ? s.head + 1 : s.head
            let dropped = start < s.items.count ? s.items[start...].map(\.bytes) : []
            if start < s.items.count { s.items.removeSubrange(start...) }
            return (dropped, s.inFlight)
        }
        for d in dropped { d.release() }
        return busy
    }

    // MARK: The kernel side

    /// Submits the head item's (remaining) bytes on the queue's ring, hopping there if needed.
    private nonisolated(nonsending) func startHead(on bound: RingExecutor?, runtime: Runtime) async throws {
        if let ring = bound ?? RingExecutor.current.flatMap({ $0.lifecycle == .running ? $0 : nil }), RingExecutor.current === ring {
            submitHead(ring)
            return
        }
        guard let ring = bound ?? runtime.pickRing() else {
            fail(RuntimeError.shutdown)
            throw RuntimeError.shutdown
        }
        let started: Bool = await withTaskExecutorPreference(ring.taskExecutor) {
            guard RingExecutor.current === ring else { return false }
            self.submitHead(ring)
            return true
        }
        if !started {
            let error = ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? .ioError)
            fail(error)
            throw error
        }
    }

    /// Ring thread: sends the head item's remaining bytes (`MSG_WAITALL`: the kernel goes on
    /// until all are sent or the send fails).
    private func submitHead(_ ring: RingExecutor) {
        let item = state.withLock { s -> Item? in
            if s.ring == nil { s.ring = ring }
            return s.head < s.items.count ? s.items[s.head] : nil
        }
        guard let item else { return }
        let remaining = item.bytes.count - item.sent
        let request = OperationRequest.send(
            fd: descriptor.rawValue, buffer: item.bytes.base + item.sent, count: UInt32(min(remaining, Int(UInt32.max))),
            flags: Int32(MSG_WAITALL))
        ring.start(request, consumer: self)  // a refusal arrives through `ended`
    }

    func deliver(result: Int32, flags: UInt32, final: Bool) {
        guard final else { return }
        var released: [OwnedBytes] = []
        var next: RingExecutor? = nil
        var closeNow = false
        let waiters = state.withLock { s -> [UnsafeContinuation<Void, Never>] in
            s.inFlight = false
            if result <= 0 {
                let errno: Errno = result == 0 ? .ioError : Errno(rawValue: -result)
                if let ring = s.ring, ring.lifecycle != .running {
                    s.failure = ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? errno)
                } else {
                    s.failure = IOError(.send, errno: errno, descriptor: descriptor)
                }
                released = s.items[s.head...].map(\.bytes)
                s.items.removeAll()
                s.head = 0
                s.queuedBytes = 0
            } else if s.head < s.items.count {
                s.items[s.head].sent += Int(result)
                if s.items[s.head].sent >= s.items[s.head].bytes.count {
                    released.append(s.items[s.head].bytes)
                    s.queuedBytes -= s.items[s.head].bytes.count
                    s.head += 1
                    if s.head == s.items.count {
                        s.items.removeAll(keepingCapacity: s.items.capacity <= 64)
                        s.head = 0
                    }
                }
                if s.head < s.items.count && !s.orphaned {
                    s.inFlight = true
                    next = s.ring
                }
            }
            if s.orphaned && s.isIdle { closeNow = true }
            let w = Array(s.waiters.values)
            s.waiters = [:]
            return w
        }
        for r in released { r.release() }
        if let next { submitHead(next) }
        if closeNow { _ = Glibc.close(descriptor.rawValue) }
        for w in waiters { w.resume() }
    }

    func ended(_ outcome: OperationOutcome) {
        let error: any Error
        switch outcome {
        case .broken(let e), .brokenInFlight(let e): error = RuntimeError.broken(e)
        default: error = RuntimeError.shutdown
        }
        fail(error)
    }

    /// Records `error` as the queue's failure and releases everything queued.
    private func fail(_ error: any Error) {
        var closeNow = false
        let (released, waiters) = state.withLock { s -> ([OwnedBytes], [UnsafeContinuation<Void, Never>]) in
            s.inFlight = false
            if s.failure == nil { s.failure = error }
            let r = s.items[s.head...].map(\.bytes)
            s.items.removeAll()
            s.head = 0
            s.queuedBytes = 0
            if s.orphaned { closeNow = true }
            let w = Array(s.waiters.values)
            s.waiters = [:]
            return (r, w)
        }
        for r in released { r.release() }
        if closeNow { _ = Glibc.close(descriptor.rawValue) }
        for w in waiters { w.resume() }
    }

    /// Suspends until a send completes (or fails); throws `CancellationError` if the task
    /// is cancelled (the queued sends go on).
    private nonisolated(nonsending) func waitForChange() async throws {
        let ticket = state.withLock { s -> UInt64 in
            s.nextTicket &+= 1
            return s.nextTicket
        }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.isIdle || s.failure != nil || Task.isCancelled { return true }
                    s.waiters[ticket] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: ticket) }?.resume()
        }
        try Task.checkCancellation()
    }
}
