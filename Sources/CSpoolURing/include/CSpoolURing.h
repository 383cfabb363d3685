/*
 * CSpoolURing: the kernel boundary of Spool.
 *
 * The io_uring ABI (spool_uring_abi.h), the three io_uring system calls and
 * eventfd as plain functions returning a result or -errno (so Swift never reads
 * the thread-local errno), and acquire/release accessors for the indices the
 * kernel shares with us. No logic lives here.
 */
#ifndef SPOOL_CSPOOLURING_H
#define SPOOL_CSPOOLURING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "spool_uring_abi.h"

/* io_uring_setup(2): the ring's descriptor, or -errno. */
int spool_io_uring_setup(uint32_t entries, struct spool_uring_params *params);

/* io_uring_enter2(2): SQEs consumed, or -errno. `arg` may be NULL; with
 * IORING_ENTER_EXT_ARG it points at a struct spool_uring_getevents_arg. */
int spool_io_uring_enter(int fd, uint32_t to_submit, uint32_t min_complete,
                         uint32_t flags, const void *arg, size_t arg_size);

/* io_uring_register(2): the opcode's result (often 0), or -errno. */
int spool_io_uring_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args);

/* Flag values taken from the platform's own headers when this shim is compiled
 * (they differ between architectures: O_DIRECT is 0o40000 on x86-64 and
 * 0o200000 on arm64), exported as constants so Swift never hard-codes them. */
extern const int SPOOL_EFD_CLOEXEC;   /* eventfd(2) EFD_CLOEXEC */
extern const int SPOOL_EFD_NONBLOCK;  /* eventfd(2) EFD_NONBLOCK */
extern const int SPOOL_O_DIRECT;      /* open(2) O_DIRECT (glibc defines it only for _GNU_SOURCE) */
extern const int SPOOL_O_CLOEXEC;     /* open(2) O_CLOEXEC */
extern const int SPOOL_AT_EMPTY_PATH; /* statx(2) AT_EMPTY_PATH */

/* eventfd(2): a descriptor, or -errno. */
int spool_eventfd(uint32_t initial_value, int flags);

/* preadv2(2) of one buffer at `offset` with RWF_NOWAIT: the byte count, or -errno
 * (-EAGAIN when the data is not in the page cache and the read would wait for the
 * device; -EOPNOTSUPP when the file does not take RWF_NOWAIT). Never blocks on the device. */
int64_t spool_pread_nowait(int fd, void *buffer, size_t count, uint64_t offset);

/* fcntl(fd, F_GETFL): the descriptor's status flags, or -errno. */
int spool_status_flags(int fd);

/* pipe2(2) with O_CLOEXEC: 0 or -errno. */
int spool_pipe_cloexec(int fds[2]);

/* The kernel version string of uname(2) ("6.18.4-…") copied into `buffer`;
 * 0 or -errno. */
int spool_kernel_release(char *buffer, size_t size);

/* prctl(PR_SET_NAME): names the calling thread (15 bytes kept); 0 or -errno. */
int spool_set_thread_name(const char *name);

/* gettid(2): the calling thread's kernel id. */
int spool_thread_id(void);

/* Shared-index accessors. The ring's head and tail words are written by one
 * side and read by the other; these are the only orderings Spool needs. */
static inline uint32_t spool_load_acquire_u32(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline uint32_t spool_load_relaxed_u32(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void spool_store_release_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void spool_store_release_u16(uint16_t *p, uint16_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void spool_fence_seq_cst(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* sched_getaffinity(2) / sched_setaffinity(2) for the calling thread, on a
 * plain byte mask (bit n of byte n/8 is CPU n): 0 (get: the bytes the kernel
 * wrote) or -errno. */
int spool_get_thread_affinity(uint8_t *mask, size_t size);
int spool_set_thread_affinity(const uint8_t *mask, size_t size);

/* dup3(2) with O_CLOEXEC: 0, or -errno. */
int spool_dup3_cloexec(int oldfd, int newfd);

/* ---- The portable backend's system calls (epoll and blocking file calls), each
 * returning -errno on failure. ---- */

extern const uint32_t SPOOL_EPOLLIN, SPOOL_EPOLLOUT, SPOOL_EPOLLERR, SPOOL_EPOLLHUP,
    SPOOL_EPOLLRDHUP, SPOOL_EPOLLPRI, SPOOL_EPOLLET, SPOOL_EPOLLONESHOT;

/* epoll_create1(EPOLL_CLOEXEC): a descriptor, or -errno. */
int spool_epoll_create(void);
/* epoll_ctl: op 0 add, 1 modify, 2 delete; `events` are EPOLL* bits; data is `fd`. */
int spool_epoll_ctl(int epfd, int op, int fd, uint32_t events);
/* Waits for at most `max` events, storing each one's descriptor and bits; `timeout_ns`
 * < 0 waits without a bound. Uses epoll_pwait2 (nanoseconds) where the kernel has it,
 * else epoll_wait with the timeout rounded up to a millisecond. The count, or -errno. */
int spool_epoll_wait(int epfd, int32_t *fds, uint32_t *events, int max, int64_t timeout_ns);

/* preadv2/pwritev2 at `offset` (-1: the current position), with RWF_NOWAIT when `nowait`:
 * a byte count, or -errno. */
int64_t spool_preadv(int fd, const struct iovec *iov, int count, int64_t offset, int nowait);
int64_t spool_pwritev(int fd, const struct iovec *iov, int count, int64_t offset, int nowait);
/* Sets or clears O_NONBLOCK; returns whether it was set before (0/1), or -errno. */
int spool_set_nonblocking(int fd, int on);
/* The calls below block; each returns its result (a descriptor, 0) or -errno. */
int spool_openat(int dirfd, const char *path, int flags, uint32_t mode);
int spool_fsync(int fd, int data_only);
int spool_fallocate(int fd, int mode, uint64_t offset, uint64_t length);
int spool_statx(int dirfd, const char *path, int flags, uint32_t mask, void *buffer);
int spool_unlinkat(int dirfd, const char *path, int flags);
int spool_renameat(const char *from, const char *to);
int spool_mkdirat(int dirfd, const char *path, uint32_t mode);
/* The pending error of a socket whose non-blocking connect finished (SO_ERROR): 0, or -errno. */
int spool_socket_error(int fd);
/* accept4(2) with SOCK_CLOEXEC: the new descriptor, or -errno. `address`/`length` may be NULL. */
int spool_accept_cloexec(int fd, void *address, uint32_t *length);

/* Close epochs: a counter per descriptor number (hashed into 16,384 buckets), bumped just
 * before and just after every close Spool makes, so the portable backend notices that a
 * descriptor it watches was closed, and perhaps its number reused, by any thread. */
uint32_t spool_close_epoch(int fd);
void spool_close_epoch_bump(int fd);

#endif /* SPOOL_CSPOOLURING_H */
