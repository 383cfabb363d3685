import CSpoolURing

extension Ring {
    // MARK: Probe

    /// Whether this kernel supports `opcode` (from `IORING_REGISTER_PROBE` at setup).
    public func supports(_ opcode: Opcode) -> Bool {
        Int(opcode.rawValue) < supportedOpcodes.count && supportedOpcodes[Int(opcode.rawValue)]
    }

    /// Every opcode this kernel supports, in kernel order.
    public var supportedOperations: [Opcode] {
        supportedOpcodes.indices.filter { supportedOpcodes[$0] }.map { Opcode(rawValue: UInt8($0)) }
    }

    func probeOpcodes() -> [Bool] {
        let count = 256
        let size = MemoryLayout<spool_uring_probe>.size + count * MemoryLayout<spool_uring_probe_op>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let r = systemCalls.register(descriptor.rawValue, UInt32(IORING_REGISTER_PROBE), raw, UInt32(count))
        guard r >= 0 else { return [] }
        let header = raw.load(as: spool_uring_probe.self)
        let ops = (raw + MemoryLayout<spool_uring_probe>.size).bindMemory(to: spool_uring_probe_op.self, capacity: count)
        let n = min(Int(header.ops_len), count)
        return (0..<n).map { ops[$0].flags & UInt16(IO_URING_OP_SUPPORTED) != 0 }
    }
}
