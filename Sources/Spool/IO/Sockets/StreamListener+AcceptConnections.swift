import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension StreamListener {
    /// Connections queued by a multishot accept before it pauses (re-armed when the loop
    /// catches up; the kernel's backlog holds the rest meanwhile).
    static let acceptQueueBound = 64

    /// Accepts connections with one multishot request and calls `body` with each, in order,
    /// until the task is cancelled or `body` throws. One request serves every connection: no
    /// submission per accept.
    /// `body` runs on the caller's executor (`nonisolated(nonsending)`).
    ///
    /// ```swift
    /// try await listener.acceptConnections { connection in
    ///     runtime.spawn(taking: connection) { connection in … }
    /// }
    /// ```
    ///
    /// Why a closure and not an `AsyncSequence`: a connection is `~Copyable`, which an
    /// `AsyncSequence` element cannot be yet; the closure also scopes the kernel request to
    /// the call, so it never outlives the listener. When `body` is slower than arrivals, at
    /// most 64 accepted connections wait here; then the request pauses until `body` catches
    /// up. On return (any way), the request is cancelled and connections it accepted but
    /// `body` never got are closed.
    ///
    /// **Exhaustion does not end it.** When the process or the system runs out of descriptors
    /// or socket memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, an LSM's `EPERM`), the accepts
    /// pause on the ring's timing wheel (10 ms, doubling to 1 s) and resume by themselves;
    /// connections already accepted go on being served, new ones wait in the backlog. A
    /// connection that died in the backlog (`ECONNABORTED` …) is skipped. Each episode is logged
    /// once and counted (`spool_accept_backoffs_total`).
    ///
    /// - Throws: `CancellationError`; ``IOError`` (`accept`, with the listener's address) for
    ///   a failure that is the listener's own (`EINVAL` on a socket that does not listen …);
    ///   what `body` throws; ``RuntimeError`` when the runtime stops.
    public nonisolated(nonsending) func acceptConnections(_ body: nonisolated(nonsending) (consuming StreamSocket) async throws -> Void) async throws {
        guard let ring = runtime.pickRingForPool() else { throw RuntimeError.shutdown }
        let feed = MultishotFeed(ring: ring, request: .acceptMultishot(fd: descriptor.rawValue), bound: Self.acceptQueueBound, yield: .descriptors)
        var backoff = AcceptBackoff(address: localAddress, ring: ring)
        // The request must have ended before this returns: the caller may close the
        // descriptor next, and no entry naming it may be left in the ring.
        do {
            while true {
                switch try await feed.next() {
                case .refused(let outcome):
                    _ = try outcome.value(IOErrorContext(operation: .accept, descriptor: descriptor, address: localAddress))
                    throw RuntimeError.shutdown
                case .event(let event):
                    if event.result >= 0 {
                        backoff.succeeded()
                        try await body(StreamSocket(adopting: FileDescriptor(rawValue: event.result), runtime: runtime))
                    } else if event.result == -ECANCELED && event.final && ring.lifecycle == .running {
                        continue  // paused at the queue bound: re-armed by the next turn
                    } else if ring.lifecycle != .running {
                        throw ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenWith ?? .ioError)
                    } else {
                        let errno = Errno(rawValue: -event.result)
                        switch backoff.failed(errno) {
                        case .fatal: throw IOError(.accept, errno: errno, descriptor: descriptor, address: localAddress)
                        case .retry: continue
                        case .wait(let delay): try await AcceptBackoff.pause(delay, runtime: runtime)
                        }
                    }
                }
            }
        } catch {
            await feed.stopAndWait()
            throw error
        }
    }
}
