#ifndef CREADPEER_H
#define CREADPEER_H
#include <stdint.h>

/* Random 4 KiB reads of `path` through raw io_uring (same setup flags as Spool's rings),
 * keeping `depth` reads in flight (each completion is refilled; one io_uring_enter per
 * batch of refills). Offsets come from xorshift64 seeded with `seed`, block-aligned.
 * Returns the number of reads completed (== total), or -errno on failure. */
int64_t c_random_reads(const char *path, int direct, unsigned depth, uint64_t total, uint64_t seed);
#endif
