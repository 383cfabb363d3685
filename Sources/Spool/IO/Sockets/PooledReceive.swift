internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What a multishot receive into a ``BufferPool`` does with each completion: the part that
/// stream and datagram receives share.
///
/// **Thread-safety:** a plain value. **Lifetime:** none.
enum PooledReceiveEvent {
    /// The kernel filled buffer `id` (`result` bytes were written to it).
    case buffer(id: UInt16, result: Int32)
    /// The peer closed its side (a final completion of 0 bytes, streams only).
    case endOfStream
    /// The request ended and is re-armed by the next turn: the pool ran dry (`ENOBUFS`) or
    /// the feed paused it at its bound.
    case rearm
    /// The request failed: end the receive with this error.
    case failed(any Error)
    /// Nothing to do (a non-final completion without a buffer).
    case none

    /// Classifies `event` of a receive on `descriptor` (errors name `operation`).
    init(_ event: MultishotFeed.Event, ring: RingExecutor, operation: IOError.Operation, descriptor: FileDescriptor) {
        if let id = Completion(userData: 0, result: event.result, flags: event.flags).bufferID {
            self = .buffer(id: id, result: event.result)
        } else if event.result == 0 {
            self = event.final ? .endOfStream : .none
        } else if event.result == -ENOBUFS || (event.result == -ECANCELED && event.final && ring.lifecycle == .running) {
            self = .rearm
        } else if event.result < 0 && ring.lifecycle != .running {
            self = .failed(ring.refusal == .shutdown ? RuntimeError.shutdown : RuntimeError.broken(ring.brokenErrno ?? .ioError))
        } else if event.result < 0 {
            self = .failed(IOError(operation, errno: Errno(rawValue: -event.result), descriptor: descriptor))
        } else {
            self = .none
        }
    }
}

extension BufferPool {
    /// A feed for a multishot receive into this pool: buffers count as taken as their
    /// completions arrive (ring thread), and go back to the pool if nobody consumes them.
    /// `keepAlive` (a request's `msghdr`) lives as long as the feed.
    func receiveFeed(bound: Int, keepAlive: AnyObject? = nil, request: OperationRequest) -> MultishotFeed {
        MultishotFeed(ring: ring, request: request, bound: bound, yield: .buffers(self), keepAlive: keepAlive)
    }

}
