#ifndef CNOPPEER_H
#define CNOPPEER_H
#include <stdint.h>

/* A ring set up by the C peer, with the same flags Spool's Ring uses by default. */
struct c_nop_ring;

/* Creates a ring of `entries` with SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN|SUBMIT_ALL;
 * NULL on failure. Must be used on the creating thread. */
struct c_nop_ring *c_nop_ring_create(unsigned entries);
void c_nop_ring_destroy(struct c_nop_ring *ring);

/* Submits `total` NOPs in batches of `batch` (one io_uring_enter per batch, waiting for the
 * whole batch) and reaps them; returns the sum of the user_data values (so nothing is
 * optimised away), or UINT64_MAX on error. */
uint64_t c_nop_loop(struct c_nop_ring *ring, uint64_t total, unsigned batch);
#endif
