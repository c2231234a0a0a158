/*
 * ring: a preallocated multi-producer, single-consumer ring of variable-length records.
 *
 * Producers are signal handlers on any thread and the sampler thread; they reserve space
 * with a compare-and-swap, fill it, and commit. The single consumer is the writer thread.
 * Nothing ever blocks or allocates after pyi_ring_init(): a reserve that does not fit fails
 * at once and is counted (pyi_ring_dropped), never silently lost.
 *
 * Records are 8-byte aligned; a producer that was interrupted between reserve and commit
 * only delays the consumer, which stops at the first uncommitted record.
 */
#ifndef PYI_RING_H
#define PYI_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/prefault.h"

struct pyi_ring {
	unsigned char *buf;
	size_t capacity; /* a power of two */
	_Atomic uint64_t head; /* next byte producers reserve (monotonic) */
	_Atomic uint64_t tail; /* next byte the consumer reads (monotonic) */
	_Atomic uint64_t dropped;
	struct pyi_prefault pages; /* consumer only: the pages made present ahead of head */
};

/* Maps capacity bytes (rounded up to a power of two, at least 4 KiB). 0 or -errno.
 * Normal context only. */
int pyi_ring_init(struct pyi_ring *r, size_t capacity);
void pyi_ring_release(struct pyi_ring *r);

/* Largest record length a reserve can succeed with. */
size_t pyi_ring_max_record(const struct pyi_ring *r);

/* Reserves len bytes; returns where to write them, or NULL when full (counted).
 * Async-signal-safe, lock-free. */
void *pyi_ring_reserve_sigsafe(struct pyi_ring *r, uint32_t len);
/* Publishes a reserved record to the consumer. Async-signal-safe. */
void pyi_ring_commit_sigsafe(struct pyi_ring *r, void *record);

/* Asks the CPU to bring the len bytes producers reserve next into this core's cache, for
 * writing, without waiting for them: the next record written from this thread (a sample a
 * few milliseconds later) then finds its lines at hand instead of in memory. A hint only.
 * Async-signal-safe. */
void pyi_ring_warm_sigsafe(struct pyi_ring *r, uint32_t len);

/* Consumer only: the oldest committed record and its length, or NULL if none is ready. */
const void *pyi_ring_peek(struct pyi_ring *r, uint32_t *len);
/* Consumer only: releases the record returned by the last pyi_ring_peek(). */
void pyi_ring_pop(struct pyi_ring *r);

uint64_t pyi_ring_dropped(struct pyi_ring *r);

/* Consumer only: makes the pages producers write next, up to ahead bytes past head, present
 * in memory, so that a signal handler's record does not take a page fault (the kernel zero
 * fills a page on first touch: microseconds, a third of a deep sample's cost). Does nothing
 * once the whole ring has been through, or where the kernel cannot (before Linux 5.14). */
void pyi_ring_prepare(struct pyi_ring *r, size_t ahead);

/* Consumer only: after a fork, the child's pages are shared with the parent until written;
 * prepare them again. */
void pyi_ring_forget_prepared(struct pyi_ring *r);

#endif
