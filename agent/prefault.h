/*
 * prefault: makes the pages of a private anonymous mapping present ahead of producers that
 * must not take page faults (signal handlers: on this project's VM a first touch costs a few
 * microseconds, a deep sample's whole budget), from a thread that may.
 *
 * It never changes what the pages hold (MADV_POPULATE_WRITE, Linux 5.14), so it runs beside
 * the producers. A hint: where the kernel refuses, it stops trying and the producers fault
 * as they would have. One thread calls it for a given mapping.
 */
#ifndef PYI_PREFAULT_H
#define PYI_PREFAULT_H

#include <stddef.h>

struct pyi_prefault {
	char *base;
	size_t size;
	size_t done;  /* bytes from base known to be present */
	int refused;  /* the kernel cannot (before Linux 5.14) */
};

void pyi_prefault_init(struct pyi_prefault *p, void *base, size_t size);

/* Makes the bytes [0, upto) from base present, rounded up to a page, capped at the size. */
void pyi_prefault_upto(struct pyi_prefault *p, size_t upto);

/* Nothing more to do: all present, or the kernel refused. */
int pyi_prefault_finished(const struct pyi_prefault *p);

/* After a fork the child's pages are shared with the parent until written: start again. */
void pyi_prefault_forget(struct pyi_prefault *p);

#endif
