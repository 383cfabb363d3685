import CSpoolURing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension Ring {
    /// Calls `io_uring_register` on this ring; throws ``RingError/registrationFailed(operation:_:)``.
    @discardableResult
    func register(_ opcode: Int32, _ name: String, _ argument: UnsafeRawPointer?, count: UInt32) throws(RingError) -> Int32 {
        let r = systemCalls.register(descriptor.rawValue, UInt32(opcode), argument, count)
        if r < 0 { throw .registrationFailed(operation: name, Errno(rawValue: -r)) }
        return r
    }

    /// Registers the ring's own descriptor (`IORING_REGISTER_RING_FDS`) and returns its index.
    func registerRingDescriptor() throws(RingError) -> UInt32 {
        var update = spool_uring_rsrc_update()
        update.offset = UInt32.max  // any free slot
        update.data = UInt64(UInt32(bitPattern: descriptor.rawValue))
        let n = try register(IORING_REGISTER_RING_FDS, "REGISTER_RING_FDS", &update, count: 1)
        guard n == 1 else { throw .registrationFailed(operation: "REGISTER_RING_FDS", .ioError) }
        return update.offset
    }

    // MARK: Files

    /// Registers an empty (sparse) file table of `count` slots
    /// (`IORING_REGISTER_FILES2` with `IORING_RSRC_REGISTER_SPARSE`).
    ///
    /// Fill slots with ``updateRegisteredFiles(at:with:)``, or let OPENAT/ACCEPT/SOCKET place
    /// descriptors there directly. Entries use a slot with ``SubmissionQueueEntry/useFixedFile(_:)``.
    public func registerSparseFileTable(count: UInt32) throws(RingError) {
        guard count > 0 else { throw .invalidArgument("a file table needs at least one slot") }
        var reg = spool_uring_rsrc_register()
        reg.nr = count
        reg.flags = IORING_RSRC_REGISTER_SPARSE
        try register(IORING_REGISTER_FILES2, "REGISTER_FILES2", &reg, count: UInt32(MemoryLayout<spool_uring_rsrc_register>.size))
    }

    /// Registers a file table holding `descriptors` (`IORING_REGISTER_FILES`, every kernel
    /// with io_uring). The table keeps its own references: the caller may close its copies.
    public func registerFiles(_ descriptors: [FileDescriptor]) throws(RingError) {
        guard !descriptors.isEmpty else { throw .invalidArgument("a file table needs at least one descriptor") }
        let raw = descriptors.map(\.rawValue)
        let r = raw.withUnsafeBufferPointer { systemCalls.register(descriptor.rawValue, UInt32(IORING_REGISTER_FILES), $0.baseAddress, UInt32($0.count)) }
        if r < 0 { throw .registrationFailed(operation: "REGISTER_FILES", Errno(rawValue: -r)) }
    }

    /// Puts `descriptors` into the file table starting at slot `index`
    /// (`IORING_REGISTER_FILES_UPDATE2`). A descriptor of -1 empties its slot. The table keeps its
    /// own reference: the caller may close its descriptors afterwards. Returns how many slots changed.
    @discardableResult
    public func updateRegisteredFiles(at index: UInt32, with descriptors: [FileDescriptor]) throws(RingError) -> Int {
        var raw = descriptors.map(\.rawValue)
        do {
            return try raw.withUnsafeMutableBufferPointer { (fds) throws(RingError) -> Int in
                var update = spool_uring_rsrc_update2()
                update.offset = index
                update.data = UInt64(UInt(bitPattern: fds.baseAddress))
                update.nr = UInt32(fds.count)
                return Int(try register(IORING_REGISTER_FILES_UPDATE2, "REGISTER_FILES_UPDATE2", &update,
                                        count: UInt32(MemoryLayout<spool_uring_rsrc_update2>.size)))
            }
        }
    }

    /// Drops the registered file table (`IORING_UNREGISTER_FILES`).
    public func unregisterFiles() throws(RingError) {
        try register(IORING_UNREGISTER_FILES, "UNREGISTER_FILES", nil, count: 0)
    }

    // MARK: Buffers

    /// Registers fixed buffers for READ_FIXED/WRITE_FIXED (`IORING_REGISTER_BUFFERS`); buffer `i`
    /// gets index `i`. The kernel pins the memory: it must stay allocated until
    /// ``unregisterBuffers()`` or the ring's end.
    public func registerBuffers(_ buffers: [UnsafeMutableRawBufferPointer]) throws(RingError) {
        guard !buffers.isEmpty else { throw .invalidArgument("registerBuffers needs at least one buffer") }
        let iovecs = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        do {
            _ = try iovecs.withUnsafeBufferPointer { (p) throws(RingError) in
                try register(IORING_REGISTER_BUFFERS, "REGISTER_BUFFERS", p.baseAddress, count: UInt32(p.count))
            }
        }
    }

    /// Unregisters the fixed buffers (`IORING_UNREGISTER_BUFFERS`).
    public func unregisterBuffers() throws(RingError) {
        try register(IORING_UNREGISTER_BUFFERS, "UNREGISTER_BUFFERS", nil, count: 0)
    }

    // MARK: eventfd

    /// Makes the kernel signal `eventFD` whenever it posts a completion (`IORING_REGISTER_EVENTFD`).
    public func registerEventFD(_ eventFD: FileDescriptor) throws(RingError) {
        var fd = eventFD.rawValue
        try register(IORING_REGISTER_EVENTFD, "REGISTER_EVENTFD", &fd, count: 1)
    }

    /// Stops signalling the registered eventfd (`IORING_UNREGISTER_EVENTFD`).
    public func unregisterEventFD() throws(RingError) {
        try register(IORING_UNREGISTER_EVENTFD, "UNREGISTER_EVENTFD", nil, count: 0)
    }
}
