/*
 * spool_uring_abi.h: the io_uring kernel ABI as Spool uses it.
 *
 * Layouts and numbers follow the kernel's UAPI (include/uapi/linux/io_uring.h)
 * up to Linux 6.18. Spool carries its own copy instead of including the build
 * host's <linux/io_uring.h> so that the package builds the same way against old
 * headers (Debian 12 ships 6.1) and new ones: the struct field names of the
 * system header have changed between releases (for example the getevents
 * argument's `pad` became `min_wait_usec`), and enumerators cannot be
 * back-filled with #ifndef. Every struct carries a static size check.
 *
 * Struct names carry a `spool_` prefix (`struct spool_uring_sqe` is the
 * kernel's `struct io_uring_sqe`): swift-system's C module includes the host's
 * <linux/io_uring.h>, and Clang rejects two different definitions of one struct
 * name in modules imported together. The constants keep the kernel's names.
 *
 * This header holds data definitions only: no logic.
 */
#ifndef SPOOL_URING_ABI_H
#define SPOOL_URING_ABI_H

#include <stdint.h>


/* ------------------------------------------------------------------------ */
/* Submission queue entry: 64 bytes.                                         */
/* ------------------------------------------------------------------------ */

struct spool_uring_sqe {
    uint8_t  opcode;       /* IORING_OP_* */
    uint8_t  flags;        /* IOSQE_* */
    uint16_t ioprio;       /* request priority, or per-opcode flags (accept, recv, send_zc) */
    int32_t  fd;           /* descriptor, or fixed-file index with IOSQE_FIXED_FILE */
    union {
        uint64_t off;      /* file offset */
        uint64_t addr2;    /* second address (statx buffer, rename new path, sockaddr length pointer) */
        struct {
            uint32_t cmd_op;
            uint32_t __pad1;
        };
    };
    union {
        uint64_t addr;           /* buffer, iovec array, path, sockaddr */
        uint64_t splice_off_in;
        struct {
            uint32_t level;
            uint32_t optname;
        };
    };
    uint32_t len;          /* byte count, iovec count, mode, or per-opcode value */
    union {
        uint32_t rw_flags;
        uint32_t fsync_flags;
        uint16_t poll_events;
        uint32_t poll32_events;
        uint32_t sync_range_flags;
        uint32_t msg_flags;
        uint32_t timeout_flags;
        uint32_t accept_flags;
        uint32_t cancel_flags;
        uint32_t open_flags;
        uint32_t statx_flags;
        uint32_t fadvise_advice;
        uint32_t splice_flags;
        uint32_t rename_flags;
        uint32_t unlink_flags;
        uint32_t hardlink_flags;
        uint32_t xattr_flags;
        uint32_t msg_ring_flags;
        uint32_t uring_cmd_flags;
        uint32_t waitid_flags;
        uint32_t futex_flags;
        uint32_t install_fd_flags;
        uint32_t nop_flags;
        uint32_t pipe_flags;
    };
    uint64_t user_data;    /* returned untouched in the completion */
    union {
        uint16_t buf_index;  /* registered buffer index (READ_FIXED / WRITE_FIXED) */
        uint16_t buf_group;  /* provided-buffer group (IOSQE_BUFFER_SELECT) */
    } __attribute__((packed));
    uint16_t personality;
    union {
        int32_t  splice_fd_in;
        uint32_t file_index;   /* direct-descriptor slot + 1 (open, accept, socket, close) */
        uint32_t zcrx_ifq_idx;
        uint32_t optlen;
        struct {
            uint16_t addr_len;
            uint16_t __pad3[1];
        };
        struct {
            uint8_t write_stream;
            uint8_t __pad4[3];
        };
    };
    union {
        struct {
            uint64_t addr3;
            uint64_t __pad2[1];
        };
        struct {
            uint64_t attr_ptr;
            uint64_t attr_type_mask;
        };
        uint64_t optval;
    };
};
_Static_assert(sizeof(struct spool_uring_sqe) == 64, "spool_uring_sqe is 64 bytes");

/* sqe->flags */
#define IOSQE_FIXED_FILE        (1U << 0)
#define IOSQE_IO_DRAIN          (1U << 1)
#define IOSQE_IO_LINK           (1U << 2)
#define IOSQE_IO_HARDLINK       (1U << 3)
#define IOSQE_ASYNC             (1U << 4)
#define IOSQE_BUFFER_SELECT     (1U << 5)
#define IOSQE_CQE_SKIP_SUCCESS  (1U << 6)

