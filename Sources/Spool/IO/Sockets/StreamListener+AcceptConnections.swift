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
    /// - Throws: `CancellationError`; ``IOError`` (`accept`, with the listener's address:
    ///   `EMFILE` when the process is out of descriptors — call again after closing some);
    ///   what `body` throws; ``RuntimeError`` when the runtime stops.
    public nonisolated(nonsending) func acceptConnections(_ body: nonisolated(nonsending) (consuming StreamSocket) async throws -> Void) async throws {
        guard let ring = runtime.pickRingForPool() else { throw RuntimeError.shutdown }
        let feed = MultishotFeed(
            ring: ring, request: { [fd = descriptor.rawValue] in .acceptMultishot(fd: fd) }, bound: Self.acceptQueueBound,
            dispose: { event in if event.result >= 0 { DescriptorClose.close(event.result) } }
        )
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
                        try await body(StreamSocket(adopting: FileDescriptor(rawValue: event.result), runtime: runtime))
                    } else if event.result == -ECANCELED && event.final && ring.lifecycle == .running {
                        continue  // paused at the queue bound: re-armed by the next turn
                    } else if ring.lifecycle != .running {
                        throw ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenWith ?? .ioError)
                    } else {
                        throw IOError(.accept, errno: Errno(rawValue: -event.result), descriptor: descriptor, address: localAddress)
                    }
                }
            }
        } catch {
            await feed.stopAndWait()
            throw error
        }
    }
}
