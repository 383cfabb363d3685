internal import SpoolRing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One datagram received into a ``BufferPool`` buffer: who sent it and the payload, leased.
///
/// **Thread-safety:** `~Copyable` and `Sendable`. **Lifetime:** the payload's buffer goes
/// back to the pool when the payload (or the whole datagram) is dropped; take it out with
/// `let payload = datagram.payload` to keep it longer than the datagram.
public struct ReceivedDatagram: ~Copyable, Sendable {
    /// Who sent it.
    public let sender: SocketAddress
    /// The datagram was longer than the buffer had room for; the rest is lost.
    public let truncated: Bool
    /// The bytes received.
    public var payload: ReceivedBuffer
}

extension DatagramSocket {
    /// Receives datagrams with one multishot `recvmsg` into buffers of `pool`, calling `body`
    /// with each, in order, until the task is cancelled or `body` throws (a datagram socket
    /// has no end of stream; the call returns only if the socket is shut down for reading).
    /// `body` runs on the caller's executor (`nonisolated(nonsending)`).
    ///
    /// Each buffer holds a 16-byte header and room for the sender's address (128 bytes)
    /// before the payload, so a datagram longer than `pool.bufferSize - 144` bytes arrives
    /// cut, with ``ReceivedDatagram/truncated`` set. Backpressure as for
    /// ``StreamSocket/receiveBuffers(from:maximumQueued:_:)``: at most `maximumQueued`
    /// datagrams wait for `body`, and when the pool is dry the kernel stops; the request is
    /// re-armed once `body` catches up and a buffer is back. Datagrams arriving meanwhile wait
    /// in the socket's receive queue, and the kernel drops what does not fit there, as UDP does.
    ///
    /// - Throws: `CancellationError`; ``IOError`` (`recvmsg`: `ECONNREFUSED` for a connected
    ///   socket whose peer is gone); what `body` throws; ``RuntimeError`` when the runtime
    ///   stops or `pool`'s buffers are too small (≤ 144 bytes).
    public nonisolated(nonsending) func receiveDatagrams(
        from pool: BufferPool, maximumQueued: Int = 32, _ body: nonisolated(nonsending) (consuming ReceivedDatagram) async throws -> Void
    ) async throws {
        guard maximumQueued >= 1 else { throw RuntimeError.invalidArgument("maximumQueued must be at least 1 (got \(maximumQueued))") }
        let nameCapacity = MessageHeader.addressCapacity
        let reserved = 16 + nameCapacity
        guard pool.bufferSize > reserved else {
            throw RuntimeError.invalidArgument("datagram receives need pool buffers larger than \(reserved) bytes (got \(pool.bufferSize))")
        }
        let ring = pool.ring
        // The kernel reads the name and control lengths from this header while the request
        // is armed: the feed (held by the ring's slot until the last completion) keeps it.
        let header = MessageHeaderOwner()
        header.value.prepareForSource()
        let feed = pool.receiveFeed(
            bound: maximumQueued, keepAlive: header,
            request: .receiveMessageMultishot(fd: descriptor.rawValue, message: header.value.message, group: pool.group))
        // The request must have ended before this returns: the caller may close the
        // descriptor next, and no entry naming it may be left in the ring.
        do {
            while true {
                switch try await feed.next(pool: pool) {
                case .refused(let outcome):
                    _ = try outcome.value(IOErrorContext(operation: .receiveMessage, descriptor: descriptor))
                    throw RuntimeError.shutdown
                case .event(let event):
                    switch PooledReceiveEvent(event, ring: ring, operation: .receiveMessage, descriptor: descriptor) {
                    case .buffer(let id, let result):
                        guard let parsed = ReceivedMessage(buffer: pool.bytes(of: id), used: Int(max(result, 0)), nameCapacity: nameCapacity, controlCapacity: 0) else {
                            pool.giveBack(id, leased: false)  // cannot happen: the kernel writes at least the reserved part
                            continue
                        }
                        let sender = MessageHeader.source(parsed.name.baseAddress, length: parsed.name.count) ?? SocketAddress(storage: .unnamedUnix)
                        let truncated = parsed.flags & Int32(MSG_TRUNC) != 0 || parsed.payload.count < parsed.payloadLength
                        let payload = pool.lease(id, offset: reserved, length: parsed.payload.count)
                        try await body(ReceivedDatagram(sender: sender, truncated: truncated, payload: payload))
                    case .failed(let error):
                        throw error
                    case .endOfStream:
                        // Only a socket shut down for reading ends a datagram receive.
                        await feed.stopAndWait()
                        return
                    case .rearm, .none:
                        continue
                    }
                }
            }
        } catch {
            await feed.stopAndWait()
            throw error
        }
    }
}

/// A heap ``MessageHeader`` freed when the last reference goes (the multishot request's
/// feed holds one until its final completion).
final class MessageHeaderOwner: @unchecked Sendable {  // immutable after setup; the kernel reads it
    let value = MessageHeader(iovecCapacity: 0)
    deinit { value.free() }
}