/* ------------------------------------------------------------------------ */
/* io_uring_setup flags                                                      */
/* ------------------------------------------------------------------------ */

#define IORING_SETUP_IOPOLL             (1U << 0)
#define IORING_SETUP_SQPOLL             (1U << 1)
#define IORING_SETUP_SQ_AFF             (1U << 2)
#define IORING_SETUP_CQSIZE             (1U << 3)
#define IORING_SETUP_CLAMP              (1U << 4)
#define IORING_SETUP_ATTACH_WQ          (1U << 5)
#define IORING_SETUP_R_DISABLED         (1U << 6)
#define IORING_SETUP_SUBMIT_ALL         (1U << 7)   /* 5.18 */
#define IORING_SETUP_COOP_TASKRUN       (1U << 8)   /* 5.19 */
#define IORING_SETUP_TASKRUN_FLAG       (1U << 9)   /* 5.19 */
#define IORING_SETUP_SQE128             (1U << 10)  /* 5.19 */
#define IORING_SETUP_CQE32              (1U << 11)  /* 5.19 */
#define IORING_SETUP_SINGLE_ISSUER      (1U << 12)  /* 6.0 */
#define IORING_SETUP_DEFER_TASKRUN      (1U << 13)  /* 6.1 */
#define IORING_SETUP_NO_MMAP            (1U << 14)  /* 6.5 */
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)  /* 6.5 */
#define IORING_SETUP_NO_SQARRAY         (1U << 16)  /* 6.6 */
#define IORING_SETUP_HYBRID_IOPOLL      (1U << 17)  /* 6.13 */
#define IORING_SETUP_CQE_MIXED          (1U << 18)  /* 6.18 */

/* ------------------------------------------------------------------------ */
/* Opcodes                                                                   */
/* ------------------------------------------------------------------------ */

#define IORING_OP_NOP               0
#define IORING_OP_READV             1
#define IORING_OP_WRITEV            2
#define IORING_OP_FSYNC             3
#define IORING_OP_READ_FIXED        4
#define IORING_OP_WRITE_FIXED       5
#define IORING_OP_POLL_ADD          6
#define IORING_OP_POLL_REMOVE       7
#define IORING_OP_SYNC_FILE_RANGE   8
#define IORING_OP_SENDMSG           9
#define IORING_OP_RECVMSG           10
#define IORING_OP_TIMEOUT           11
#define IORING_OP_TIMEOUT_REMOVE    12
#define IORING_OP_ACCEPT            13
#define IORING_OP_ASYNC_CANCEL      14
#define IORING_OP_LINK_TIMEOUT      15
#define IORING_OP_CONNECT           16
#define IORING_OP_FALLOCATE         17
#define IORING_OP_OPENAT            18
#define IORING_OP_CLOSE             19
#define IORING_OP_FILES_UPDATE      20
#define IORING_OP_STATX             21
#define IORING_OP_READ              22
#define IORING_OP_WRITE             23
#define IORING_OP_FADVISE           24
#define IORING_OP_MADVISE           25
#define IORING_OP_SEND              26
#define IORING_OP_RECV              27
#define IORING_OP_OPENAT2           28
#define IORING_OP_EPOLL_CTL         29
#define IORING_OP_SPLICE            30
#define IORING_OP_PROVIDE_BUFFERS   31
#define IORING_OP_REMOVE_BUFFERS    32
#define IORING_OP_TEE               33
#define IORING_OP_SHUTDOWN          34
#define IORING_OP_RENAMEAT          35
#define IORING_OP_UNLINKAT          36
#define IORING_OP_MKDIRAT           37
#define IORING_OP_SYMLINKAT         38
#define IORING_OP_LINKAT            39
#define IORING_OP_MSG_RING          40
#define IORING_OP_FSETXATTR         41
#define IORING_OP_SETXATTR          42
#define IORING_OP_FGETXATTR         43
#define IORING_OP_GETXATTR          44
#define IORING_OP_SOCKET            45
#define IORING_OP_URING_CMD         46
#define IORING_OP_SEND_ZC           47
#define IORING_OP_SENDMSG_ZC        48
#define IORING_OP_READ_MULTISHOT    49
#define IORING_OP_WAITID            50
#define IORING_OP_FUTEX_WAIT        51
#define IORING_OP_FUTEX_WAKE        52
#define IORING_OP_FUTEX_WAITV       53
#define IORING_OP_FIXED_FD_INSTALL  54
#define IORING_OP_FTRUNCATE         55
#define IORING_OP_BIND              56
#define IORING_OP_LISTEN            57
#define IORING_OP_RECV_ZC           58
#define IORING_OP_EPOLL_WAIT        59
#define IORING_OP_READV_FIXED       60
#define IORING_OP_WRITEV_FIXED      61
#define IORING_OP_PIPE              62
#define IORING_OP_LAST_KNOWN        62

