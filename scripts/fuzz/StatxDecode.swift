// Fuzz target: decoding the `struct statx` the kernel writes for a STATX request:
// `StatxRecord(decoding:)` (Sources/SpoolRing/StatxRecord.swift) and `FileStatus.init(_:)`
// (Sources/Spool/IO/Files/FileStatus.swift), as `FileStatus.load` chains them.
//
// Input: the record's bytes (zero-filled to `StatxRecord.byteCount`, 256; longer inputs are
// cut there, and byte 256, if present, shifts the record off 8-byte alignment by its low
// three bits). The record is in an allocation of exactly its size (ASan catches a read past
// it).
// Checks: every field is the one at the offset <linux/stat.h> gives (the system's header, not
// Spool's copy of the ABI); the O_DIRECT alignments are reported only when `stx_mask` has
// STATX_DIOALIGN; FileStatus splits `stx_mode` into permission and type bits, its predicates
// agree with the type bits, and its Equatable/Hashable agree (fields outside `==` do not
// change equality or the hash).

internal import SpoolRing
internal import FuzzOracle
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func spoolFuzzStatxDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzReader(data, size)
    let all = input.rest()
    let count = StatxRecord.byteCount
    Fuzz.check(count == fuzz_statx_size(), "StatxRecord.byteCount \(count), <linux/stat.h> \(fuzz_statx_size())")
    Fuzz.check(StatxRecord.defaultMask == fuzz_statx_basic_stats() | fuzz_statx_dioalign_bit(), "defaultMask \(StatxRecord.defaultMask)")
    let bytes = Array(all.prefix(count)) + [UInt8](repeating: 0, count: max(count - all.count, 0))
    let shift = all.count > count ? Int(all[count] & 7) : 0

    let block = UnsafeMutableRawPointer.allocate(byteCount: count + shift, alignment: 8)
    defer { block.deallocate() }
    let record = block + shift
    bytes.withUnsafeBytes { record.copyMemory(from: $0.baseAddress!, byteCount: count) }

    let s = StatxRecord(decoding: UnsafeRawPointer(record))

    func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        (0..<MemoryLayout<T>.size).reduce(T.zero) { $0 | T(truncatingIfNeeded: bytes[offset + $1]) << (8 * $1) }
    }
    let mask = load(fuzz_statx_mask_offset(), UInt32.self)
    let mode = load(fuzz_statx_mode_offset(), UInt16.self)
    let dio = mask & fuzz_statx_dioalign_bit() != 0
    func context() -> String { "statx \(hex(bytes.prefix(160)))" }
    Fuzz.check(s.mask == mask, "\(context()): mask \(s.mask)")
    Fuzz.check(s.mode == mode, "\(context()): mode \(s.mode)")
    Fuzz.check(s.size == load(fuzz_statx_size_offset(), UInt64.self), "\(context()): size \(s.size)")
    Fuzz.check(s.blockSize == load(fuzz_statx_blksize_offset(), UInt32.self), "\(context()): blksize \(s.blockSize)")
    Fuzz.check(s.blocks == load(fuzz_statx_blocks_offset(), UInt64.self), "\(context()): blocks \(s.blocks)")
    Fuzz.check(s.inode == load(fuzz_statx_ino_offset(), UInt64.self), "\(context()): ino \(s.inode)")
    Fuzz.check(s.linkCount == load(fuzz_statx_nlink_offset(), UInt32.self), "\(context()): nlink \(s.linkCount)")
    Fuzz.check(s.modificationSeconds == load(fuzz_statx_mtime_sec_offset(), Int64.self), "\(context()): mtime \(s.modificationSeconds)")
    Fuzz.check(s.modificationNanoseconds == load(fuzz_statx_mtime_nsec_offset(), UInt32.self), "\(context()): mtime ns \(s.modificationNanoseconds)")
    Fuzz.check(s.directIOMemoryAlignment == (dio ? load(fuzz_statx_dio_mem_align_offset(), UInt32.self) : 0), "\(context()): dio mem \(s.directIOMemoryAlignment)")
    Fuzz.check(s.directIOOffsetAlignment == (dio ? load(fuzz_statx_dio_offset_align_offset(), UInt32.self) : 0), "\(context()): dio offset \(s.directIOOffsetAlignment)")

    let f = FileStatus(s)
    let typeBits = UInt32(mode) & UInt32(S_IFMT)
    Fuzz.check(f.size == s.size && f.blocks == s.blocks && f.inode == s.inode && f.linkCount == s.linkCount && f.blockSize == s.blockSize,
               "\(context()): FileStatus fields")
    Fuzz.check(f.permissions.rawValue == mode_t(mode) & 0o7777, "\(context()): permissions \(f.permissions.rawValue)")
    Fuzz.check(f.typeBits == typeBits, "\(context()): typeBits \(f.typeBits)")
    Fuzz.check(f.permissions.rawValue | mode_t(f.typeBits) == mode_t(mode), "\(context()): mode split loses bits")
    Fuzz.check(f.isRegularFile == (typeBits == UInt32(S_IFREG)) && f.isDirectory == (typeBits == UInt32(S_IFDIR)), "\(context()): predicates")
    Fuzz.check(!(f.isRegularFile && f.isDirectory), "\(context()): both file and directory")
    Fuzz.check(f.modificationTime == (s.modificationSeconds, s.modificationNanoseconds), "\(context()): mtime")
    Fuzz.check(f.directIOMemoryAlignment == s.directIOMemoryAlignment && f.directIOOffsetAlignment == s.directIOOffsetAlignment, "\(context()): dio")

    // Equatable and Hashable agree.
    Fuzz.check(f == f && f.hashValue == FileStatus(s).hashValue, "\(context()): FileStatus not equal to itself")
    var other = f
    other.linkCount &+= 1; other.blockSize &+= 1; other.directIOMemoryAlignment &+= 1
    Fuzz.check(other == f && other.hashValue == f.hashValue, "\(context()): fields outside == changed equality or hash")
    var bigger = f
    bigger.size &+= 1
    Fuzz.check(bigger != f, "\(context()): size outside ==")
    var again = s
    Fuzz.check(again == s && again.hashValue == s.hashValue, "\(context()): StatxRecord not equal to itself")
    again.mask ^= 1
    Fuzz.check(again != s, "\(context()): StatxRecord == ignores mask")
    return 0
}
