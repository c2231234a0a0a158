/* prefault: see prefault.h. */
#include "agent/prefault.h"

#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE ((size_t)4096)

void pyi_prefault_init(struct pyi_prefault *p, void *base, size_t size)
{
	p->base = base;
	p->size = size;
	p->done = 0;
	p->refused = 0;
}

void pyi_prefault_upto(struct pyi_prefault *p, size_t upto)
{
	if (pyi_prefault_finished(p))
		return;
	if (upto > p->size)
		upto = p->size;
	upto = (upto + PAGE - 1) & ~(PAGE - 1);
	if (upto <= p->done)
		return;
	if (madvise(p->base + p->done, upto - p->done, MADV_POPULATE_WRITE) != 0) {
		p->refused = 1;
		return;
	}
	p->done = upto;
}

int pyi_prefault_finished(const struct pyi_prefault *p)
{
	return p->refused || p->done >= p->size;
}

void pyi_prefault_forget(struct pyi_prefault *p)
{
	p->done = 0;
	p->refused = 0;
}