/* ------------------------------------------------------------------------ */
/* Per-opcode flags                                                          */
/* ------------------------------------------------------------------------ */

/* sqe->fsync_flags */
#define IORING_FSYNC_DATASYNC           (1U << 0)

/* sqe->timeout_flags */
#define IORING_TIMEOUT_ABS              (1U << 0)
#define IORING_TIMEOUT_UPDATE           (1U << 1)
#define IORING_TIMEOUT_BOOTTIME         (1U << 2)
#define IORING_TIMEOUT_REALTIME         (1U << 3)
#define IORING_LINK_TIMEOUT_UPDATE      (1U << 4)
#define IORING_TIMEOUT_ETIME_SUCCESS    (1U << 5)
#define IORING_TIMEOUT_MULTISHOT        (1U << 6)

/* sqe->splice_flags: the last bit says splice_fd_in is a fixed-file index */
#define SPLICE_F_FD_IN_FIXED            (1U << 31)

/* POLL_ADD command flags, carried in sqe->len */
#define IORING_POLL_ADD_MULTI           (1U << 0)
#define IORING_POLL_UPDATE_EVENTS       (1U << 1)
#define IORING_POLL_UPDATE_USER_DATA    (1U << 2)
#define IORING_POLL_ADD_LEVEL           (1U << 3)

/* sqe->cancel_flags for ASYNC_CANCEL */
#define IORING_ASYNC_CANCEL_ALL         (1U << 0)
#define IORING_ASYNC_CANCEL_FD          (1U << 1)
#define IORING_ASYNC_CANCEL_ANY         (1U << 2)
#define IORING_ASYNC_CANCEL_FD_FIXED    (1U << 3)
#define IORING_ASYNC_CANCEL_USERDATA    (1U << 4)
#define IORING_ASYNC_CANCEL_OP          (1U << 5)

/* send/recv flags, carried in sqe->ioprio */
#define IORING_RECVSEND_POLL_FIRST      (1U << 0)
#define IORING_RECV_MULTISHOT           (1U << 1)
#define IORING_RECVSEND_FIXED_BUF       (1U << 2)
#define IORING_SEND_ZC_REPORT_USAGE     (1U << 3)
#define IORING_RECVSEND_BUNDLE          (1U << 4)

/* cqe->res of a SEND_ZC notification when the data was copied after all */
#define IORING_NOTIF_USAGE_ZC_COPIED    (1U << 31)

/* accept flags, carried in sqe->ioprio */
#define IORING_ACCEPT_MULTISHOT         (1U << 0)
#define IORING_ACCEPT_DONTWAIT          (1U << 1)
#define IORING_ACCEPT_POLL_FIRST        (1U << 2)

/* MSG_RING commands (sqe->addr) and flags (sqe->msg_ring_flags) */
#define IORING_MSG_DATA                 0
#define IORING_MSG_SEND_FD              1
#define IORING_MSG_RING_CQE_SKIP        (1U << 0)
#define IORING_MSG_RING_FLAGS_PASS      (1U << 1)

/* sqe->file_index: let the kernel pick a free direct-descriptor slot */
#define IORING_FILE_INDEX_ALLOC         (~0U)

/* ------------------------------------------------------------------------ */
/* Completion queue entry: 16 bytes (CQE32 rings are not used by Spool).     */
/* ------------------------------------------------------------------------ */

struct spool_uring_cqe {
    uint64_t user_data;
    int32_t  res;      /* result, or -errno */
    uint32_t flags;    /* IORING_CQE_F_* */
};
_Static_assert(sizeof(struct spool_uring_cqe) == 16, "spool_uring_cqe is 16 bytes");

