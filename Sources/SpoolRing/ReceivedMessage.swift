import CSpoolURing

/// The parts of a provided buffer that a multishot `IORING_OP_RECVMSG` filled: a
/// `io_uring_recvmsg_out` header, the source address, control data, then the payload.
///
/// A view: valid while the buffer is. **Thread-safety:** a plain value.
public struct ReceivedMessage {
    /// The source address bytes that fit (at most the `msg_namelen` the request gave).
    public var name: UnsafeRawBufferPointer
    /// The payload bytes in the buffer.
    public var payload: UnsafeRawBufferPointer
    /// The datagram's full length; larger than `payload.count` when it did not fit.
    public var payloadLength: Int
    /// `msg_flags` of the message (`MSG_TRUNC` when the payload was cut, `MSG_CTRUNC`).
    public var flags: Int32

    /// Parses `buffer`, of which the completion's result says `used` bytes were written, for a
    /// request whose `msghdr` had `nameCapacity` and `controlCapacity`. Nil when the buffer is
    /// too short to hold the header and the space reserved for name and control data.
    public init?(buffer: UnsafeRawBufferPointer, used: Int, nameCapacity: Int, controlCapacity: Int) {
        let header = MemoryLayout<spool_uring_recvmsg_out>.size
        let start = header + nameCapacity + controlCapacity
        guard let base = buffer.baseAddress, used >= start, used <= buffer.count else { return nil }
        let out = base.loadUnaligned(as: spool_uring_recvmsg_out.self)
        name = UnsafeRawBufferPointer(start: base + header, count: min(Int(out.namelen), nameCapacity))
        payloadLength = Int(out.payloadlen)
        payload = UnsafeRawBufferPointer(start: base + start, count: min(payloadLength, used - start))
        flags = Int32(bitPattern: out.flags)
    }
}
