/*
 * The io_uring system calls and eventfd, each returning -errno on failure.
 */
#define _GNU_SOURCE
#include "CSpoolURing.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

const int SPOOL_EFD_CLOEXEC = EFD_CLOEXEC;
const int SPOOL_EFD_NONBLOCK = EFD_NONBLOCK;
const int SPOOL_O_DIRECT = O_DIRECT;
const int SPOOL_O_CLOEXEC = O_CLOEXEC;
const int SPOOL_AT_EMPTY_PATH = AT_EMPTY_PATH;

/* The io_uring syscall numbers are shared by every architecture but alpha. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

int spool_io_uring_setup(uint32_t entries, struct spool_uring_params *params) {
    long r = syscall(__NR_io_uring_setup, entries, params);
    return r < 0 ? -errno : (int)r;
}

int spool_io_uring_enter(int fd, uint32_t to_submit, uint32_t min_complete,
                         uint32_t flags, const void *arg, size_t arg_size) {
    long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, arg_size);
    return r < 0 ? -errno : (int)r;
}

int spool_io_uring_register(int fd, uint32_t opcode, const void *arg, uint32_t nr_args) {
    long r = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
    return r < 0 ? -errno : (int)r;
}

int spool_eventfd(uint32_t initial_value, int flags) {
    int r = eventfd(initial_value, flags);
    return r < 0 ? -errno : r;
}

int64_t spool_pread_nowait(int fd, void *buffer, size_t count, uint64_t offset) {
#ifdef RWF_NOWAIT
    struct iovec iov = { .iov_base = buffer, .iov_len = count };
    ssize_t r = preadv2(fd, &iov, 1, (off_t)offset, RWF_NOWAIT);
    return r < 0 ? -errno : r;
#else
    (void)fd; (void)buffer; (void)count; (void)offset;
    return -EOPNOTSUPP;
#endif
}

int spool_status_flags(int fd) {
    int r = fcntl(fd, F_GETFL);
    return r < 0 ? -errno : r;
}

int spool_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) != 0 ? -errno : 0;
}

int spool_kernel_release(char *buffer, size_t size) {
    struct utsname u;
    if (size == 0) return -EINVAL;
    if (uname(&u) != 0) return -errno;
    strncpy(buffer, u.release, size - 1);
    buffer[size - 1] = '\0';
    return 0;
}

int spool_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0) != 0 ? -errno : 0;
}

int spool_thread_id(void) {
    return (int)syscall(SYS_gettid);
}

int spool_get_thread_affinity(uint8_t *mask, size_t size) {
    long r = syscall(SYS_sched_getaffinity, 0, size, mask);
    return r < 0 ? -errno : (int)r;
}

int spool_set_thread_affinity(const uint8_t *mask, size_t size) {
    long r = syscall(SYS_sched_setaffinity, 0, size, mask);
    return r < 0 ? -errno : 0;
}

int spool_dup3_cloexec(int oldfd, int newfd) {
    return dup3(oldfd, newfd, O_CLOEXEC) < 0 ? -errno : 0;
}
