/*
 * Oracles for the fuzz targets, taken from the system's own headers rather than from
 * Spool's copy of the ABI (Sources/CSpoolURing/include/spool_uring_abi.h), so that a
 * target can check Spool's decoding against an independent source.
 */
#ifndef SPOOL_FUZZ_ORACLE_H
#define SPOOL_FUZZ_ORACLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/stat.h>
#include <linux/io_uring.h>

/* Byte offsets and sizes of the `struct statx` fields Spool reports (<linux/stat.h>). */
static inline size_t fuzz_statx_size(void) { return sizeof(struct statx); }
static inline size_t fuzz_statx_mask_offset(void) { return offsetof(struct statx, stx_mask); }
static inline size_t fuzz_statx_blksize_offset(void) { return offsetof(struct statx, stx_blksize); }
static inline size_t fuzz_statx_nlink_offset(void) { return offsetof(struct statx, stx_nlink); }
static inline size_t fuzz_statx_mode_offset(void) { return offsetof(struct statx, stx_mode); }
static inline size_t fuzz_statx_ino_offset(void) { return offsetof(struct statx, stx_ino); }
static inline size_t fuzz_statx_size_offset(void) { return offsetof(struct statx, stx_size); }
static inline size_t fuzz_statx_blocks_offset(void) { return offsetof(struct statx, stx_blocks); }
static inline size_t fuzz_statx_mtime_sec_offset(void) { return offsetof(struct statx, stx_mtime.tv_sec); }
static inline size_t fuzz_statx_mtime_nsec_offset(void) { return offsetof(struct statx, stx_mtime.tv_nsec); }
static inline size_t fuzz_statx_dio_mem_align_offset(void) { return offsetof(struct statx, stx_dio_mem_align); }
static inline size_t fuzz_statx_dio_offset_align_offset(void) { return offsetof(struct statx, stx_dio_offset_align); }
static inline uint32_t fuzz_statx_dioalign_bit(void) { return STATX_DIOALIGN; }
static inline uint32_t fuzz_statx_basic_stats(void) { return STATX_BASIC_STATS; }

/* `struct io_uring_recvmsg_out` (<linux/io_uring.h>): what a multishot recvmsg writes at the
 * start of each provided buffer. */
static inline size_t fuzz_recvmsg_out_size(void) { return sizeof(struct io_uring_recvmsg_out); }
static inline size_t fuzz_recvmsg_out_namelen_offset(void) { return offsetof(struct io_uring_recvmsg_out, namelen); }
static inline size_t fuzz_recvmsg_out_payloadlen_offset(void) { return offsetof(struct io_uring_recvmsg_out, payloadlen); }
static inline size_t fuzz_recvmsg_out_flags_offset(void) { return offsetof(struct io_uring_recvmsg_out, flags); }

#endif
