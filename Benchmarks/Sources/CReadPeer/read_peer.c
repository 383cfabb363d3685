/* The C peer of Spool's random-read benchmark: raw io_uring, no liburing. */
#define _GNU_SOURCE
#include "CReadPeer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BLOCK 4096u

static uint64_t next_random(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    *s = x;
    return x;
}

/* One 4 KiB read of a random block into buffer `slot`. */
static void prep_random_read(struct io_uring_sqe *sqe, int fd, char *buffers, unsigned slot,
                             uint64_t blocks, uint64_t *seed) {
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_READ;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)(buffers + (size_t)slot * BLOCK);
    sqe->len = BLOCK;
    sqe->off = (next_random(seed) % blocks) * BLOCK;
    sqe->user_data = slot;
}

int64_t c_random_reads(const char *path, int direct, unsigned depth, uint64_t total, uint64_t seed) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); return -e; }
    uint64_t blocks = (uint64_t)st.st_size / BLOCK;
    if (blocks == 0) { close(fd); return -EINVAL; }

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = (1U << 7) | (1U << 8) | (1U << 12) | (1U << 13); /* SUBMIT_ALL|COOP_TASKRUN|SINGLE_ISSUER|DEFER_TASKRUN */
    unsigned entries = depth < 256 ? 256 : depth;
    int ring = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (ring < 0) { int e = errno; close(fd); return -e; }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t ring_len = sq_len > cq_len ? sq_len : cq_len;
    char *base = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (base == MAP_FAILED || sqes == MAP_FAILED) { close(ring); close(fd); return -ENOMEM; }
    unsigned *sq_tail = (unsigned *)(base + p.sq_off.tail);
    unsigned sq_mask = *(unsigned *)(base + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(base + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i;
    unsigned *cq_head = (unsigned *)(base + p.cq_off.head);
    unsigned *cq_tail = (unsigned *)(base + p.cq_off.tail);
    unsigned cq_mask = *(unsigned *)(base + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(base + p.cq_off.cqes);

    char *buffers = NULL;
    if (posix_memalign((void **)&buffers, BLOCK, (size_t)depth * BLOCK) != 0) { close(ring); close(fd); return -ENOMEM; }
    memset(buffers, 0, (size_t)depth * BLOCK);

    uint64_t submitted = 0, completed = 0;
    unsigned tail = *sq_tail, to_submit = 0;
    int64_t result = 0;
    /* Fill the queue. */
    for (unsigned i = 0; i < depth && submitted < total; i++, submitted++) {
        prep_random_read(&sqes[tail & sq_mask], fd, buffers, i, blocks, &seed);
        tail++; to_submit++;
    }
    while (completed < total) {
        __atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
        int r;
        do {
            r = (int)syscall(__NR_io_uring_enter, ring, to_submit, 1, IORING_ENTER_GETEVENTS, NULL, 0);
        } while (r < 0 && errno == EINTR);
        if (r < 0) { result = -errno; goto out; }
        to_submit = 0;
        unsigned head = *cq_head;
        unsigned ctail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
        while (head != ctail) {
            struct io_uring_cqe *cqe = &cqes[head & cq_mask];
            if (cqe->res != (int)BLOCK) { result = cqe->res < 0 ? cqe->res : -EIO; goto out; }
            unsigned slot = (unsigned)cqe->user_data;
            head++;
            completed++;
            if (submitted < total) {
                prep_random_read(&sqes[tail & sq_mask], fd, buffers, slot, blocks, &seed);
                tail++; to_submit++; submitted++;
            }
        }
        __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
    }
    result = (int64_t)completed;
out:
    free(buffers);
    munmap(sqes, p.sq_entries * sizeof(struct io_uring_sqe));
    munmap(base, ring_len);
    close(ring);
    close(fd);
    return result;
}
