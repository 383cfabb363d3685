/// A stream whose receives into a pool are served by a task only while buffers are queued
/// (``StreamSocket/serveOnArrival(from:maximumQueued:_:onEnd:)``): the ring's completion wakes
/// the receiver, which starts a task on the pool's ring; the task calls `body` with each queued
/// buffer, re-arms the receive as ``StreamSocket/receiveBuffers(from:maximumQueued:_:)`` would,
/// and ends when nothing is queued. An idle connection holds this object, its feed and the
/// ring's slot for the armed receive: no task, no async frames. (On io_uring, a connection that
/// re-arms on a dry pool gets `ENOBUFS` at once and keeps a task waiting in the pool's line
/// for a buffer, as a `receiveBuffers` task would: no task while idle holds as long as the
/// pool has buffers.)
///
/// **Thread-safety:** `Sendable`; at most one task runs `body` at a time (the feed's sleeping
/// flag, set and taken under its lock, decides who starts the next). **Lifetime:** while idle,
/// the feed's wake holds the receiver and the ring's slot holds the feed (a cycle, on purpose:
/// it is the connection's life); the end clears the wake, and the last task's release drops
/// the stream, whose `deinit` closes the descriptor (after any owned send still in the kernel).
final class ArrivalReceiver: Sendable {
    typealias Body = @Sendable (borrowing StreamSocket, consuming ReceivedBuffer) async throws -> Void

    let socket: StreamSocket
    private let pool: BufferPool
    private let feed: MultishotFeed
    private let body: Body
    private let onEnd: (@Sendable ((any Error)?) -> Void)?

    init(socket: consuming StreamSocket, pool: BufferPool, maximumQueued: Int, body: @escaping Body,
         onEnd: (@Sendable ((any Error)?) -> Void)?) {
        self.feed = StreamSocket.receiveFeed(socket.descriptor, pool: pool, maximumQueued: maximumQueued)
        self.socket = socket
        self.pool = pool
        self.body = body
        self.onEnd = onEnd
    }

    /// Arms the receive (from a task on the pool's ring, which then ends).
    func start() {
        feed.setWake { [self] in self.wake() }
        wake()
    }

    /// Starts a task on the pool's ring to serve what is queued (also in a graceful shutdown's
    /// grace period, which then waits for it, as for any spawned task); where none can start
    /// (the ring is stopping), ends the stream here.
    private func wake() {
        let runtime = socket.runtime
        let ring = pool.ring
        guard ring.lifecycle == .running else {
            endWithoutTask()
            return
        }
        let token = SpawnToken(counting: runtime)
        // Detached: the wake may run inside any task on the ring (one reaping completions as it
        // submits), whose task-locals and priority are not this connection's.
        Task.detached(executorPreference: ring.taskExecutor) { [self] in
            defer { token.end() }
            await Runtime.$spawnToken.withValue(token) { await self.serve() }
        }
    }

    /// Serves every queued buffer, then returns (the feed wakes the receiver again when the
    /// next completion arrives), or ends the stream.
    private nonisolated(nonsending) func serve() async {
        do {
            while true {
                guard let next = try await feed.nextIfQueued(pool: pool) else { return }  // idle: no task until the next arrival
                switch StreamSocket.receiveStep(next, pool: pool, descriptor: socket.descriptor) {
                case .buffer(let id, let length):
                    try await body(socket, pool.lease(id, length: length))
                case .again:
                    continue
                case .endOfStream:
                    await end(nil)
                    return
                case .failed(let error):
                    throw error
                }
            }
        } catch {
            await end(error)
        }
    }

    /// Ends the stream: its request has ended (no entry naming the descriptor is left), the
    /// cycle is broken, and `onEnd` hears why.
    private nonisolated(nonsending) func end(_ error: (any Error)?) async {
        await feed.stopAndWait()
        feed.setWake(nil)
        onEnd?(error)
    }

    /// The end where no task can run (the ring stopped or broke): the request is cancelled;
    /// once it has ended, the cycle is broken (the feed wakes this again at its end if it is
    /// still armed) and `onEnd` hears why, as ``StreamSocket/receiveBuffers(from:maximumQueued:_:)``
    /// would say it.
    private func endWithoutTask() {
        feed.stop()
        guard feed.endedOrWakeWhenEnded() else { return }
        feed.setWake(nil)
        let ring = pool.ring
        onEnd?(ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? .ioError))
    }
}