#define IORING_CQE_F_BUFFER         (1U << 0)   /* upper 16 bits hold the buffer id */
#define IORING_CQE_F_MORE           (1U << 1)   /* the request will post more completions */
#define IORING_CQE_F_SOCK_NONEMPTY  (1U << 2)
#define IORING_CQE_F_NOTIF          (1U << 3)   /* SEND_ZC: buffer released notification */
#define IORING_CQE_F_BUF_MORE       (1U << 4)   /* incremental buffer still has room */
#define IORING_CQE_BUFFER_SHIFT     16

/* ------------------------------------------------------------------------ */
/* Ring mapping                                                              */
/* ------------------------------------------------------------------------ */

#define IORING_OFF_SQ_RING      0ULL
#define IORING_OFF_CQ_RING      0x8000000ULL
#define IORING_OFF_SQES         0x10000000ULL
#define IORING_OFF_PBUF_RING    0x80000000ULL
#define IORING_OFF_PBUF_SHIFT   16

struct spool_sqring_offsets {
    uint32_t head;
    uint32_t tail;
    uint32_t ring_mask;
    uint32_t ring_entries;
    uint32_t flags;
    uint32_t dropped;
    uint32_t array;
    uint32_t resv1;
    uint64_t user_addr;
};
_Static_assert(sizeof(struct spool_sqring_offsets) == 40, "spool_sqring_offsets is 40 bytes");

/* sq_ring->flags */
#define IORING_SQ_NEED_WAKEUP   (1U << 0)
#define IORING_SQ_CQ_OVERFLOW   (1U << 1)
#define IORING_SQ_TASKRUN       (1U << 2)

struct spool_cqring_offsets {
    uint32_t head;
    uint32_t tail;
    uint32_t ring_mask;
    uint32_t ring_entries;
    uint32_t overflow;
    uint32_t cqes;
    uint32_t flags;
    uint32_t resv1;
    uint64_t user_addr;
};
_Static_assert(sizeof(struct spool_cqring_offsets) == 40, "spool_cqring_offsets is 40 bytes");

/* cq_ring->flags */
#define IORING_CQ_EVENTFD_DISABLED  (1U << 0)

/* io_uring_enter flags */
#define IORING_ENTER_GETEVENTS        (1U << 0)
#define IORING_ENTER_SQ_WAKEUP        (1U << 1)
#define IORING_ENTER_SQ_WAIT          (1U << 2)
#define IORING_ENTER_EXT_ARG          (1U << 3)
#define IORING_ENTER_REGISTERED_RING  (1U << 4)
#define IORING_ENTER_ABS_TIMER        (1U << 5)
#define IORING_ENTER_EXT_ARG_REG      (1U << 6)
#define IORING_ENTER_NO_IOWAIT        (1U << 7)

struct spool_uring_params {
    uint32_t sq_entries;
    uint32_t cq_entries;
    uint32_t flags;
    uint32_t sq_thread_cpu;
    uint32_t sq_thread_idle;   /* milliseconds */
    uint32_t features;
    uint32_t wq_fd;
    uint32_t resv[3];
    struct spool_sqring_offsets sq_off;
    struct spool_cqring_offsets cq_off;
};
_Static_assert(sizeof(struct spool_uring_params) == 120, "spool_uring_params is 120 bytes");

/* spool_uring_params->features */
#define IORING_FEAT_SINGLE_MMAP       (1U << 0)
#define IORING_FEAT_NODROP            (1U << 1)
#define IORING_FEAT_SUBMIT_STABLE     (1U << 2)
#define IORING_FEAT_RW_CUR_POS        (1U << 3)
#define IORING_FEAT_CUR_PERSONALITY   (1U << 4)
#define IORING_FEAT_FAST_POLL         (1U << 5)
#define IORING_FEAT_POLL_32BITS       (1U << 6)
#define IORING_FEAT_SQPOLL_NONFIXED   (1U << 7)
#define IORING_FEAT_EXT_ARG           (1U << 8)
#define IORING_FEAT_NATIVE_WORKERS    (1U << 9)
#define IORING_FEAT_RSRC_TAGS         (1U << 10)
#define IORING_FEAT_CQE_SKIP          (1U << 11)
#define IORING_FEAT_LINKED_FILE       (1U << 12)
#define IORING_FEAT_REG_REG_RING      (1U << 13)
#define IORING_FEAT_RECVSEND_BUNDLE   (1U << 14)
#define IORING_FEAT_MIN_TIMEOUT       (1U << 15)
#define IORING_FEAT_RW_ATTR           (1U << 16)
#define IORING_FEAT_NO_IOWAIT         (1U << 17)

