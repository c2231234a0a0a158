/*
 * perfclock: a perf task-clock event per thread, in place of a CPU-time timer.
 *
 * A POSIX CPU-time timer is checked at the scheduler tick, so its signals come at ticks, and
 * work whose rounds keep step with the tick is sampled at the same points of its round again
 * and again (docs/PERFORMANCE.md: Debian's 3.11 fib, 4 points off). A task-clock event
 * counts the thread's CPU time on a high-resolution timer that runs while the thread does,
 * and its overflow signals the thread at whatever CPU time the period says; the sampler
 * draws a new period now and then, so samples land at random points of any round.
 *
 * The event's descriptor must live where the program's closes cannot reach it (the caller's
 * own descriptor table): the program never sees it, and no number of the program's is ever
 * taken for it. The signal comes with si_code POLL_IN and si_fd the descriptor's number.
 * Normal context only.
 */
#ifndef PYI_PERFCLOCK_H
#define PYI_PERFCLOCK_H

#include <stdint.h>
#include <sys/types.h>

/* Opens a disabled task-clock event on thread tid whose overflows, every period_ns of its CPU
 * time, send it signal signo. The descriptor, or -errno (EACCES/EPERM: perf_event_paranoid
 * or a seccomp filter refuses it; ENOENT/ENOSYS: no perf events in this kernel). */
int pyi_perfclock_open(pid_t tid, int signo, uint64_t period_ns);

/* Sets the period (from the next overflow's count on), and enables the event; 0 or -1. */
int pyi_perfclock_start(int fd, uint64_t period_ns);
/* Sets the period of an enabled event without enabling a disabled one; 0 or -1. */
int pyi_perfclock_set_period(int fd, uint64_t period_ns);
/* Disables the event: no more signals until it is started again; 0 or -1. */
int pyi_perfclock_stop(int fd);

#endif
