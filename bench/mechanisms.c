/*
 * mechanisms: what each way of interrupting a busy thread costs on this machine, before any
 * profiler work. A C busy loop runs a fixed amount of work in a child process under each
 * mechanism in turn, for several rounds; every handler is empty. Prints, per mechanism, the
 * median ratio to the bare run (wall, and CPU of the whole process) and the signals handled.
 *
 *   none      no signal
 *   ticker    a thread sleeps until each interval and sends the busy thread a signal
 *             (pyinstr's mechanism before the CPU-time timers)
 *   hrtimer   a CLOCK_MONOTONIC POSIX timer delivered to the busy thread
 *   cputimer  a POSIX timer on the busy thread's own CPU clock, delivered to it (pyinstr's)
 *   itimer    setitimer(ITIMER_PROF) (gperftools, vmprof)
 *   jticker   the ticker, sleeping uniformly half to one and a half intervals each time
 *   perfclock a perf task-clock event on the busy thread (its CPU time, on an hrtimer that
 *             runs only while it does), signalling it through F_SETSIG every interval
 *   perfrand  perfclock whose handler sets a new period, uniformly half to one and a half
 *             intervals, at each signal (PERF_EVENT_IOC_PERIOD)
 *
 *   cc -O2 -pthread bench/mechanisms.c -o mechanisms && ./mechanisms [INTERVAL_NS [ROUNDS]]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NMODES 8
static const char *const modes[NMODES] = {"none",   "ticker",  "hrtimer",   "cputimer",
					 "itimer", "jticker", "perfclock", "perfrand"};
#define SIGNO (SIGRTMAX - 1)
#define WORK 1500000000L

static atomic_long handled;
static atomic_int stop;
static long interval_ns;
static pid_t busy_tid;
static volatile double sink;
static int perf_fd = -1;
static uint64_t rng = 88172645463325252u;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Uniformly from half to one and a half intervals. */
static uint64_t random_interval(void)
{
	return (uint64_t)interval_ns / 2 + next_random() % (uint64_t)interval_ns;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
}

static void on_perf_signal(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
	uint64_t period = random_interval();
	ioctl(perf_fd, PERF_EVENT_IOC_PERIOD, &period);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *ticker(void *arg)
{
	uint64_t next = now_ns();
	int jittered = arg != NULL;
	while (!atomic_load(&stop)) {
		next += jittered ? random_interval() : (uint64_t)interval_ns;
		struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		syscall(SYS_tgkill, getpid(), busy_tid, SIGNO);
	}
	return NULL;
}

static int arm_timer(clockid_t clock)
{
	struct sigevent ev;
	timer_t timer;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = SIGNO;
	ev._sigev_un._tid = busy_tid;
	if (timer_create(clock, &ev, &timer) != 0)
		return -1;
	struct itimerspec its;
	its.it_interval.tv_sec = interval_ns / 1000000000;
	its.it_interval.tv_nsec = interval_ns % 1000000000;
	its.it_value = its.it_interval;
	return timer_settime(timer, 0, &its, NULL);
}

/* A task-clock event on the calling thread, signalling it with SIGNO every interval of its
 * CPU time (kernel time included where allowed). */
static int open_perf_clock(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.sample_period = (uint64_t)interval_ns;
	attr.wakeup_events = 1;
	attr.exclude_hv = 1;
	int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		attr.exclude_kernel = 1;
		fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	struct f_owner_ex owner = {F_OWNER_TID, busy_tid};
	if (fcntl(fd, F_SETOWN_EX, &owner) != 0 || fcntl(fd, F_SETSIG, SIGNO) != 0 ||
	    fcntl(fd, F_SETFL, O_ASYNC) != 0)
		return -1;
	return fd;
}

/* The child: sets up one mechanism, runs the work, writes "wall cpu signals" to fd. */
static void child(int mode, int fd)
{
	struct sigaction sa;
	pthread_t thread;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGNO, &sa, NULL);
	sigaction(SIGPROF, &sa, NULL);
	busy_tid = (pid_t)syscall(SYS_gettid);
	uint64_t start = now_ns();
	if (mode == 1) {
		pthread_create(&thread, NULL, ticker, NULL);
	} else if (mode == 2) {
		arm_timer(CLOCK_MONOTONIC);
	} else if (mode == 3) {
		arm_timer(CLOCK_THREAD_CPUTIME_ID);
	} else if (mode == 4) {
		struct itimerval it = {{0, interval_ns / 1000}, {0, interval_ns / 1000}};
		setitimer(ITIMER_PROF, &it, NULL);
	} else if (mode == 5) {
		pthread_create(&thread, NULL, ticker, (void *)1);
	} else if (mode == 6 || mode == 7) {
		if (mode == 7) {
			sa.sa_handler = on_perf_signal;
			sigaction(SIGNO, &sa, NULL);
		}
		if ((perf_fd = open_perf_clock()) < 0) {
			perror("mechanisms: perf_event_open");
			_exit(1);
		}
	}
	double x = 0;
	for (long i = 0; i < WORK; i++)
		x += (double)i * 1e-9 / (1.0 + (double)(i & 7));
	sink = x;
	uint64_t wall = now_ns() - start;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	dprintf(fd, "%.6f %.6f %ld\n", (double)wall * 1e-9, cpu, atomic_load(&handled));
	_exit(0);
}

static int run(int mode, double *wall, double *cpu, long *signals)
{
	int p[2];
	char buf[128] = {0};
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(mode, p[1]);
	}
	close(p[1]);
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	waitpid(pid, NULL, 0);
	return n > 0 && sscanf(buf, "%lf %lf %ld", wall, cpu, signals) == 3 ? 0 : -1;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	interval_ns = argc > 1 ? atol(argv[1]) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (interval_ns < 1000 || rounds < 1 || rounds > 100) {
		fprintf(stderr, "usage: mechanisms [INTERVAL_NS (>= 1000) [ROUNDS (1-100)]]\n");
		return 1;
	}
	double wall[NMODES][100], cpu[NMODES][100];
	long signals[NMODES][100];
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NMODES; k++) {
			int mode = (k + r) % NMODES; /* rotate the order from round to round */
			if (run(mode, &wall[mode][r], &cpu[mode][r], &signals[mode][r]) != 0) {
				fprintf(stderr, "mechanisms: run of %s failed\n", modes[mode]);
				return 1;
			}
		}
	}
	printf("interval %ld ns, %d rounds; ratios to the bare run of the same round, median\n",
	       interval_ns, rounds);
	printf("%-9s %8s %8s %10s\n", "mechanism", "wall x", "cpu x", "signals/s");
	for (int m = 0; m < NMODES; m++) {
		double wr[100], cr[100], rate[100];
		for (int r = 0; r < rounds; r++) {
			wr[r] = wall[m][r] / wall[0][r];
			cr[r] = cpu[m][r] / cpu[0][r];
			rate[r] = (double)signals[m][r] / wall[m][r];
		}
		printf("%-9s %8.3f %8.3f %10.0f\n", modes[m], median(wr, rounds), median(cr, rounds),
		       median(rate, rounds));
	}
	return 0;
}
