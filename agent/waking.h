/*
 * waking: how much CPU a wait the sampler saw is credited for entering and leaving it.
 *
 * A timer sample can only see CPU time a kernel tick lands in, and the ticks land less often
 * in the CPU a thread spends entering and leaving a blocking wait than elsewhere (two C
 * threads taking turns through a pipe: 16-17% of their CPU in read() and write(), 11-12% of
 * the ticks; docs/PERFORMANCE.md, eighth run); what they miss goes to the samples that follow.
 * So the agent counts the ticks that follow a wait it saw: those within the estimated cost of
 * a wait (CPU time since the thread was seen waiting) and those between two and six times as
 * far, where the thread runs as usual. Where the first are as dense as the second, the ticks
 * see the waking and a wait is credited nothing; where none come, the whole estimate; in
 * between, the share the ticks miss. Until enough ticks have come, the whole estimate. The
 * ticks are placed by the CPU clock the handler reads, and the handler runs about 40 us of the
 * thread's CPU after the tick that raised its signal (the tick's interrupt and the signal's
 * delivery, charged to the thread, on this project's VM), so ticks early after a wake are
 * counted later than they came: the credit errs high. Plain arithmetic: async-signal-safe.
 */
#ifndef PYI_WAKING_H
#define PYI_WAKING_H

#include <stdatomic.h>
#include <stdint.h>

/* Where a tick fell, `since_wait` ns of CPU after the thread was seen waiting, against the
 * estimated cost of a wait. */
enum pyi_waking_window {
	PYI_WAKING_ELSEWHERE = -1,
	PYI_WAKING_EARLY = 0, /* within the cost: inside the waking, if ticks reach it */
	PYI_WAKING_LATER = 1  /* two to six times the cost: running as usual */
};

enum pyi_waking_window pyi_waking_window_of(uint64_t since_wait, uint64_t wait_cost);

/* Ticks counted in each window, halved now and then so that the estimate follows the
 * program's phases. */
struct pyi_waking_ticks {
	_Atomic uint32_t early;
	_Atomic uint32_t later;
};

void pyi_waking_count(struct pyi_waking_ticks *ticks, enum pyi_waking_window window);

/* The CPU (ns) to credit a wait whose estimated cost is wait_cost, given the ticks counted. */
uint64_t pyi_waking_credit(const struct pyi_waking_ticks *ticks, uint64_t wait_cost);

#endif
