/* The C peer of Spool's raw-ring NOP benchmark: the same loop on raw io_uring syscalls,
 * written the way a careful C programmer would without liburing. */
#define _GNU_SOURCE
#include "CNopPeer.h"

#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>

static inline int errno_is_eintr(void) { return errno == EINTR; }

#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

struct c_nop_ring {
    int fd;
    unsigned *sq_head, *sq_tail, sq_mask, sq_entries;
    unsigned *cq_head, *cq_tail, cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *ring_map; size_t ring_len;
    void *sqe_map; size_t sqe_len;
};

struct c_nop_ring *c_nop_ring_create(unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (fd < 0) return NULL;
    struct c_nop_ring *r = calloc(1, sizeof *r);
    r->fd = fd;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    r->ring_len = sq_len > cq_len ? sq_len : cq_len;  /* SINGLE_MMAP: every kernel this runs on */
    r->ring_map = mmap(NULL, r->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    r->sqe_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqe_map = mmap(NULL, r->sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (r->ring_map == MAP_FAILED || r->sqe_map == MAP_FAILED) { close(fd); free(r); return NULL; }
    char *base = r->ring_map;
    r->sq_head = (unsigned *)(base + p.sq_off.head);
    r->sq_tail = (unsigned *)(base + p.sq_off.tail);
    r->sq_mask = *(unsigned *)(base + p.sq_off.ring_mask);
    r->sq_entries = *(unsigned *)(base + p.sq_off.ring_entries);
    unsigned *array = (unsigned *)(base + p.sq_off.array);
    for (unsigned i = 0; i < r->sq_entries; i++) array[i] = i;
    r->cq_head = (unsigned *)(base + p.cq_off.head);
    r->cq_tail = (unsigned *)(base + p.cq_off.tail);
    r->cq_mask = *(unsigned *)(base + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(base + p.cq_off.cqes);
    r->sqes = r->sqe_map;
    return r;
}

void c_nop_ring_destroy(struct c_nop_ring *r) {
    if (!r) return;
    munmap(r->sqe_map, r->sqe_len);
    munmap(r->ring_map, r->ring_len);
    close(r->fd);
    free(r);
}

uint64_t c_nop_loop(struct c_nop_ring *r, uint64_t total, unsigned batch) {
    uint64_t done = 0, sum = 0;
    if (batch > r->sq_entries) batch = r->sq_entries;
    unsigned tail = *r->sq_tail;
    while (done < total) {
        unsigned n = (total - done) < batch ? (unsigned)(total - done) : batch;
        for (unsigned i = 0; i < n; i++) {
            struct io_uring_sqe *sqe = &r->sqes[tail & r->sq_mask];
            memset(sqe, 0, sizeof *sqe);
            sqe->opcode = IORING_OP_NOP;
            sqe->fd = -1;
            sqe->user_data = done + i;
            tail++;
        }
        __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
        int ret;
        do {
            ret = (int)syscall(__NR_io_uring_enter, r->fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0);
        } while (ret < 0 && errno_is_eintr());
        if (ret < 0) return UINT64_MAX;
        unsigned head = *r->cq_head;
        unsigned ctail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        while (head != ctail) {
            sum += r->cqes[head & r->cq_mask].user_data;
            head++;
        }
        __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
        done += n;
    }
    return sum;
}
