#include "agent/waking.h"

#include <stdatomic.h>

/* Ticks in the later window needed before the count is trusted, and the count at which both
 * are halved: tens of seconds of a program that waits thousands of times a second (threads4
 * counted 62 later ticks in a 7-second run, in a window half as wide as this one). */
#define EVIDENCE_FROM 32
/* The later window starts at twice the cost and is this many costs wide. */
#define LATER_WIDTH 4
#define HALVE_AT 512

enum pyi_waking_window pyi_waking_window_of(uint64_t since_wait, uint64_t wait_cost)
{
	if (!wait_cost)
		return PYI_WAKING_ELSEWHERE;
	if (since_wait < wait_cost)
		return PYI_WAKING_EARLY;
	if (since_wait >= 2 * wait_cost && since_wait < 2 * wait_cost + LATER_WIDTH * wait_cost)
		return PYI_WAKING_LATER;
	return PYI_WAKING_ELSEWHERE;
}

void pyi_waking_count(struct pyi_waking_ticks *ticks, enum pyi_waking_window window)
{
	if (window == PYI_WAKING_EARLY) {
		atomic_fetch_add_explicit(&ticks->early, 1, memory_order_relaxed);
	} else if (window == PYI_WAKING_LATER &&
		   atomic_fetch_add_explicit(&ticks->later, 1, memory_order_relaxed) + 1 >=
			   HALVE_AT) {
		/* Two handlers may halve at once, or one count be lost in between: the ratio is
		 * what matters, and it barely moves. */
		uint32_t early = atomic_load_explicit(&ticks->early, memory_order_relaxed);
		atomic_store_explicit(&ticks->early, early / 2, memory_order_relaxed);
		atomic_store_explicit(&ticks->later, HALVE_AT / 2, memory_order_relaxed);
	}
}

uint64_t pyi_waking_credit(const struct pyi_waking_ticks *ticks, uint64_t wait_cost)
{
	uint64_t early = atomic_load_explicit(&ticks->early, memory_order_relaxed);
	uint64_t later = atomic_load_explicit(&ticks->later, memory_order_relaxed);
	if (later < EVIDENCE_FROM)
		return wait_cost;
	/* Per unit of CPU, ticks reach the waking at LATER_WIDTH * early / later of their
	 * usual rate. */
	if (LATER_WIDTH * early >= later)
		return 0;
	return wait_cost * (later - LATER_WIDTH * early) / later;
}
