/*
 * cpushare: how much CPU one sample of a thread stands for.
 *
 * Samples come at the kernel's ticks, and a tick lands in code in proportion to the time the
 * thread runs there; but the CPU a thread used since its previous sample is not spread evenly
 * between its code: code that runs in bursts shorter than a tick between waits leaves its CPU
 * to whatever the next tick finds, and the gap before a tick is longer after some code than
 * after other. Crediting each sample with its whole gap read the threads4 bench's functions
 * 2.4 to 6.7 points off, while the signals themselves fell on both within about a point of
 * their true CPU shares (the kernel's signal tracepoint against markers carrying thread_time,
 * CPython 3.8, 1 ms interval).
 *
 * So a sample takes about the thread's usual CPU per sample (the mean of what arrives between
 * samples, following each new gap by a sixteenth), plus a sixty-fourth of what is owed beyond
 * it. (Paying off a sixteenth, threads4's ticks, timed against the thread's CPU clock, still
 * gave work_a 0.8 points too little of the work_a/work_b CPU on 3.8, 0.5 with a sixty-fourth;
 * what the ticks themselves counted was within 0.2.)
 * What it does not take stays owed to later samples, at most four means' worth beyond the
 * sample's own, and never more is taken than is owed: the thread's samples, with what is owed
 * at its end, add up to its CPU time exactly. Plain arithmetic: async-signal-safe.
 */
#ifndef PYI_CPUSHARE_H
#define PYI_CPUSHARE_H

#include <stdint.h>

struct pyi_cpu_share {
	uint64_t mean;  /* usual CPU per sample (ns); 0 until the first sample */
	uint64_t carry; /* owed after the last sample */
};

/* The CPU (ns) a sample takes when `owed` ns of the thread's CPU have not been credited to
 * any stack (what the last sample left, plus what arrived since, less anything credited
 * elsewhere meanwhile). Never more than owed. */
uint64_t pyi_cpu_share_take(struct pyi_cpu_share *share, uint64_t owed);

/* Nothing is owed any more (all of it was credited, or let go). */
void pyi_cpu_share_settle(struct pyi_cpu_share *share);

#endif
