@testable import Spool
import Testing

/// `IOBuffer`: the owned, fixed-capacity memory the kernel reads into and writes from.
@Suite("IOBuffer")
struct IOBufferTests {
    @Test("IOBuffer.count cannot leave 0...capacity: setCount rejects it with a typed error")
    func bufferCountIsBounded() throws {
        var buffer = IOBuffer(capacity: 16)
        buffer.withUnsafeMutableBytes { $0.storeBytes(of: 0x4142_4344, as: UInt32.self) }
        try buffer.setCount(4)
        #expect(buffer.bytes == [0x44, 0x43, 0x42, 0x41])
        #expect(throws: RuntimeError.self) { try buffer.setCount(17) }
        #expect(throws: RuntimeError.self) { try buffer.setCount(-1) }
        #expect(buffer.count == 4, "a rejected count leaves the buffer as it was")
        try buffer.setCount(16)
        #expect(buffer.bytes.count == 16)
    }
}
