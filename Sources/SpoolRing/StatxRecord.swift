import CSpoolURing

/// The fields of a kernel `struct statx` that Spool reports, decoded from the buffer a
/// `STATX` request filled (see ``SubmissionQueueEntry/prepareStatx(_:path:flags:mask:into:)``).
///
/// A plain value: `Sendable`.
public struct StatxRecord: Sendable, Hashable {
    /// Bytes a `STATX` request writes: allocate at least this much, aligned to 8.
    public static let byteCount = MemoryLayout<spool_statx>.size
    /// The mask Spool asks for: the basic stats and the `O_DIRECT` alignments.
    public static let defaultMask: UInt32 = STATX_BASIC_STATS | STATX_DIOALIGN

    /// Which fields the kernel filled (`stx_mask`).
    public var mask: UInt32
    /// `stx_mode`: file type and permission bits.
    public var mode: UInt16
    /// `stx_size`.
    public var size: UInt64
    /// `stx_blksize`.
    public var blockSize: UInt32
    /// `stx_blocks` (512-byte units).
    public var blocks: UInt64
    /// `stx_ino`.
    public var inode: UInt64
    /// `stx_nlink`.
    public var linkCount: UInt32
    /// `stx_mtime`.
    public var modificationSeconds: Int64, modificationNanoseconds: UInt32
    /// `stx_dio_mem_align` and `stx_dio_offset_align`, or 0 when the kernel did not report them.
    public var directIOMemoryAlignment: UInt32, directIOOffsetAlignment: UInt32

    /// Decodes the record at `buffer` (``byteCount`` bytes written by the kernel).
    public init(decoding buffer: UnsafeRawPointer) {
        let s = buffer.loadUnaligned(as: spool_statx.self)
        mask = s.stx_mask
        mode = s.stx_mode
        size = s.stx_size
        blockSize = s.stx_blksize
        blocks = s.stx_blocks
        inode = s.stx_ino
        linkCount = s.stx_nlink
        modificationSeconds = s.stx_mtime.tv_sec
        modificationNanoseconds = s.stx_mtime.tv_nsec
        let dio = s.stx_mask & STATX_DIOALIGN != 0
        directIOMemoryAlignment = dio ? s.stx_dio_mem_align : 0
        directIOOffsetAlignment = dio ? s.stx_dio_offset_align : 0
    }
}
