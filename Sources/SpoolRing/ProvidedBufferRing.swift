import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A ring of provided buffers (`IORING_REGISTER_PBUF_RING`): a group of equal-sized buffers
/// the kernel picks from for receives prepared with a buffer group.
///
/// A completion that used a buffer carries its id (``Completion/bufferID``); read the bytes with
/// ``buffer(_:)``, then hand the buffer back with ``recycle(_:)`` (or ``add(_:)`` several and
/// ``publish()`` once). When every buffer is out, the kernel fails the receive with `-ENOBUFS`
/// (a multishot receive ends): the producer stops until buffers come back.
///
/// **Thread-safety:** none; owned by the ring's thread (a `SINGLE_ISSUER` ring refuses
/// registration calls from other threads).
/// **Lifetime:** owns the ring memory and the buffers; refers to its ring weakly, so it never
/// keeps a ring open (a closed ring drops the registration with it). Unregister (or drop) it
/// only when no request using its group is in flight.
public final class ProvidedBufferRing {
    /// The buffer group id requests name.
    public let group: UInt16
    /// Number of buffers (a power of two).
    public let count: Int
    /// Size of each buffer in bytes.
    public let bufferSize: Int

    private weak var ring: Ring?
    private let entries: UnsafeMutablePointer<spool_uring_buf>
    private let ringBytes: Int
    private let storage: UnsafeMutableRawPointer
    private var localTail: UInt16 = 0
    private var registered = false

    /// Allocates `count` buffers of `bufferSize` bytes, registers them as group `group` and
    /// hands all of them to the kernel.
    ///
    /// - Throws: ``RingError/invalidArgument(_:)`` unless `count` is a power of two in 1...32768
    ///   and `bufferSize` is in 1...(1 << 31); ``RingError/registrationFailed(operation:_:)``
    ///   if the kernel refuses (for example the group is taken: `EEXIST`).
    public init(ring: Ring, group: UInt16, count: Int, bufferSize: Int) throws(RingError) {
        guard count >= 1, count <= 32768, count & (count - 1) == 0 else {
            throw .invalidArgument("provided-buffer count must be a power of two in 1...32768 (got \(count))")
        }
        guard bufferSize >= 1, bufferSize <= 1 << 31 else {
            throw .invalidArgument("provided-buffer size must be in 1...\(1 << 31) bytes (got \(bufferSize))")
        }
        let (total, overflow) = count.multipliedReportingOverflow(by: bufferSize)
        guard !overflow else { throw .invalidArgument("provided buffers of \(count) × \(bufferSize) bytes overflow") }
        self.ring = ring
        self.group = group
        self.count = count
        self.bufferSize = bufferSize
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        ringBytes = (count * MemoryLayout<spool_uring_buf>.stride + page - 1) / page * page
        var memory: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&memory, page, ringBytes) == 0, let memory else {
            throw .invalidArgument("could not allocate \(ringBytes) bytes for a provided-buffer ring")
        }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: ringBytes)
        entries = memory.bindMemory(to: spool_uring_buf.self, capacity: count)
        storage = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 64)

        var reg = spool_uring_buf_reg()
        reg.ring_addr = UInt64(UInt(bitPattern: memory))
        reg.ring_entries = UInt32(count)
        reg.bgid = group
        // Every stored property is set: if registration throws, deinit frees the memory.
        try ring.register(IORING_REGISTER_PBUF_RING, "REGISTER_PBUF_RING", &reg, count: 1)
        registered = true
        for id in 0..<count { add(UInt16(id)) }
        publish()
    }

    deinit {
        if registered, ring != nil { try? unregister() }
        free(UnsafeMutableRawPointer(entries))
        storage.deallocate()
    }

    /// The memory of buffer `id` (the whole buffer; a completion's result says how much was filled).
    public func buffer(_ id: UInt16) -> UnsafeMutableRawBufferPointer {
        precondition(Int(id) < count, "buffer id \(id) out of range 0..<\(count)")
        return UnsafeMutableRawBufferPointer(start: storage + Int(id) * bufferSize, count: bufferSize)
    }

    /// Queues buffer `id` for the kernel; it becomes visible at the next ``publish()``.
    public func add(_ id: UInt16) {
        precondition(Int(id) < count, "buffer id \(id) out of range 0..<\(count)")
        // Write field by field: entry 0's reserved field is the ring's tail.
        let entry = entries + Int(localTail & UInt16(count - 1))
        entry.pointer(to: \.addr)!.pointee = UInt64(UInt(bitPattern: storage + Int(id) * bufferSize))
        entry.pointer(to: \.len)!.pointee = UInt32(bufferSize)
        entry.pointer(to: \.bid)!.pointee = id
        localTail &+= 1
    }

    /// Makes every buffer queued by ``add(_:)`` visible to the kernel (one release store).
    public func publish() {
        let tail = (UnsafeMutableRawPointer(entries) + Int(SPOOL_BUF_RING_TAIL_OFFSET)).assumingMemoryBound(to: UInt16.self)
        spool_store_release_u16(tail, localTail)
    }

    /// Hands buffer `id` back to the kernel at once.
    public func recycle(_ id: UInt16) {
        add(id)
        publish()
    }

    /// Unregisters the group (`IORING_UNREGISTER_PBUF_RING`); the kernel stops picking its buffers.
    /// Does nothing if the ring is gone (its registrations went with it).
    public func unregister() throws(RingError) {
        guard registered else { return }
        registered = false
        guard let ring else { return }
        var reg = spool_uring_buf_reg()
        reg.bgid = group
        try ring.register(IORING_UNREGISTER_PBUF_RING, "UNREGISTER_PBUF_RING", &reg, count: 1)
    }
}