/* ------------------------------------------------------------------------ */
/* io_uring_register                                                         */
/* ------------------------------------------------------------------------ */

#define IORING_REGISTER_BUFFERS           0
#define IORING_UNREGISTER_BUFFERS         1
#define IORING_REGISTER_FILES             2
#define IORING_UNREGISTER_FILES           3
#define IORING_REGISTER_EVENTFD           4
#define IORING_UNREGISTER_EVENTFD         5
#define IORING_REGISTER_FILES_UPDATE      6
#define IORING_REGISTER_EVENTFD_ASYNC     7
#define IORING_REGISTER_PROBE             8
#define IORING_REGISTER_PERSONALITY       9
#define IORING_UNREGISTER_PERSONALITY     10
#define IORING_REGISTER_RESTRICTIONS      11
#define IORING_REGISTER_ENABLE_RINGS      12
#define IORING_REGISTER_FILES2            13
#define IORING_REGISTER_FILES_UPDATE2     14
#define IORING_REGISTER_BUFFERS2          15
#define IORING_REGISTER_BUFFERS_UPDATE    16
#define IORING_REGISTER_IOWQ_AFF          17
#define IORING_UNREGISTER_IOWQ_AFF        18
#define IORING_REGISTER_IOWQ_MAX_WORKERS  19
#define IORING_REGISTER_RING_FDS          20
#define IORING_UNREGISTER_RING_FDS        21
#define IORING_REGISTER_PBUF_RING         22
#define IORING_UNREGISTER_PBUF_RING       23
#define IORING_REGISTER_SYNC_CANCEL       24
#define IORING_REGISTER_FILE_ALLOC_RANGE  25
#define IORING_REGISTER_PBUF_STATUS       26
#define IORING_REGISTER_NAPI              27
#define IORING_UNREGISTER_NAPI            28
#define IORING_REGISTER_CLOCK             29
#define IORING_REGISTER_CLONE_BUFFERS     30
#define IORING_REGISTER_SEND_MSG_RING     31
#define IORING_REGISTER_ZCRX_IFQ          32
#define IORING_REGISTER_RESIZE_RINGS      33
#define IORING_REGISTER_MEM_REGION        34
/* or-ed into the opcode when the fd argument is a registered ring index */
#define IORING_REGISTER_USE_REGISTERED_RING (1U << 31)

/* Skip updating a file-table slot set to this value. */
#define IORING_REGISTER_FILES_SKIP  (-2)

/* spool_uring_rsrc_register->flags */
#define IORING_RSRC_REGISTER_SPARSE (1U << 0)

struct spool_uring_files_update {
    uint32_t offset;
    uint32_t resv;
    uint64_t fds;        /* int32_t * */
};

struct spool_uring_rsrc_register {
    uint32_t nr;
    uint32_t flags;
    uint64_t resv2;
    uint64_t data;
    uint64_t tags;
};
_Static_assert(sizeof(struct spool_uring_rsrc_register) == 32, "spool_uring_rsrc_register is 32 bytes");

struct spool_uring_rsrc_update {
    uint32_t offset;
    uint32_t resv;
    uint64_t data;
};
_Static_assert(sizeof(struct spool_uring_rsrc_update) == 16, "spool_uring_rsrc_update is 16 bytes");

struct spool_uring_rsrc_update2 {
    uint32_t offset;
    uint32_t resv;
    uint64_t data;
    uint64_t tags;
    uint32_t nr;
    uint32_t resv2;
};
_Static_assert(sizeof(struct spool_uring_rsrc_update2) == 32, "spool_uring_rsrc_update2 is 32 bytes");

#define IO_URING_OP_SUPPORTED   (1U << 0)

struct spool_uring_probe_op {
    uint8_t  op;
    uint8_t  resv;
    uint16_t flags;      /* IO_URING_OP_SUPPORTED */
    uint32_t resv2;
};

