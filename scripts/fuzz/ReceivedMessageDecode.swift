// Fuzz target: what a multishot `recvmsg` leaves in a provided buffer, as Spool decodes it:
// the completion's buffer id (SpoolRing's `Completion.bufferID`), the `io_uring_recvmsg_out`
// header, name, control and payload regions (`ReceivedMessage`, Sources/SpoolRing/
// ReceivedMessage.swift), then the sender (`MessageHeader.source`, Sources/Spool/IO/Sockets/
// MessageHeader.swift) and the truncation flag, exactly as `DatagramSocket.receiveDatagrams`
// does (Sources/Spool/IO/Sockets/DatagramSocket+ReceiveDatagrams.swift).
//
// Input: byte 0 picks the request's shape (bits 0-2: the name capacity, Spool's 128 or an
// other; bit 3: the buffer starts misaligned; bits 4-7: the control capacity), bytes 1-4 the
// completion's result (Int32; `used` = max(result, 0) as at the call site), bytes 5-8 its
// flags, and the rest is the buffer, in an allocation of exactly its size (ASan catches any
// read outside it).
// Checks: the parse succeeds exactly when `used` covers the header and the reserved name and
// control space and does not exceed the buffer; the regions are where the kernel ABI
// (<linux/io_uring.h>, not Spool's copy) puts them and of the lengths it reports, clamped to
// the capacities and to `used`; the sender equals the decoding of a copy of the name bytes;
// truncation is reported when MSG_TRUNC is set or the payload was cut.

internal import SpoolRing
internal import CSpoolURing
internal import FuzzOracle

#if canImport(Glibc)
import Glibc
#endif

private let nameCapacities = [MessageHeader.addressCapacity, MessageHeader.addressCapacity, 0, 16, 28, 110, 127, 129]
private let controlCapacities = [0, 0, 0, 0, 1, 7, 8, 16, 20, 24, 32, 40, 64, 100, 128, 256]

@_cdecl("LLVMFuzzerTestOneInput")
public func spoolFuzzReceivedMessageDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzReader(data, size)
    let shape = input.byte()
    let result = input.integer(Int32.self)
    let cqeFlags = input.integer(UInt32.self)
    let bytes = input.rest()
    let nameCapacity = nameCapacities[Int(shape & 7)]
    let controlCapacity = controlCapacities[Int(shape >> 4)]
    let misaligned = shape & 8 != 0

    // The completion: a provided buffer is named by the upper 16 bits when F_BUFFER is set.
    let completion = Completion(userData: 0, result: result, flags: cqeFlags)
    let hasBuffer = cqeFlags & 1 != 0
    Fuzz.check(completion.bufferID == (hasBuffer ? UInt16(cqeFlags >> 16) : nil), "bufferID of flags \(cqeFlags)")
    Fuzz.check(completion.hasMore == (cqeFlags & 2 != 0), "hasMore of flags \(cqeFlags)")

    // The buffer, exactly its size (one byte in when misaligned).
    let offset = misaligned ? 1 : 0
    let block = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count + offset, 1), alignment: 16)
    defer { block.deallocate() }
    let base = block + offset
    bytes.withUnsafeBytes { if let b = $0.baseAddress { base.copyMemory(from: b, byteCount: $0.count) } }
    let buffer = UnsafeRawBufferPointer(start: bytes.isEmpty ? nil : UnsafeRawPointer(base), count: bytes.count)
    let used = Int(max(result, 0))

    let parsed = ReceivedMessage(buffer: buffer, used: used, nameCapacity: nameCapacity, controlCapacity: controlCapacity)

    let header = fuzz_recvmsg_out_size()
    Fuzz.check(header == MemoryLayout<spool_uring_recvmsg_out>.size, "recvmsg_out is \(header) bytes, Spool's \(MemoryLayout<spool_uring_recvmsg_out>.size)")
    let start = header + nameCapacity + controlCapacity
    func context() -> String { "shape \(shape) (name \(nameCapacity), control \(controlCapacity)) used \(used) buffer \(bytes.count) bytes \(hex(bytes.prefix(48)))" }
    let fits = !bytes.isEmpty && used >= start && used <= bytes.count
    guard let parsed else {
        Fuzz.check(!fits, "\(context()): refused a well-formed buffer")
        return 0
    }
    Fuzz.check(fits, "\(context()): accepted")

    func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
    let namelen = u32(fuzz_recvmsg_out_namelen_offset())
    let payloadlen = u32(fuzz_recvmsg_out_payloadlen_offset())
    let msgFlags = u32(fuzz_recvmsg_out_flags_offset())

    Fuzz.check(parsed.name.baseAddress == UnsafeRawPointer(base + header), "\(context()): name at \(String(describing: parsed.name.baseAddress)), buffer \(base)")
    Fuzz.check(parsed.name.count == min(Int(namelen), nameCapacity), "\(context()): name count \(parsed.name.count), namelen \(namelen)")
    Fuzz.check(parsed.payload.baseAddress == UnsafeRawPointer(base + start), "\(context()): payload at \(String(describing: parsed.payload.baseAddress))")
    Fuzz.check(parsed.payload.count == min(Int(payloadlen), used - start), "\(context()): payload count \(parsed.payload.count), payloadlen \(payloadlen)")
    Fuzz.check(parsed.payloadLength == Int(payloadlen), "\(context()): payloadLength \(parsed.payloadLength)")
    Fuzz.check(parsed.flags == Int32(bitPattern: msgFlags), "\(context()): flags \(parsed.flags)")
    // Every byte of the views is inside the buffer (ASan aborts otherwise) and is the input's.
    Fuzz.check(Array(parsed.name) == Array(bytes[header..<header + parsed.name.count]), "\(context()): name bytes")
    Fuzz.check(Array(parsed.payload) == Array(bytes[start..<start + parsed.payload.count]), "\(context()): payload bytes")

    // DatagramSocket.receiveDatagrams's next steps.
    let sender = MessageHeader.source(parsed.name.baseAddress, length: parsed.name.count) ?? SocketAddress(storage: .unnamedUnix)
    let truncated = parsed.flags & Int32(MSG_TRUNC) != 0 || parsed.payload.count < parsed.payloadLength
    Fuzz.check(truncated == (msgFlags & UInt32(MSG_TRUNC) != 0 || Int(payloadlen) > used - start), "\(context()): truncated \(truncated)")

    // The sender is the decoding of the name bytes in a sockaddr_storage of their own.
    var storage = sockaddr_storage()
    let nameBytes = Array(parsed.name)
    withUnsafeMutableBytes(of: &storage) { raw in for (i, b) in nameBytes.enumerated() where i < raw.count { raw[i] = b } }
    let expected: SocketAddress
    if nameBytes.isEmpty {
        expected = SocketAddress(storage: .unnamedUnix)
    } else {
        expected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: socklen_t(nameBytes.count)) }
        } ?? SocketAddress(storage: .unnamedUnix)
    }
    Fuzz.check(sender == expected, "\(context()): sender \(sender.storage), expected \(expected.storage)")
    _ = sender.description
    return 0
}
