/*
 * The portable backend's system calls: epoll, and the blocking file calls its worker
 * threads make. Each returns -errno on failure.
 */
#define _GNU_SOURCE
#include "CSpoolURing.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

const uint32_t SPOOL_EPOLLIN = EPOLLIN;
const uint32_t SPOOL_EPOLLOUT = EPOLLOUT;
const uint32_t SPOOL_EPOLLERR = EPOLLERR;
const uint32_t SPOOL_EPOLLHUP = EPOLLHUP;
const uint32_t SPOOL_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t SPOOL_EPOLLPRI = EPOLLPRI;
const uint32_t SPOOL_EPOLLET = EPOLLET;
const uint32_t SPOOL_EPOLLONESHOT = EPOLLONESHOT;

int spool_epoll_create(void) {
    int r = epoll_create1(EPOLL_CLOEXEC);
    return r < 0 ? -errno : r;
}

int spool_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    static const int ops[3] = { EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL };
    if (op < 0 || op > 2) return -EINVAL;
    struct epoll_event ev = { .events = events, .data = { .fd = fd } };
    return epoll_ctl(epfd, ops[op], fd, &ev) < 0 ? -errno : 0;
}

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

/* 0 unknown, 1 available, -1 refused (ENOSYS, or a seccomp policy answering EPERM). */
static _Atomic int pwait2_state = 0;

int spool_epoll_wait(int epfd, int32_t *fds, uint32_t *events, int max, int64_t timeout_ns) {
    struct epoll_event buffer[256];
    if (max > 256) max = 256;
    if (max < 1) return -EINVAL;
    int n;
    if (timeout_ns > 0 && atomic_load_explicit(&pwait2_state, memory_order_relaxed) >= 0) {
        struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
        n = (int)syscall(SYS_epoll_pwait2, epfd, buffer, max, &ts, NULL, (size_t)(_NSIG / 8));
        if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
            atomic_store_explicit(&pwait2_state, -1, memory_order_relaxed);
        } else {
            goto done;
        }
    }
    {
        int ms;
        if (timeout_ns < 0) ms = -1;
        else if (timeout_ns == 0) ms = 0;
        else {
            int64_t rounded = (timeout_ns + 999999) / 1000000;
            ms = rounded > 0x7fffffff ? 0x7fffffff : (int)rounded;
        }
        n = epoll_wait(epfd, buffer, max, ms);
    }
done:
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        fds[i] = buffer[i].data.fd;
        events[i] = buffer[i].events;
    }
    return n;
}

int64_t spool_preadv(int fd, const struct iovec *iov, int count, int64_t offset, int nowait) {
    ssize_t r = preadv2(fd, iov, count, (off_t)offset, nowait ? RWF_NOWAIT : 0);
    return r < 0 ? -errno : r;
}

int64_t spool_pwritev(int fd, const struct iovec *iov, int count, int64_t offset, int nowait) {
    ssize_t r = pwritev2(fd, iov, count, (off_t)offset, nowait ? RWF_NOWAIT : 0);
    return r < 0 ? -errno : r;
}

int spool_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    int was = (flags & O_NONBLOCK) != 0;
    if (was == (on != 0)) return was;
    if (fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)) < 0) return -errno;
    return was;
}

int spool_openat(int dirfd, const char *path, int flags, uint32_t mode) {
    int r = openat(dirfd, path, flags, (mode_t)mode);
    return r < 0 ? -errno : r;
}

int spool_fsync(int fd, int data_only) {
    return (data_only ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

int spool_fallocate(int fd, int mode, uint64_t offset, uint64_t length) {
    return fallocate(fd, mode, (off_t)offset, (off_t)length) < 0 ? -errno : 0;
}

int spool_statx(int dirfd, const char *path, int flags, uint32_t mask, void *buffer) {
    long r = syscall(SYS_statx, dirfd, path, flags, mask, buffer);
    return r < 0 ? -errno : 0;
}

int spool_unlinkat(int dirfd, const char *path, int flags) {
    return unlinkat(dirfd, path, flags) < 0 ? -errno : 0;
}

int spool_renameat(const char *from, const char *to) {
    return renameat(AT_FDCWD, from, AT_FDCWD, to) < 0 ? -errno : 0;
}

int spool_mkdirat(int dirfd, const char *path, uint32_t mode) {
    return mkdirat(dirfd, path, (mode_t)mode) < 0 ? -errno : 0;
}

int spool_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return -errno;
    return -error;
}

int spool_accept_cloexec(int fd, void *address, uint32_t *length) {
    int r = accept4(fd, (struct sockaddr *)address, (socklen_t *)length, SOCK_CLOEXEC);
    return r < 0 ? -errno : r;
}

#define SPOOL_CLOSE_EPOCH_BUCKETS 16384
static _Atomic uint32_t close_epochs[SPOOL_CLOSE_EPOCH_BUCKETS];

uint32_t spool_close_epoch(int fd) {
    return atomic_load_explicit(&close_epochs[(unsigned)fd % SPOOL_CLOSE_EPOCH_BUCKETS], memory_order_acquire);
}

void spool_close_epoch_bump(int fd) {
    atomic_fetch_add_explicit(&close_epochs[(unsigned)fd % SPOOL_CLOSE_EPOCH_BUCKETS], 1, memory_order_acq_rel);
}
