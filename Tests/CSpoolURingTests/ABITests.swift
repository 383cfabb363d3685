import CSpoolURing
import Glibc
import Testing

@Suite("The kernel ABI as CSpoolURing declares it")
struct ABITests {
    @Test("struct sizes match the kernel's")
    func sizes() {
        #expect(MemoryLayout<spool_uring_sqe>.size == 64)
        #expect(MemoryLayout<spool_uring_cqe>.size == 16)
        #expect(MemoryLayout<spool_uring_params>.size == 120)
        #expect(MemoryLayout<spool_sqring_offsets>.size == 40)
        #expect(MemoryLayout<spool_cqring_offsets>.size == 40)
        #expect(MemoryLayout<spool_uring_getevents_arg>.size == 24)
        #expect(MemoryLayout<spool_uring_buf>.size == 16)
        #expect(MemoryLayout<spool_uring_buf_reg>.size == 40)
        #expect(MemoryLayout<spool_uring_rsrc_update2>.size == 32)
        #expect(MemoryLayout<spool_uring_probe_op>.size == 8)
        #expect(MemoryLayout<spool_statx>.size == 256)
    }

    @Test("SQE field offsets match the kernel's")
    func sqeOffsets() {
        #expect(MemoryLayout<spool_uring_sqe>.offset(of: \.opcode) == 0)
        #expect(MemoryLayout<spool_uring_sqe>.offset(of: \.flags) == 1)
        #expect(MemoryLayout<spool_uring_sqe>.offset(of: \.ioprio) == 2)
        #expect(MemoryLayout<spool_uring_sqe>.offset(of: \.fd) == 4)
        // Union members are computed properties in Swift: find them by the bytes they write.
        #expect(firstByteWritten { $0.off = .max } == 8)
        #expect(firstByteWritten { $0.addr2 = .max } == 8)
        #expect(firstByteWritten { $0.addr = .max } == 16)
        #expect(firstByteWritten { $0.splice_off_in = .max } == 16)
        #expect(firstByteWritten { $0.len = .max } == 24)
        #expect(firstByteWritten { $0.rw_flags = .max } == 28)
        #expect(firstByteWritten { $0.msg_ring_flags = .max } == 28)
        #expect(MemoryLayout<spool_uring_sqe>.offset(of: \.user_data) == 32)
        #expect(firstByteWritten { $0.buf_index = .max } == 40)
        #expect(firstByteWritten { $0.buf_group = .max } == 40)
        #expect(MemoryLayout<spool_uring_sqe>.offset(of: \.personality) == 42)
        #expect(firstByteWritten { $0.file_index = .max } == 44)
        #expect(firstByteWritten { $0.splice_fd_in = -1 } == 44)
        #expect(firstByteWritten { $0.addr3 = .max } == 48)
        #expect(MemoryLayout<spool_statx>.offset(of: \.stx_size) == 40)
        #expect(MemoryLayout<spool_statx>.offset(of: \.stx_mtime) == 112)
        #expect(MemoryLayout<spool_statx>.offset(of: \.stx_dio_offset_align) == 156)
    }

    /// The index of the first non-zero byte after `write` runs on a zeroed SQE.
    func firstByteWritten(_ write: (inout spool_uring_sqe) -> Void) -> Int? {
        var sqe = spool_uring_sqe()
        write(&sqe)
        return withUnsafeBytes(of: &sqe) { $0.firstIndex { $0 != 0 } }
    }

    @Test("constants that newer kernels added carry their kernel values")
    func constants() {
        #expect(IORING_SETUP_DEFER_TASKRUN == 1 << 13)
        #expect(IORING_SETUP_NO_SQARRAY == 1 << 16)
        #expect(IORING_OP_SEND_ZC == 47)
        #expect(IORING_OP_PIPE == 62)
        #expect(IORING_REGISTER_PBUF_RING == 22)
        #expect(IORING_REGISTER_RING_FDS == 20)
        #expect(IORING_ENTER_EXT_ARG == 1 << 3)
        #expect(IORING_ENTER_REGISTERED_RING == 1 << 4)
        #expect(IORING_FILE_INDEX_ALLOC == UInt32.max)
        #expect(SPOOL_EFD_CLOEXEC == O_CLOEXEC)
        #expect(SPOOL_EFD_NONBLOCK == O_NONBLOCK)
    }

    @Test("the wrappers return -errno instead of setting errno")
    func wrappersReturnNegativeErrno() {
        #expect(spool_io_uring_enter(-1, 0, 0, 0, nil, 0) == -EBADF)
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 16 + 256 * 8, alignment: 8)
        defer { probe.deallocate() }
        probe.initializeMemory(as: UInt8.self, repeating: 0, count: 16 + 256 * 8)
        #expect(spool_io_uring_register(0x3fff_fff0, UInt32(IORING_REGISTER_PROBE), probe, 256) == -EBADF)
        var params = spool_uring_params()
        #expect(spool_io_uring_setup(0, &params) == -EINVAL)
        let fd = spool_eventfd(0, SPOOL_EFD_CLOEXEC)
        #expect(fd >= 0)
        close(fd)
        #expect(spool_eventfd(0, -1) == -EINVAL)
        var release = [CChar](repeating: 0, count: 65)
        #expect(spool_kernel_release(&release, 65) == 0)
        let text = String(decoding: release.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(text.first?.isNumber == true)
        #expect(spool_kernel_release(&release, 0) == -EINVAL)
    }
}
