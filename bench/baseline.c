/*
 * baseline: what sampling costs on this machine before any profiler work is done.
 *
 * An LD_PRELOAD library for the bench, shaped like pyinstr's sampler but doing nothing in the
 * handler: a thread ticks every PYIBASE_INTERVAL_NS nanoseconds and, when the main thread used
 * CPU since its last signal, sends it SIGPROF, whose handler only counts. The bench compares a
 * workload under it with the bare run, giving the cost of the ticking thread's wake-ups plus
 * one signal delivery per sample (on a virtual machine, mostly the hypervisor's interrupt
 * cost). pyinstr's cost per sample minus this one is what the agent itself adds.
 * At exit it writes the number of signals sent to PYIBASE_OUT. Inert unless both are set.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_t ticker;
static atomic_int stop;
static atomic_long sent, handled;
static pid_t main_tid;
static long interval_ns;
static const char *out_path;
static int active;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *tick(void *arg)
{
	clockid_t main_cpu = *(clockid_t *)arg;
	uint64_t next = now_ns(CLOCK_MONOTONIC), last_cpu = 0;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&stop)) {
		struct timespec ts;
		uint64_t cpu;

		next += (uint64_t)interval_ns;
		ts.tv_sec = (time_t)(next / 1000000000u);
		ts.tv_nsec = (long)(next % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		cpu = now_ns(main_cpu);
		if (cpu - last_cpu < 20000)
			continue; /* idle: pyinstr would write a REPEAT without a signal */
		if (syscall(SYS_tgkill, getpid(), main_tid, SIGPROF) == 0)
			atomic_fetch_add(&sent, 1);
		last_cpu = now_ns(main_cpu);
	}
	return NULL;
}

__attribute__((constructor)) static void baseline_start(void)
{
	static clockid_t main_cpu;
	const char *iv = getenv("PYIBASE_INTERVAL_NS");
	struct sigaction sa;

	out_path = getenv("PYIBASE_OUT");
	if (!iv || !out_path || (interval_ns = atol(iv)) <= 0)
		return;
	/* Children (the workloads spawn none) must not inherit the ticking. */
	unsetenv("LD_PRELOAD");
	main_tid = (pid_t)syscall(SYS_gettid);
	if (pthread_getcpuclockid(pthread_self(), &main_cpu) != 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPROF, &sa, NULL);
	if (pthread_create(&ticker, NULL, tick, &main_cpu) == 0)
		active = 1;
}

__attribute__((destructor)) static void baseline_stop(void)
{
	FILE *f;

	if (!active)
		return;
	atomic_store(&stop, 1);
	pthread_join(ticker, NULL);
	f = fopen(out_path, "w");
	if (f) {
		fprintf(f, "%ld %ld\n", atomic_load(&sent), atomic_load(&handled));
		fclose(f);
	}
}
