/*
 * baseline: what sampling costs on this machine before any profiler work is done.
 *
 * An LD_PRELOAD library for the bench, shaped like pyinstr's sampling mechanism but doing
 * nothing in the handler: the main thread gets a CPU-time timer (timer_create on its CPU
 * clock, delivered to it) of PYIBASE_INTERVAL_NS, whose handler only counts. The kernel
 * checks the timer at its scheduler tick while the thread runs, so this is the cost of the
 * signal deliveries alone. pyinstr's cost per sample minus this one is what the agent itself
 * adds (its walk, and its own thread's looks at threads that are off the CPU).
 * At exit it writes the signals handled and the timer expirations they stood for to
 * PYIBASE_OUT. Inert unless both variables are set.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_long handled, expirations;
static const char *out_path;
static timer_t timer;
static int active;

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
	(void)sig;
	(void)uctx;
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&expirations, 1 + info->si_overrun, memory_order_relaxed);
}

__attribute__((constructor)) static void baseline_start(void)
{
	const char *iv = getenv("PYIBASE_INTERVAL_NS");
	long interval_ns;
	struct sigaction sa;
	struct sigevent ev;

	out_path = getenv("PYIBASE_OUT");
	if (!iv || !out_path || (interval_ns = atol(iv)) <= 0)
		return;
	/* Children (the workloads spawn none) must not inherit it. */
	unsetenv("LD_PRELOAD");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMAX - 1, &sa, NULL) != 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = SIGRTMAX - 1;
	ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	/* The calling thread's CPU clock (the main thread's, here). */
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &timer) != 0)
		return;
	struct itimerspec its = {{interval_ns / 1000000000, interval_ns % 1000000000},
				 {interval_ns / 1000000000, interval_ns % 1000000000}};
	if (timer_settime(timer, 0, &its, NULL) == 0)
		active = 1;
}

__attribute__((destructor)) static void baseline_stop(void)
{
	FILE *f;

	if (!active)
		return;
	timer_delete(timer);
	f = fopen(out_path, "w");
	if (f) {
		fprintf(f, "%ld %ld\n", atomic_load(&expirations), atomic_load(&handled));
		fclose(f);
	}
}
