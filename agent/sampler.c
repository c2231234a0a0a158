/*
 * sampler: the agent's ticking thread. Each tick it looks at every registered thread:
 *   - a thread that used CPU since its last signal (more than a small threshold measured
 *     from the end of its last handler) is signalled, and its handler records its stack;
 *   - a thread that did not cannot have changed its Python stack, so a REPEAT record is
 *     pushed for it without any signal: blocked threads see no EINTR and 100 idle threads
 *     cost 100 clock reads, not 100 signals;
 *   - a thread proven to have no Python thread state (a native thread) is signalled only
 *     rarely, in case it gains one.
 * Threads are discovered by listing /proc/self/task every ~10 ms, so threads started later
 * and threads created by C code are found alike. Runs with every signal blocked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/session.h"
#include "common/format.h"

/* Signals without a thread state before a thread counts as native: long enough to cover
 * an interpreter's start-up, when the runtime already says it is initialised but the main
 * thread's state is not yet bound. */
#define NATIVE_AFTER 100
/* A native thread is re-probed this often (ticks), if it used CPU. */
#define NATIVE_PROBE_TICKS 1000
#define RESCAN_NS 10000000u

uint64_t pyi_now_ns(clockid_t clock)
{
	struct timespec ts;
	if (clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* glibc's encoding of a thread's CPU clock (pthread_getcpuclockid does the same):
 * the tid, inverted and shifted, with the per-thread scheduler-clock bits. */
static clockid_t thread_cpu_clock(pid_t tid)
{
	return (clockid_t)((~(unsigned)tid << 3) | 6);
}

static int is_agent_thread(const struct pyi_session *s, pid_t tid)
{
	return tid == s->agent_tids[0] || tid == s->agent_tids[1];
}

static void release_slot(struct pyi_thread_slot *slot)
{
	/* A handler can only run on the slot's own thread, which has exited or the send
	 * failed with ESRCH; in_flight set means it might still come, so keep the memory. */
	if (!atomic_load_explicit(&slot->in_flight, memory_order_acquire)) {
		free(slot->scratch);
		free(slot->memo);
	}
	slot->scratch = NULL;
	slot->memo = NULL;
	atomic_store_explicit(&slot->serial, 0, memory_order_relaxed);
}

static void register_thread(struct pyi_session *s, pid_t tid, uint64_t now)
{
	for (int i = 0; i < PYI_MAX_THREADS; i++) {
		struct pyi_thread_slot *slot = &s->slots[i];
		if (atomic_load_explicit(&slot->serial, memory_order_relaxed))
			continue;
		if (i >= s->slots_hi)
			s->slots_hi = i + 1;
		struct pyi_raw_frame *scratch = calloc(s->cfg.max_depth, sizeof(*scratch));
		struct pyi_memo_frame *memo = calloc(s->cfg.max_depth, sizeof(*memo));
		if (!scratch || !memo) {
			free(scratch);
			free(memo);
			break;
		}
		memset(slot, 0, sizeof(*slot));
		slot->tid = tid;
		slot->cpu_clock = thread_cpu_clock(tid);
		slot->scratch = scratch;
		slot->memo = memo;
		slot->last_record_ns = now;
		slot->last_record_cpu = pyi_now_ns(slot->cpu_clock);
		slot->signal_cpu = 0;
		atomic_store_explicit(&slot->serial,
				      atomic_fetch_add_explicit(&s->next_serial, 1,
								memory_order_relaxed),
				      memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&s->counters.threads_unsampled, 1, memory_order_relaxed);
}

struct rescan_state {
	unsigned char seen[PYI_MAX_THREADS];
};

static void rescan(struct pyi_session *s, struct rescan_state *st, uint64_t now)
{
	char buf[8192];
	long n;

	/* Opened for each listing, never kept: a program that closes every descriptor it did
	 * not open (daemons do) must not get ours back under its own files' numbers. */
	int task_fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (task_fd < 0)
		return;
	memset(st->seen, 0, sizeof(st->seen));
	while ((n = syscall(SYS_getdents64, task_fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			pid_t tid = (pid_t)atoi(d->d_name);
			if (is_agent_thread(s, tid))
				continue;
			int found = -1;
			for (int i = 0; i < s->slots_hi; i++) {
				if (atomic_load_explicit(&s->slots[i].serial, memory_order_relaxed) &&
				    s->slots[i].tid == tid) {
					found = i;
					break;
				}
			}
			if (found >= 0)
				st->seen[found] = 1;
			else
				register_thread(s, tid, now);
		}
	}
	close(task_fd);
	if (n < 0)
		return; /* keep everyone: an unreadable listing says nothing about exits */
	for (int i = 0; i < s->slots_hi; i++) {
		struct pyi_thread_slot *slot = &s->slots[i];
		if (atomic_load_explicit(&slot->serial, memory_order_relaxed) && !st->seen[i] &&
		    slot->last_record_ns < now)
			release_slot(slot);
	}
}

static void push_repeat(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			uint64_t cpu)
{
	struct pyi_ring_sample *r = pyi_ring_reserve_sigsafe(s->ring, sizeof(*r));
	if (r) {
		r->serial = atomic_load_explicit(&slot->serial, memory_order_relaxed);
		r->tid = (uint32_t)slot->tid;
		r->time_ns = now - s->start_mono_ns;
		r->wall_ns = now - slot->last_record_ns;
		r->cpu_ns = cpu - slot->last_record_cpu;
		r->flags = PYI_SAMPLE_REPEAT;
		r->depth = 0;
		r->reserved = 0;
		pyi_ring_commit_sigsafe(s->ring, r);
		atomic_fetch_add_explicit(&s->counters.repeats, 1, memory_order_relaxed);
	}
	slot->last_record_ns = now;
	slot->last_record_cpu = cpu;
}

static int send_sample_signal(struct pyi_session *s, int index, pid_t tid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = s->signo;
	si.si_code = SI_QUEUE;
	si.si_pid = s->pid;
	si.si_uid = getuid();
	si.si_value.sival_int = (int)((s->tag << 16) | (uint32_t)index);
	return (int)syscall(SYS_rt_tgsigqueueinfo, s->pid, tid, s->signo, &si);
}

static void sample_thread(struct pyi_session *s, int index, uint64_t now)
{
	struct pyi_thread_slot *slot = &s->slots[index];

	if (slot->tid == atomic_load_explicit(&s->forking_tid, memory_order_relaxed))
		return;
	/* acquire: pairs with the handler's release, so its writes to the slot are visible */
	if (atomic_load_explicit(&slot->in_flight, memory_order_acquire)) {
		/* The last signal is still pending: its wall time keeps accumulating. One that
		 * waits for long means the thread blocks our signal; count it, once. */
		if (!slot->reported_late &&
		    now - s->start_mono_ns - slot->pending_time_ns > 100000000u) {
			slot->reported_late = 1;
			atomic_fetch_add_explicit(&s->counters.signals_late, 1,
						  memory_order_relaxed);
		}
		return;
	}
	slot->reported_late = 0;
	if (atomic_exchange_explicit(&slot->recorded, 0, memory_order_relaxed))
		slot->has_stack = 1;
	if (slot->awaiting_handler) {
		/* The handler's record ended where it ran; the next one starts there. */
		uint64_t at = atomic_load_explicit(&slot->handled_at, memory_order_relaxed);
		if (at > slot->last_record_ns && at <= now)
			slot->last_record_ns = at;
		slot->awaiting_handler = 0;
	}

	struct timespec ts;
	if (clock_gettime(slot->cpu_clock, &ts) != 0)
		return; /* exited: the next rescan releases the slot */
	uint64_t cpu = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	uint64_t base = slot->signal_cpu;
	int used_cpu = slot->signal_cpu == 0 || cpu > base;

	if (!slot->native && slot->tid != s->pid &&
	    atomic_load_explicit(&slot->no_tstate_streak, memory_order_relaxed) >= NATIVE_AFTER &&
	    pyi_loader_runtime_live_sigsafe(s->py))
		slot->native = 1;
	if (slot->native) {
		if (atomic_load_explicit(&slot->no_tstate_streak, memory_order_relaxed) == 0)
			slot->native = 0; /* a probe found a thread state after all */
		else if (++slot->ticks_since_signal < NATIVE_PROBE_TICKS || !used_cpu)
			return;
	}
	if (!used_cpu) {
		if (slot->has_stack)
			push_repeat(s, slot, now, cpu);
		return;
	}
	slot->pending_time_ns = now - s->start_mono_ns;
	slot->pending_wall_ns = now - slot->last_record_ns;
	slot->pending_cpu_ns = cpu - slot->last_record_cpu;
	/* A thread on a CPU right now has a clock that moves between two reads. One that is
	 * not (blocked, or waiting for a CPU) cannot change its stack while we read it from
	 * here: no signal then, so no EINTR for C code in a system call that does not retry.
	 * The walk itself confirms the clock held still. */
	struct timespec again;
	int running = clock_gettime(slot->cpu_clock, &again) != 0 ||
		      again.tv_sec != ts.tv_sec || again.tv_nsec != ts.tv_nsec;
	if (!running && !slot->native) {
		if (pyi_handler_sample_blocked(s, index) == 0) {
			slot->last_record_ns = now;
			slot->last_record_cpu = cpu;
			slot->signal_cpu = cpu;
			atomic_fetch_add_explicit(&s->counters.remote_walks, 1,
						  memory_order_relaxed);
			return;
		}
	}
	slot->ticks_since_signal = 0;
	slot->pending_since = slot->last_record_ns;
	/* release: the pending fields are written before the handler can read them */
	atomic_store_explicit(&slot->in_flight, 1, memory_order_release);
	if (send_sample_signal(s, index, slot->tid) != 0) {
		atomic_store_explicit(&slot->in_flight, 0, memory_order_relaxed);
		if (errno != ESRCH)
			atomic_fetch_add_explicit(&s->counters.signal_failures, 1,
						  memory_order_relaxed);
		return;
	}
	slot->awaiting_handler = 1;
	slot->last_record_cpu = cpu;
	slot->signal_cpu = cpu;
	atomic_fetch_add_explicit(&s->counters.signals_sent, 1, memory_order_relaxed);
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void say_handler_lost(struct pyi_session *s)
{
	char line[160];
	int n = snprintf(line, sizeof(line),
			 "pyinstr: the program installed its own handler for signal %d; "
			 "sampling stopped, the profile so far is kept\n", s->signo);
	if (n > 0 && write(2, line, (size_t)n) < 0)
		return;
}

static void say_install_failed(int rc)
{
	char line[200];
	int n = snprintf(line, sizeof(line),
			 "pyinstr: cannot install the sampling signal handler (%s); the program "
			 "runs unprofiled\n", rc == -EBUSY ? "every real-time signal is in use"
							  : strerror(-rc));
	if (n > 0 && write(2, line, (size_t)n) < 0)
		return;
}

void *pyi_sampler_main(void *arg)
{
	struct pyi_session *s = arg;
	static struct rescan_state st;
	uint64_t rng = (uint64_t)s->start_mono_ns | 1;
	uint64_t interval = s->cfg.interval_ns;
	uint64_t next = pyi_now_ns(CLOCK_MONOTONIC);
	uint64_t last_rescan = 0;
	unsigned long tick = 0;

	s->agent_tids[0] = (pid_t)syscall(SYS_gettid);
	/* Faults must reach the guard: pyi_handler_sample_blocked walks from this thread. */
	sigset_t faults;
	sigemptyset(&faults);
	sigaddset(&faults, SIGSEGV);
	sigaddset(&faults, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
	/* The writer starts first and records its tid at once; wait for it, so that the first
	 * listing does not take the writer for a thread of the program. */
	for (int i = 0; i < 100 && atomic_load(&s->agent_tids[1]) <= 0; i++) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	while (!atomic_load_explicit(&s->stopping, memory_order_acquire)) {
		/* A jitter of up to ±1/16 of the interval keeps ticks from locking onto
		 * periodic work in the program; weights use the measured spans, not the
		 * nominal interval, so it costs no accuracy. */
		uint64_t jitter = interval / 8 ? next_random(&rng) % (interval / 8) : 0;
		next += interval - interval / 16 + jitter;
		if (pyi_session_sleep_until(s, next, &s->stopping))
			break;
		uint64_t now = pyi_now_ns(CLOCK_MONOTONIC);
		/* Late by a whole interval (the sampler was descheduled): start again from now
		 * rather than tick in a burst to catch up, which would give the stack of that
		 * moment many samples of almost no weight. */
		if (now >= next + interval)
			next = now;
		if (now - last_rescan >= RESCAN_NS || tick == 0) {
			rescan(s, &st, now);
			last_rescan = now;
		}
		if (!s->handlers_installed) {
			/* Handlers go in only once the interpreter is initialised: CPython reads
			 * every signal's disposition at start-up, and signal.getsignal() must
			 * keep answering what it would without the agent. */
			if (!pyi_loader_runtime_live_sigsafe(s->py))
				continue;
			int rc = pyi_handler_install(s);
			if (rc) {
				say_install_failed(rc);
				break;
			}
			s->handlers_installed = 1;
			atomic_store(&s->signo_chosen, s->signo);
			tick = 0;
		}
		if ((tick & 63) == 0) {
			if (!pyi_handler_still_ours(s)) {
				atomic_store(&s->handler_lost, 1);
				say_handler_lost(s);
				break;
			}
			pyi_handler_reassert_guard();
		}
		for (int i = 0; i < s->slots_hi; i++) {
			if (atomic_load_explicit(&s->slots[i].serial, memory_order_relaxed))
				sample_thread(s, i, now);
		}
		tick++;
	}
	return NULL;
}