struct spool_uring_probe {
    uint8_t  last_op;
    uint8_t  ops_len;
    uint16_t resv;
    uint32_t resv2[3];
    struct spool_uring_probe_op ops[];
};
_Static_assert(sizeof(struct spool_uring_probe) == 16, "spool_uring_probe header is 16 bytes");

/* One provided buffer in a buffer ring. */
struct spool_uring_buf {
    uint64_t addr;
    uint32_t len;
    uint16_t bid;
    uint16_t resv;
};
_Static_assert(sizeof(struct spool_uring_buf) == 16, "spool_uring_buf is 16 bytes");

/* What a multishot IORING_OP_RECVMSG writes at the start of each provided buffer, followed
   by the source address (msg_namelen bytes), control data (msg_controllen bytes) and the
   payload. */
struct spool_uring_recvmsg_out {
    uint32_t namelen;
    uint32_t controllen;
    uint32_t payloadlen;
    uint32_t flags;
};
_Static_assert(sizeof(struct spool_uring_recvmsg_out) == 16, "spool_uring_recvmsg_out is 16 bytes");

/* The ring's tail shares the first entry's `resv` field: byte offset 14. */
#define SPOOL_BUF_RING_TAIL_OFFSET 14

/* spool_uring_buf_reg->flags */
#define IOU_PBUF_RING_MMAP  (1U << 0)
#define IOU_PBUF_RING_INC   (1U << 1)

struct spool_uring_buf_reg {
    uint64_t ring_addr;
    uint32_t ring_entries;
    uint16_t bgid;
    uint16_t flags;
    uint64_t resv[3];
};
_Static_assert(sizeof(struct spool_uring_buf_reg) == 40, "spool_uring_buf_reg is 40 bytes");

struct spool_uring_buf_status {
    uint32_t buf_group;
    uint32_t head;
    uint32_t resv[8];
};

struct spool_kernel_timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};

/* The argument of io_uring_enter with IORING_ENTER_EXT_ARG. */
struct spool_uring_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t min_wait_usec;   /* 6.12; `pad` before */
    uint64_t ts;              /* struct spool_kernel_timespec * */
};
_Static_assert(sizeof(struct spool_uring_getevents_arg) == 24, "spool_uring_getevents_arg is 24 bytes");

/* ------------------------------------------------------------------------ */
/* statx(2) result, as IORING_OP_STATX fills it (<linux/stat.h>): 256 bytes. */
/* glibc's Swift module does not export struct statx, so Spool carries it.  */
/* ------------------------------------------------------------------------ */

struct spool_statx_timestamp {
    int64_t  tv_sec;
    uint32_t tv_nsec;
    int32_t  __reserved;
};

struct spool_statx {
    uint32_t stx_mask;
    uint32_t stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink;
    uint32_t stx_uid;
    uint32_t stx_gid;
    uint16_t stx_mode;
    uint16_t __spare0[1];
    uint64_t stx_ino;
    uint64_t stx_size;
    uint64_t stx_blocks;
    uint64_t stx_attributes_mask;
    struct spool_statx_timestamp stx_atime;
    struct spool_statx_timestamp stx_btime;
    struct spool_statx_timestamp stx_ctime;
    struct spool_statx_timestamp stx_mtime;
    uint32_t stx_rdev_major;
    uint32_t stx_rdev_minor;
    uint32_t stx_dev_major;
    uint32_t stx_dev_minor;
    uint64_t stx_mnt_id;
    uint32_t stx_dio_mem_align;
    uint32_t stx_dio_offset_align;
    uint64_t __spare3[12];
};
_Static_assert(sizeof(struct spool_statx) == 256, "statx is 256 bytes");

#define STATX_TYPE          0x00000001U
#define STATX_MODE          0x00000002U
#define STATX_NLINK         0x00000004U
#define STATX_UID           0x00000008U
#define STATX_GID           0x00000010U
#define STATX_ATIME         0x00000020U
#define STATX_MTIME         0x00000040U
#define STATX_CTIME         0x00000080U
#define STATX_INO           0x00000100U
#define STATX_SIZE          0x00000200U
#define STATX_BLOCKS        0x00000400U
#define STATX_BASIC_STATS   0x000007ffU
#define STATX_BTIME         0x00000800U
#define STATX_MNT_ID        0x00001000U
#define STATX_DIOALIGN      0x00002000U

#endif /* SPOOL_URING_ABI_H */
