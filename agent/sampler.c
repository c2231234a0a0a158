/*
 * sampler: the agent's own thread. It keeps the registry of the program's threads and:
 *   - gives each one a perf task-clock event where the kernel grants one (agent/perfclock.h:
 *     its signals come at random points of the thread's CPU time, about every two ticks, and
 *     this thread draws its period again every few, just after one where it can), while it
 *     runs more than a little (choose_timer); otherwise
 *   - gives each one a CPU-time timer (timer_create on the thread's CPU clock, delivered to
 *     that thread). The kernel checks such timers at its scheduler tick on the CPU the
 *     thread runs on, so a thread is signalled only while it runs, with no wake-up of this
 *     thread and no inter-processor interrupt: on a virtual machine each of those costs tens
 *     of microseconds (docs/PERFORMANCE.md). The handler records the stack and the CPU time
 *     since its previous sample. Samples of a running thread therefore come at most once
 *     per tick (CONFIG_HZ: 250 or 1000 a second), each weighted by the CPU it covers;
 *   - looks at every thread each period: one that is off the CPU (its CPU clock holds still
 *     across two reads) cannot change its Python stack, so its stack is read from here, once
 *     per stretch off the CPU, and the time it spends off the CPU is credited to that stack
 *     by repeat records: no signal, so no EINTR, and 100 idle threads cost 100 clock reads;
 *   - adapts the period: it is the interval (within MIN_PERIOD_NS..MAX_PERIOD_NS) while
 *     threads come and go off the CPU in new stacks, and doubles, up to MAX_PERIOD_NS,
 *     while nothing changes (one busy thread, or idle threads that wake and wait again
 *     where they waited: a few wake-ups a second). A handler that finds a thread was
 *     off the CPU for long without a look brings it back down, and when such stretches add
 *     up within CAP_HOLD_NS caps it for a while at half the stretch, so that a program that
 *     blocks in stretches of a few milliseconds has each of them seen (time nobody saw off
 *     the CPU goes to the stack running after it).
 * With PYINSTR_JITTER, every thread is sampled as a contended one is (below): its timer stays
 * disarmed, and each look that finds it running signals it; looks then come at random times,
 * uniformly from half to one and a half periods apart, so samples cannot keep step with work
 * that repeats in step with the tick. Each sample then costs a wake-up of this thread and an
 * interrupt of the thread's CPU.
 * Threads are discovered by listing /proc/self/task every ~10 ms, so threads started later
 * and threads created by C code are found alike. A thread proven to have no Python thread
 * state (a native thread) keeps a slow timer, in case it gains one. Runs with every signal
 * blocked, in a descriptor table of its own (agent/fdtable.h) where the kernel allows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/fdtable.h"
#include "agent/perfclock.h"
#include "agent/proclist.h"
#include "agent/session.h"
#include "common/format.h"

/* Timer signals without a thread state before a thread counts as native: long enough to
 * cover an interpreter's start-up, when the runtime already says it is initialised but the
 * main thread's state is not yet bound. */
#define NATIVE_AFTER 100
/* A native thread's timer fires this many intervals of CPU apart. */
#define NATIVE_SLOWDOWN 1000
#define RESCAN_NS 10000000u
/* A Python thread that starts (agent/threadends.c) has the threads listed at once, but no
 * sooner than this after the last listing: a program that starts thousands of threads a
 * second has them listed a thousand times a second, not at each. */
#define STARTED_RESCAN_NS 1000000u
/* The shortest period between looks, whatever the interval: each look wakes this thread,
 * which costs tens of microseconds on a virtual machine. Looking every 100 us at four
 * threads that kept coming and going took a third of a CPU (threads4 at 100us: 8,400
 * wake-ups a second), and the program's threads, preempted by those wake-ups, waited for a
 * CPU often enough to count as contended. */
#define MIN_PERIOD_NS 1000000u
/* The longest, whatever the interval: 50 wake-ups a second cost next to nothing, and a longer
 * interval still has its waits seen, its new threads found, and the point where its
 * interpreter began finalizing placed (handler.c), within 20 ms. Signals sent from here keep
 * to the interval (signal_spacing). */
#define MAX_PERIOD_NS 20000000u
/* Before an interpreter exists, the sampler looks for one every period for this long, then
 * every MAX_PERIOD_NS: a program that starts Python late has at most that much of its start
 * unsampled, and one that never does (perf links libpython for its scripts) wakes this
 * thread only 50 times a second. */
#define AWAIT_INTERPRETER_FAST_NS 1000000000u
/* How long the period stays capped after a stretch off the CPU went unseen; and the window
 * in which unseen stretches must add up to 1/CAP_UNSEEN_SHARE_INV of it to cap it. Time off
 * the CPU that no look saw goes to the stack running after it: at that share, what it can
 * move is half a point of the profile. */
#define CAP_HOLD_NS 2000000000u
#define CAP_UNSEEN_SHARE_INV 200
/* How often running threads' run-queue waits are read, and the share of that time spent
 * waiting for a CPU that makes a thread contended (and the share that ends it). */
#define CONTENTION_CHECK_NS 50000000u
#define CONTENDED_ABOVE 0.10
#define UNCONTENDED_BELOW 0.03
/* Checks in a row below that before the timer comes back: a contended thread sometimes has a
 * CPU to itself for a window or two, and each switch to the timer and back costs accuracy
 * (runs that flipped five or six times in 2 s read a 70/30 split as 73/27). */
#define UNCONTENDED_CHECKS 4
/* A thread that used less than 1/LITTLE_CPU_INV of the time since the last round of checks
 * in CPU is not checked for contention. */
#define LITTLE_CPU_INV 50
/* A thread's signal mask is read again once it has used this much CPU since the last read,
 * or at the first round after MASK_CHECK_LATEST_NS if it used less but some. Fifty threads
 * that wake for moments every 10 ms (idle50) each had their status read every round, a
 * thousand reads a second: a fifth of the sampler's CPU. A timer's signal needs a period of
 * the thread's CPU (an interval, or an event's mean of two ticks) to come. */
#define MASK_CHECK_CPU_NS 1000000u
#define MASK_CHECK_LATEST_NS 1000000000u
/* A running thread whose handler has not run for this much CPU, or for LATE_PERIODS of its
 * timer's or event's (mean) periods if that is more, is counted as late: it blocks the signal
 * (or the timer is gone). Without the second, PYINSTR_INTERVAL=500ms gave up every running
 * thread's timer before its first signal, and the profile had no CPU at all. */
#define LATE_CPU_NS 100000000u
#define LATE_PERIODS 4
/* The shortest mean period of an event, in ticks. Each of its signals is an interrupt of its
 * own, which costs the thread 40-70 us on this project's VM where a timer's, at the tick, costs
 * next to nothing: at one a tick (250 a second) they cost deep300 1.4-2.5% of its time more
 * than the timers, at one every two ticks 0.9% (docs/PERFORMANCE.md, twelfth run). */
#define PERF_TICKS 2
/* A thread's event gets a new period once it has used PERF_REDRAW_PERIODS mean periods of
 * CPU since the last, at the first look that finds it less than 1/REDRAW_WINDOW_PARTS of a
 * mean period after a signal: drawing starts the count again, and so forgets the CPU since
 * the signal. A look finds a running thread so placed one time in eight. When no look has
 * for PERF_REDRAW_LATEST periods (they can keep step with the signals), the next one draws
 * wherever the thread is. Between draws its samples keep one step, and a step near a whole
 * number of the program's rounds puts them all at one point of the round: Debian 3.11's fib
 * read 0.2 to 3.8 points off in single 12-second runs with a draw every eight periods, 0.0
 * to 1.6 with one every two. Not at every look either: looks that came more often than
 * samples would put them all at the start of the thread's bursts of work. Each draw costs
 * the thread's CPU an interrupt (none that side-by-side runs could see). */
#define PERF_REDRAW_PERIODS 2
#define REDRAW_WINDOW_PARTS 8
#define PERF_REDRAW_LATEST 4
/* The sampler's own waits measure what a wait costs a thread in CPU: only those that lasted
 * (a deadline already past returns at once) and cost less than this (an interrupt handled on
 * the way is not the wait's). */
#define WAIT_MEASURED_ABOVE_NS 200000u
#define WAIT_COST_MAX_NS 500000u

uint64_t pyi_now_ns(clockid_t clock)
{
	struct timespec ts;
	if (clock_gettime(clock, &ts) != 0)
		return 0;
	return pyi_timespec_ns(&ts);
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

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* A time drawn uniformly from half to one and a half of `mean`: an event's period, the looks'
 * period under PYINSTR_JITTER, the spacing of its signals at a long interval. */
static uint64_t draw_around(uint64_t *state, uint64_t mean)
{
	return mean / 2 + (mean ? next_random(state) % mean : 0);
}

static uint64_t draw_period(struct pyi_session *s)
{
	return draw_around(&s->perf_rng, s->perf_mean_ns);
}

/* The least time from a signal sent to a contended thread to the next: none when the looks
 * come at the interval, which then spaces them (randomly under PYINSTR_JITTER). A longer
 * interval has looks every MAX_PERIOD_NS: its signals skip looks, those under PYINSTR_JITTER
 * by a time drawn as the looks' periods are, the others by the interval less the looks' own
 * jitter (a sixteenth). */
static uint64_t signal_spacing(struct pyi_session *s)
{
	uint64_t interval = s->cfg.interval_ns;
	if (interval <= MAX_PERIOD_NS)
		return 0;
	if (s->cfg.jitter)
		return draw_around(&s->perf_rng, interval);
	return interval - interval / 16;
}

static void drop_timer(struct pyi_session *s, struct pyi_thread_slot *slot)
{
	if (slot->perf_fd >= 0) {
		atomic_store_explicit(&s->perf_slot[slot->perf_fd], 0, memory_order_relaxed);
		close(slot->perf_fd);
		slot->perf_fd = -1;
	} else if (slot->timer_state == PYI_TIMER_FAST || slot->timer_state == PYI_TIMER_SLOW) {
		timer_delete(slot->timer);
	}
	slot->timer_state = PYI_TIMER_NONE;
}

/* Publishes the schedule of the arming about to happen (see arm_seq in session.h). Read
 * just before arming, the clock is at most a few microseconds behind the timer's start, so
 * the handler's estimate never runs ahead of the thread's clock; and the wall time, before
 * which a period had not passed, so that the handler can tell a signal of the arming
 * before, still on its way, from this one's first. */
static void note_arming(struct pyi_thread_slot *slot, uint64_t period_ns)
{
	uint32_t seq = atomic_load_explicit(&slot->arm_seq, memory_order_relaxed);
	struct timespec ts;
	atomic_store_explicit(&slot->arm_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	int known = period_ns && clock_gettime(slot->cpu_clock, &ts) == 0;
	atomic_store_explicit(&slot->arm_cpu, known ? pyi_timespec_ns(&ts) : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&slot->arm_wall, known ? pyi_now_ns(CLOCK_MONOTONIC) : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&slot->arm_period, known ? period_ns : 0, memory_order_relaxed);
	atomic_store_explicit(&slot->arm_seq, seq + 2, memory_order_release);
}

/* Arms the thread's timer (or event) to signal it every period_ns of its CPU, or disarms it
 * (0). An event's period is drawn around the mean, scaled as period_ns is to the interval. */
static int set_timer_period(struct pyi_session *s, struct pyi_thread_slot *slot,
			    uint64_t period_ns)
{
	struct itimerspec its;
	if (slot->perf_fd >= 0) {
		if (!period_ns) {
			note_arming(slot, 0);
			return pyi_perfclock_stop(slot->perf_fd);
		}
		uint64_t drawn = draw_period(s) *
				 (period_ns / s->cfg.interval_ns);
		note_arming(slot, drawn);
		return pyi_perfclock_start(slot->perf_fd, drawn);
	}
	note_arming(slot, period_ns);
	its.it_interval.tv_sec = (time_t)(period_ns / 1000000000u);
	its.it_interval.tv_nsec = (long)(period_ns % 1000000000u);
	its.it_value = its.it_interval;
	return timer_settime(slot->timer, 0, &its, NULL);
}

/* Whether the thread's event signalled less than 1/REDRAW_WINDOW_PARTS of a mean period of
 * its CPU before `cpu`, by its schedule, and its handler has taken that signal (one still to
 * come would be counted against the next arming). Under load the event counts slower than
 * the thread's clock (intervals 10-20% longer than drawn beside two CPU hogs): the schedule
 * then says a signal came that has not, and the count says no. */
static int signalled_lately(const struct pyi_session *s, const struct pyi_thread_slot *slot,
			    uint64_t cpu)
{
	uint32_t seq = atomic_load_explicit(&slot->arm_seq, memory_order_relaxed);
	uint64_t at = atomic_load_explicit(&slot->arm_cpu, memory_order_relaxed);
	uint64_t period = atomic_load_explicit(&slot->arm_period, memory_order_relaxed);
	if (!period || !at || cpu < at + period ||
	    atomic_load_explicit(&slot->counted_seq, memory_order_acquire) != seq)
		return 0;
	uint64_t passed = (cpu - at) / period;
	return atomic_load_explicit(&slot->expired, memory_order_relaxed) >= passed &&
	       cpu - at - passed * period < s->perf_mean_ns / REDRAW_WINDOW_PARTS;
}

/* A new period now and then, so that each sample's point in any round of the program's is
 * random, however the rounds and the periods compare (PERF_REDRAW_PERIODS). Drawn at any
 * look, it forgot half a period on average: events signalled 0.90 of the asked rate at 1ms
 * and 0.82 at 40ms (0.97 and 0.97 drawn so). `cpu`: the thread's clock at this look. */
static void redraw_period(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t cpu)
{
	uint64_t since = cpu - slot->perf_drawn_cpu;
	if (slot->perf_fd < 0 || slot->timer_state != PYI_TIMER_FAST || slot->contended ||
	    since < PERF_REDRAW_PERIODS * s->perf_mean_ns ||
	    (since < PERF_REDRAW_LATEST * s->perf_mean_ns && !signalled_lately(s, slot, cpu)))
		return;
	uint64_t drawn = draw_period(s);
	note_arming(slot, drawn);
	pyi_perfclock_set_period(slot->perf_fd, drawn);
	slot->perf_drawn_cpu = cpu;
}

/* The thread's task-clock event; 0, or -1 when the kernel refused it (its timer then). */
static int make_event(struct pyi_session *s, int index)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	int fd = pyi_perfclock_open(slot->tid, s->signo, draw_period(s));
	if (fd < 0)
		return -1;
	if (fd >= PYI_PERF_FDS) {
		close(fd);
		return -1;
	}
	slot->perf_fd = fd;
	slot->perf_drawn_cpu = slot->seen_cpu;
	atomic_store_explicit(&s->perf_slot[fd], (uint16_t)(index + 1), memory_order_relaxed);
	slot->timer_state = PYI_TIMER_FAST;
	if (set_timer_period(s, slot, slot->contended ? 0 : s->cfg.interval_ns) != 0)
		drop_timer(s, slot);
	return 0;
}

/* The thread's CPU-time timer (timer_create on its CPU clock), signalling it at the tick. */
static void make_cpu_timer(struct pyi_session *s, int index)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	struct sigevent ev;

	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_signo = s->signo;
	ev._sigev_un._tid = slot->tid;
	ev.sigev_value.sival_ptr = (void *)(uintptr_t)pyi_handler_timer_value(
		s, index, atomic_load_explicit(&slot->serial, memory_order_relaxed));
	if (timer_create(slot->cpu_clock, &ev, &slot->timer) != 0) {
		/* EINVAL/ESRCH: the thread has exited (the next listing lets it go); EAGAIN:
		 * out of the user's queued-signal allowance. */
		if (errno == EAGAIN || errno == ENOMEM) {
			slot->timer_state = PYI_TIMER_FAILED;
			atomic_fetch_add_explicit(&s->counters.timer_failures, 1,
						  memory_order_relaxed);
		}
		return;
	}
	slot->timer_state = PYI_TIMER_FAST;
	/* A contended thread (from before a pause) keeps its timer disarmed. */
	if (set_timer_period(s, slot, slot->contended ? 0 : s->cfg.interval_ns) != 0)
		drop_timer(s, slot);
}

/* A thread's event where events are used and granted, else its CPU-time timer. */
static void make_timer(struct pyi_session *s, int index)
{
	if (s->perf && !s->slots[index].event_declined && make_event(s, index) == 0)
		return;
	make_cpu_timer(s, index);
}

/* A thread's first timer (or event), once the handlers are in. */
static void arm_new(struct pyi_session *s, int index)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	if (slot->timer_state == PYI_TIMER_NONE && s->handlers_installed && !slot->blocks_ours)
		make_timer(s, index);
}

/* The CPU a thread used over the last round of checks, and the round's length. */
struct round_use {
	int known; /* not the thread's first round */
	uint64_t cpu, span;
};

/* Ends the thread's round at `now`: what it used since the last. */
static struct round_use take_round(struct pyi_thread_slot *slot, uint64_t now)
{
	struct round_use u = {slot->round_at && now > slot->round_at,
			      slot->seen_cpu - slot->round_cpu, now - slot->round_at};
	slot->round_cpu = slot->seen_cpu;
	slot->round_at = now;
	return u;
}

/* Whether it used less than `parts`/LITTLE_CPU_INV of the round in CPU. */
static int ran_little(const struct round_use *u, uint64_t parts)
{
	return u->known && u->cpu * LITTLE_CPU_INV < parts * u->span;
}

/*
 * Where events are used, a thread that ran less than 1/LITTLE_CPU_INV of the last round of
 * checks in CPU swaps its event for a CPU-time timer, and gets it back once it runs twice
 * that. An event costs a thread at each of its waits, where a timer costs nothing: idle50's
 * ten-millisecond naps, fifty threads' each followed by a wait for the GIL, took 1.3 ms
 * longer with events and 0.06 ms shorter with timers, against 7.1 ms more than asked bare
 * (3.11, 16 rounds). A thread that runs so little has few samples, and where the tick puts
 * them matters little.
 */
static void choose_timer(struct pyi_session *s, int index, const struct round_use *used)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	if (!s->perf || !used->known || slot->contended || slot->timer_state != PYI_TIMER_FAST)
		return;
	if (slot->perf_fd >= 0 && ran_little(used, 1)) {
		drop_timer(s, slot);
		slot->event_declined = 1;
		make_cpu_timer(s, index);
		atomic_fetch_add_explicit(&s->counters.timers_for_idle, 1, memory_order_relaxed);
	} else if (slot->perf_fd < 0 && slot->event_declined && !ran_little(used, 2)) {
		drop_timer(s, slot);
		slot->event_declined = 0;
		make_timer(s, index);
	}
}

static void release_slot(struct pyi_session *s, int index)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	/* The thread has exited, so no handler of it can hold the slot. */
	pyi_handler_flush_cpu(s, index, 1);
	drop_timer(s, slot);
	pyi_slot_buffers_free(slot);
	atomic_store_explicit(&slot->serial, 0, memory_order_relaxed);
}

/*
 * Of a thread's CPU clock `cpu` at its registration, the part it used in the session before
 * it (owed to its first sample), and where its wall time begins. The thread that started the
 * session has had its time counted from the start (or the last look that found no
 * interpreter). Any other was made since the session started, and all its time is the
 * session's, unless the first listing found it and the session did not start alone (the
 * API's pyinstr_start): its time is counted from now. Registered up to a listing late (10 ms,
 * or more on a busy machine: a 1-second loop was registered 165 ms late and read 159 ms
 * short), a thread's first time is not dropped.
 */
static uint64_t owed_at_registration(const struct pyi_session *s, pid_t tid, uint64_t cpu,
				     uint64_t now, uint64_t *wall_from)
{
	*wall_from = now;
	if (tid == s->starter_tid) {
		if (cpu < s->starter_cpu_ns || now < s->starter_mono_ns)
			return 0;
		*wall_from = s->starter_mono_ns;
		return cpu - s->starter_cpu_ns;
	}
	if (!s->listed && s->others_before)
		return 0;
	uint64_t owed = cpu < now - s->start_mono_ns ? cpu : now - s->start_mono_ns;
	*wall_from = now - owed;
	return owed;
}

/* The slot taken, or -1. */
static int register_thread(struct pyi_session *s, pid_t tid, uint64_t now)
{
	for (int i = 0; i < PYI_MAX_THREADS; i++) {
		struct pyi_thread_slot *slot = &s->slots[i];
		if (atomic_load_explicit(&slot->serial, memory_order_relaxed))
			continue;
		if (i >= s->slots_hi)
			s->slots_hi = i + 1;
		memset(slot, 0, sizeof(*slot));
		if (pyi_slot_buffers_alloc(slot, s->cfg.max_depth) != 0)
			break;
		slot->tid = tid;
		slot->perf_fd = -1;
		/* PYINSTR_JITTER: sampled by signals from here from the start. */
		slot->contended = s->cfg.jitter;
		slot->cpu_clock = thread_cpu_clock(tid);
		slot->timer_state = PYI_TIMER_NONE;
		uint64_t cpu = pyi_now_ns(slot->cpu_clock), wall_from;
		uint64_t owed = owed_at_registration(s, tid, cpu, now, &wall_from);
		slot->mark_wall = wall_from;
		slot->mark_wall_cpu = cpu - owed;
		slot->mark_cpu = cpu - owed;
		/* Owed from before the first sample: a carry, not a gap between samples (the
		 * usual gap a sample takes is learnt from those). */
		slot->cpu_share.carry = owed;
		slot->seen_cpu = cpu;
		slot->late_cpu = cpu;
		slot->late_mark = cpu - owed;
		slot->never_looked = 1;
		atomic_store_explicit(&slot->serial,
				      atomic_fetch_add_explicit(&s->next_serial, 1,
								memory_order_relaxed),
				      memory_order_relaxed);
		return i;
	}
	atomic_fetch_add_explicit(&s->counters.threads_unsampled, 1, memory_order_relaxed);
	return -1;
}

struct rescan_state {
	unsigned char seen[PYI_MAX_THREADS];
	struct pyi_session *s;
	uint64_t now;
	int found_new;
};

/* One thread of the listing: marks its slot seen, registering it if it is new. */
static void rescan_one(long number, void *ctx)
{
	struct rescan_state *st = ctx;
	struct pyi_session *s = st->s;
	pid_t tid = (pid_t)number;
	if (is_agent_thread(s, tid))
		return;
	int found = -1;
	for (int i = 0; i < s->slots_hi; i++) {
		if (atomic_load_explicit(&s->slots[i].serial, memory_order_relaxed) &&
		    s->slots[i].tid == tid) {
			found = i;
			break;
		}
	}
	if (found >= 0) {
		st->seen[found] = 1;
	} else if ((found = register_thread(s, tid, st->now)) >= 0) {
		st->seen[found] = 1;
		st->found_new = 1;
		/* Armed now, not at the next look: a thread that ends before its first sample
		 * has no stack for its time to go to. */
		arm_new(s, found);
	}
}

/* Lists the process's threads; 1 when a new one was registered. */
static int rescan(struct pyi_session *s, struct rescan_state *st, uint64_t now)
{
	/* Opened for each listing, never kept: where the thread shares the program's table (the
	 * kernel refused it one of its own), a program that closes every descriptor it did not
	 * open must not get ours back under its own files' numbers. */
	int task_fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (task_fd < 0)
		return 0;
	memset(st->seen, 0, sizeof(st->seen));
	st->s = s;
	st->now = now;
	st->found_new = 0;
	int rc = pyi_proc_numbers(task_fd, rescan_one, st);
	close(task_fd);
	if (rc < 0)
		return st->found_new; /* keep everyone: an unreadable listing says nothing of exits */
	for (int i = 0; i < s->slots_hi; i++) {
		struct pyi_thread_slot *slot = &s->slots[i];
		if (atomic_load_explicit(&slot->serial, memory_order_relaxed) && !st->seen[i])
			release_slot(s, i);
	}
	return st->found_new;
}

/*
 * Sleeps until the monotonic time `deadline`; -1 when the session stops first. Python threads
 * that start meanwhile get their slots at once (STARTED_RESCAN_NS apart at most): listed
 * only every RESCAN_NS, or less often with the looks backed off, threads of 20 ms went
 * unseen, all their time lost. Returns 1 when it listed the threads (its CPU then is not a
 * wait's), else 0.
 */
static int sleep_until_look(struct pyi_session *s, struct rescan_state *st, uint64_t deadline,
			    uint64_t *last_rescan)
{
	int pending = 0, listed = 0;
	for (;;) {
		uint64_t wake_at = deadline;
		if (pending && *last_rescan + STARTED_RESCAN_NS < deadline)
			wake_at = *last_rescan + STARTED_RESCAN_NS;
		int woken = pyi_session_sleep_until(s, wake_at, &s->stopping,
						    pending ? NULL : &s->threads_started);
		if (woken == 1)
			return -1;
		if (woken == 2) {
			atomic_store(&s->threads_started, 0);
			pending = s->listed; /* otherwise the first listing is still to come */
		}
		uint64_t now = pyi_now_ns(CLOCK_MONOTONIC);
		if (pending && now >= *last_rescan + STARTED_RESCAN_NS) {
			rescan(s, st, now);
			*last_rescan = now;
			pending = 0;
			listed = 1;
		}
		if (now >= deadline)
			return listed;
	}
}

static uint64_t late_after_ns(const struct pyi_session *s)
{
	uint64_t period = s->perf ? s->perf_mean_ns : s->cfg.interval_ns;
	return LATE_PERIODS * period > LATE_CPU_NS ? LATE_PERIODS * period : LATE_CPU_NS;
}

/* A thread on the CPU: its timer does the sampling. Counts one whose handler stopped
 * running (it blocks our signal), and slows down the timer of a native thread. */
static void note_running(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t cpu)
{
	uint64_t mark = __atomic_load_n(&slot->mark_cpu, __ATOMIC_RELAXED);
	if (mark != slot->late_mark) {
		slot->late_mark = mark;
		slot->late_cpu = cpu;
		slot->reported_late = 0;
	} else if (!slot->reported_late && slot->timer_state == PYI_TIMER_FAST &&
		   !slot->contended && cpu - slot->late_cpu > late_after_ns(s)) {
		/* Its timer goes: a thread that blocks signals and takes them with sigwait()
		 * must not be handed ours (a deleted timer's pending signal is dropped by
		 * recent kernels). It is still read whenever it is off the CPU. */
		slot->reported_late = 1;
		drop_timer(s, slot);
		slot->timer_state = PYI_TIMER_GIVEN_UP;
		atomic_fetch_add_explicit(&s->counters.signals_late, 1, memory_order_relaxed);
	}
}

/* Its last NATIVE_AFTER samples found no thread state (the main thread's is bound late). */
static int looks_native(struct pyi_session *s, struct pyi_thread_slot *slot)
{
	return atomic_load_explicit(&slot->no_tstate_streak, memory_order_relaxed) >=
		       NATIVE_AFTER &&
	       slot->tid != s->pid && pyi_loader_runtime_live_sigsafe(s->py);
}

static void adjust_native(struct pyi_session *s, struct pyi_thread_slot *slot)
{
	uint32_t streak = atomic_load_explicit(&slot->no_tstate_streak, memory_order_relaxed);
	/* A contended thread's timer stays disarmed: signals from here sample it, and a
	 * native one gets only one look's signal in NATIVE_SLOWDOWN (look_at_thread). */
	if (slot->contended)
		return;
	if (slot->timer_state == PYI_TIMER_FAST && looks_native(s, slot)) {
		if (set_timer_period(s, slot, s->cfg.interval_ns * NATIVE_SLOWDOWN) == 0)
			slot->timer_state = PYI_TIMER_SLOW;
	} else if (slot->timer_state == PYI_TIMER_SLOW && streak == 0) {
		/* a probe found a thread state after all */
		if (set_timer_period(s, slot, s->cfg.interval_ns) == 0)
			slot->timer_state = PYI_TIMER_FAST;
	}
}

/*
 * A thread that this look and the one before both found running, but that used less CPU than
 * the time between them, waited in between where no look saw it: the time off the CPU is
 * credited to the stack that runs after it, and the sampler looks more often (the loop's
 * missed_block). The handler notices the same at its samples, but an event's come only
 * every 8 ms of CPU on average (24 ms of a program computing a third of the time), and the
 * unseen waits of that span add up to one long stretch, which caps the looks' period at half
 * of it: naps.py's 4 ms naps once went unseen for 20 ms running, and its compute read
 * 2.3-4.8 points high in 5 of 80 runs at 100 us (3.11 and 3.13); with this, at most 0.7 in 32.
 */
static void note_unseen_wait(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			     uint64_t looked_cpu)
{
	if (!slot->was_running || slot->contended || !slot->running_seen_at ||
	    now <= slot->running_seen_at)
		return;
	uint64_t used = slot->seen_cpu - looked_cpu, span = now - slot->running_seen_at;
	pyi_session_note_missed(s, slot, span > used ? span - used : 0, 0, slot->running_seen_at);
}

static int send_sample_signal(struct pyi_session *s, int index)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = s->signo;
	si.si_code = SI_QUEUE;
	si.si_pid = s->pid;
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)pyi_handler_timer_value(
		s, index, atomic_load_explicit(&slot->serial, memory_order_relaxed));
	return (int)syscall(SYS_rt_tgsigqueueinfo, s->pid, slot->tid, s->signo, &si);
}

/* Reads /proc/self/task/TID/NAME into buf (NUL-terminated); the length, or -1. */
static ssize_t read_task_file(pid_t tid, const char *name, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The thread's total wait on a run queue (ns), from its schedstat. */
static int read_run_delay(pid_t tid, uint64_t *delay)
{
	char buf[128];
	unsigned long long ran, waited;
	if (read_task_file(tid, "schedstat", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%llu %llu", &ran, &waited) != 2)
		return -1;
	*delay = waited;
	return 0;
}

/* What the thread's status says of its scheduling. */
struct task_status {
	char state;                  /* R, S, D, ... */
	unsigned long long voluntary;   /* switches away from it because it waited */
	unsigned long long involuntary; /* switches away from it while it could run */
	unsigned long long blocked;     /* the signals it blocks (SigBlk) */
	uint64_t run_delay;             /* its total wait on a run queue (schedstat), ns */
	int delay_known;                /* run_delay was read */
};

static int read_task_status(pid_t tid, struct task_status *st)
{
	char buf[4096];
	if (read_task_file(tid, "status", buf, sizeof(buf)) < 0)
		return -1;
	const char *state = strstr(buf, "\nState:");
	const char *sigblk = strstr(buf, "\nSigBlk:");
	const char *vol = strstr(buf, "\nvoluntary_ctxt_switches:");
	const char *invol = strstr(buf, "\nnonvoluntary_ctxt_switches:");
	if (!state || !sigblk || !vol || !invol || sscanf(sigblk + 8, "%llx", &st->blocked) != 1 ||
	    sscanf(vol + 25, "%llu", &st->voluntary) != 1 ||
	    sscanf(invol + 28, "%llu", &st->involuntary) != 1)
		return -1;
	state += 7;
	while (*state == ' ' || *state == '\t')
		state++;
	st->state = *state;
	return 0;
}

/* The thread's status and its run-queue wait, kept with the time of the read
 * (take_missed_waits). */
static int read_slot_status(struct pyi_thread_slot *slot, struct task_status *st)
{
	if (read_task_status(slot->tid, st) != 0)
		return -1;
	st->delay_known = read_run_delay(slot->tid, &st->run_delay) == 0;
	unsigned at = slot->status_reads++ % PYI_STATUS_KEPT;
	slot->status_voluntary[at] = st->voluntary;
	slot->status_delay[at] = st->delay_known ? st->run_delay : UINT64_MAX;
	slot->status_read_at[at] = pyi_now_ns(CLOCK_MONOTONIC);
	return 0;
}

/* Of the kept reads of the thread's status, the last one made at or before `when`: its index,
 * or -1. */
static int status_read_before(const struct pyi_thread_slot *slot, uint64_t when)
{
	for (unsigned back = 1; back <= PYI_STATUS_KEPT && back <= slot->status_reads; back++) {
		unsigned at = (slot->status_reads - back) % PYI_STATUS_KEPT;
		if (slot->status_read_at[at] <= when)
			return (int)at;
	}
	return -1;
}

/* A thread's status, read at most once in a round of checks (its signal mask, contention). */
struct status_once {
	struct pyi_thread_slot *slot;
	int state; /* 0 not read yet, 1 read, -1 unreadable */
	struct task_status st;
};

static const struct task_status *status_of(struct status_once *once)
{
	if (once->state == 0)
		once->state = read_slot_status(once->slot, &once->st) == 0 ? 1 : -1;
	return once->state == 1 ? &once->st : NULL;
}

/*
 * Whether the thread was taken off a CPU while it ran (state R, and no voluntary switch since
 * the last time this was asked of it): its stack is then where it was running. A thread that
 * blocked since (a lock, the GIL) and now waits for a CPU to return from that wait is
 * runnable too, but its stack is the wait's, not where its CPU went. 1 or 0; -1 when the
 * status cannot be read.
 */
static int was_preempted(struct pyi_thread_slot *slot)
{
	struct task_status st;
	if (read_slot_status(slot, &st) != 0)
		return -1;
	int known = slot->switches_known;
	int blocked_since = st.voluntary != slot->voluntary_switches;
	slot->voluntary_switches = st.voluntary;
	slot->switches_known = 1;
	return known && !blocked_since && st.state == 'R';
}

/*
 * A thread that blocks our signal would keep a timer signal pending, and a thread that then
 * takes signals with sigwait() could be handed it. Its timer goes (recent kernels drop the
 * pending signal of a deleted timer) until it unblocks; meanwhile it is read only while off
 * the CPU. Only threads that ran since the last check can have changed their mask, and one
 * that ran only moments is checked at most every MASK_CHECK_LATEST_NS.
 */
static void check_signal_mask(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			      struct status_once *once)
{
	uint64_t used = slot->seen_cpu - slot->mask_checked_cpu;
	int due = used >= MASK_CHECK_CPU_NS ||
		  (used && now - slot->mask_checked_at >= MASK_CHECK_LATEST_NS);
	if (!due && !slot->never_looked)
		return;
	slot->mask_checked_cpu = slot->seen_cpu;
	slot->mask_checked_at = now;
	const struct task_status *st = status_of(once);
	int blocked = st ? (int)((st->blocked >> (s->signo - 1)) & 1) : -1;
	if (blocked == 1) {
		/* Only once it ran with the signal blocked across two checks: a thread being
		 * created has every signal blocked for a moment (until libc gives it its
		 * creator's mask). Its timer dropped at the first, a new thread got it back only
		 * at the next round of checks, 50 ms on: a thread of 60 ms went unsampled
		 * (test_thread_ends on 3.12: in 5 of 700 runs of its ten threads, one checked
		 * as it started). Meanwhile a signal may wait: the program's waits for signals
		 * never take it (agent/sigwait.c). */
		if (++slot->blocked_checks == 2) {
			atomic_fetch_add_explicit(&s->counters.signals_late, 1,
						  memory_order_relaxed);
			slot->blocks_ours = 1;
			if (slot->timer_state == PYI_TIMER_FAST ||
			    slot->timer_state == PYI_TIMER_SLOW)
				drop_timer(s, slot);
		}
	} else if (blocked == 0) {
		slot->blocks_ours = 0; /* the next look makes its timer again */
		slot->blocked_checks = 0;
	}
}

/*
 * Timer signals come at the kernel's scheduler tick, and so do the switches between threads
 * that share a CPU: a thread that keeps waiting for a CPU resumes at a tick and is sampled
 * only a whole number of ticks after it resumed. Code whose course depends on the clock
 * (time slices, timeouts) is then sampled at the same points of its course again and again,
 * and the shares drift far off (a 70/30 split read as 80/20 on two busy CPUs). Such a
 * thread is sampled instead by signals sent from here at jittered times, as long as it keeps
 * waiting for a CPU; its timer is disarmed meanwhile. Returns whether it is contended.
 */
static int check_contention(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			    const struct round_use *used, struct status_once *once)
{
	uint64_t delay;
	const struct task_status *st;
	/* PYINSTR_JITTER: every thread is sampled so already, and the looks keep their short
	 * period while any thread runs (look_at_thread). */
	if (s->cfg.jitter)
		return 0;
	/* An event's signals do not come at the tick: nothing to keep step with. */
	if (slot->perf_fd >= 0)
		return 0;
	/* A thread that has not run since the last check has nothing new to say: the window
	 * just grows (its run-queue wait can only have grown if it was starved outright, which
	 * the next check after it runs sees). */
	if (slot->timer_state != PYI_TIMER_FAST || slot->seen_cpu == slot->contention_checked_cpu)
		return slot->contended;
	/* One that ran only moments since the last round (an idle worker waking now and then)
	 * has too few samples for where they land to matter, and reading its files cost idle50's
	 * sampler a quarter of its CPU: its window starts again when it runs more. */
	if (!slot->contended && ran_little(used, 1)) {
		slot->delay_seen_at = 0;
		return 0;
	}
	if (!(st = status_of(once)) || !st->delay_known)
		return slot->contended;
	delay = st->run_delay;
	slot->contention_checked_cpu = slot->seen_cpu;
	if (slot->delay_seen_at && now > slot->delay_seen_at) {
		double share = (double)(delay - slot->delay_seen) / (double)(now - slot->delay_seen_at);
		/* Waiting for a CPU after being taken off one, not after waking from a wait: a
		 * thread that wakes often (threads sharing the GIL, each woken hundreds of times a
		 * second) waits for a CPU at many wake-ups, but it resumes when it is woken, not
		 * at a tick, and its samples do not line up. */
		int preempted = st->involuntary - slot->window_involuntary >=
				st->voluntary - slot->window_voluntary;
		if (!preempted)
			share = 0;
		if (!slot->contended && share > CONTENDED_ABOVE) {
			if (set_timer_period(s, slot, 0) == 0) {
				slot->contended = 1;
				slot->calm_checks = 0;
				atomic_fetch_add_explicit(&s->counters.contended, 1,
							  memory_order_relaxed);
			}
		} else if (slot->contended) {
			slot->calm_checks = share < UNCONTENDED_BELOW ? slot->calm_checks + 1 : 0;
			if (slot->calm_checks >= UNCONTENDED_CHECKS &&
			    set_timer_period(s, slot, s->cfg.interval_ns) == 0)
				slot->contended = 0;
		}
	}
	slot->delay_seen = delay;
	slot->delay_seen_at = now;
	slot->window_voluntary = st->voluntary;
	slot->window_involuntary = st->involuntary;
	return slot->contended;
}

/*
 * Whether a thread whose CPU clock held still across the look's two reads was only preempted
 * where it runs: it used at least half the time since the last look, and it is runnable. On
 * one CPU, this thread's own wake-up takes the CPU from a busy program at every look: taken
 * for a thread gone off the CPU, fib.py had its stack read from here 1,830 times in 2 s, the
 * looks kept at their shortest period, 30 ms credited as waits' waking, and 4% overhead
 * (taskset -c 1). Contended threads have their own course (was_preempted), and the state is
 * read only for threads that were that busy.
 */
static int preempted_here(struct pyi_thread_slot *slot, uint64_t cpu, uint64_t since_look)
{
	if (slot->contended || slot->never_looked || !since_look ||
	    (cpu - slot->seen_cpu) * 2 < since_look)
		return 0;
	struct task_status st;
	return read_task_status(slot->tid, &st) == 0 && st.state == 'R';
}

/*
 * One look at one thread. Returns 1 when the thread had been on the CPU since the previous
 * look and is now off it (its stack was read) in a stack other than the one it waited in
 * before, or in that one after running more than a little: threads are changing where they
 * wait, so the sampler keeps its short period. since_look: the time since the previous look
 * (0 at the first).
 */
static int look_at_thread(struct pyi_session *s, int index, int last, uint64_t since_look)
{
	struct pyi_thread_slot *slot = &s->slots[index];

	if (!last) {
		arm_new(s, index);
		adjust_native(s, slot);
	}
	if (slot->tid == atomic_load_explicit(&s->forking_tid, memory_order_relaxed))
		return 0;

	struct timespec ts, again;
	/* The runtime read before the clock and after it: bounds on where finalization began
	 * (live_cpu, dead_cpu in session.h). Loads around a system call stay in order. */
	int live_before = pyi_loader_runtime_live_sigsafe(s->py);
	if (clock_gettime(slot->cpu_clock, &ts) != 0)
		return 0; /* exited: the next listing lets the slot go */
	uint64_t cpu = pyi_timespec_ns(&ts);
	if (pyi_loader_runtime_live_sigsafe(s->py)) {
		atomic_store_explicit(&slot->live_cpu, cpu, memory_order_relaxed);
		atomic_store_explicit(&slot->dead_cpu, 0, memory_order_relaxed);
	} else if (!live_before && !atomic_load_explicit(&slot->dead_cpu, memory_order_relaxed)) {
		atomic_store_explicit(&slot->dead_cpu, cpu, memory_order_relaxed);
	}
	int ran = cpu != slot->seen_cpu || slot->never_looked;
	if (ran && clock_gettime(slot->cpu_clock, &again) != 0)
		return 0; /* exited between the reads */
	if (ran && ((again.tv_sec != ts.tv_sec || again.tv_nsec != ts.tv_nsec) ||
		    preempted_here(slot, cpu, since_look))) {
		uint64_t looked_cpu = slot->seen_cpu, now = pyi_now_ns(CLOCK_MONOTONIC);
		slot->seen_cpu = pyi_timespec_ns(&again);
		note_running(s, slot, slot->seen_cpu);
		note_unseen_wait(s, slot, now, looked_cpu);
		slot->running_seen_at = now;
		if (!last)
			redraw_period(s, slot, slot->seen_cpu);
		slot->was_running = 1;
		/* One signal at a time: a thread that blocks it must not pile them up. A native
		 * thread, like its timer, gets one look's signal in NATIVE_SLOWDOWN. */
		if (slot->contended && !last && !slot->blocks_ours && now >= slot->next_signal_at &&
		    atomic_load_explicit(&slot->handled, memory_order_acquire) == slot->sent &&
		    (!looks_native(s, slot) || slot->native_looks++ % NATIVE_SLOWDOWN == 0)) {
			if (send_sample_signal(s, index) == 0) {
				slot->next_signal_at = now + signal_spacing(s);
				slot->sent++;
				atomic_fetch_add_explicit(&s->counters.signals_sent, 1,
							  memory_order_relaxed);
			}
		}
		/* PYINSTR_JITTER: a running thread keeps the looks, its samples, coming. */
		return s->cfg.jitter;
	}
	int was_running = slot->was_running;
	uint64_t ran_cpu = cpu - slot->seen_cpu;
	slot->was_running = 0;
	slot->seen_cpu = cpu;
	slot->never_looked = 0;
	/* Off the CPU too: a thread that the sampler's wake-up preempts at every look would
	 * otherwise keep its first period all its life. */
	if (!last)
		redraw_period(s, slot, cpu);
	if (!ran && slot->nothing_at_cpu)
		return 0; /* found no thread state at this CPU time already */
	/* A contended thread taken off the CPU while it ran waits in the stack it was running:
	 * that stack gets a sample of its CPU, as a signal would have. One that blocked (a lock
	 * it waits for in a with statement, even once woken and waiting for a CPU) stopped
	 * running Python elsewhere: its CPU is left to its next signal, as for any thread
	 * (threads sharing the GIL had a fifth of their CPU put on a lock's line). */
	/* Under PYINSTR_JITTER every thread is contended; one the previous look did not find
	 * running was woken since (idle threads, many times a second each): asking whether it
	 * was preempted would read its status at each of those looks. Unless it ran for long
	 * since: on a busy machine the sampler's own wake-up can preempt a thread at every
	 * look, and no look then finds it running (a 1-second loop got no CPU at all). */
	int credit_cpu = slot->contended && ran &&
			 (!s->cfg.jitter || was_running || ran_cpu >= MIN_PERIOD_NS / 2) &&
			 was_preempted(slot) == 1;
	int rc = pyi_handler_observe_off_cpu(s, index, cpu, ran, credit_cpu);
	if (rc >= 1)
		atomic_fetch_add_explicit(&s->counters.remote_walks, 1, memory_order_relaxed);
	slot->nothing_at_cpu = rc < 0 && !atomic_load_explicit(&slot->busy, memory_order_relaxed);
	/* One that woke and waits again where it waited before, having run little since the
	 * last look, changed nothing: the span is that stack's however it splits (fifty
	 * threads napping in a loop kept the looks at their shortest period). One that ran
	 * more gets signals between looks, and a wait no look saw goes to the stack running
	 * after it: with the looks backing off, naps.py (2 ms of compute between 4 ms naps)
	 * read its naps up to 2.5 points low on 3.12. */
	struct round_use since = {since_look > 0, ran_cpu, since_look};
	return ran && (rc == 1 || (rc == 2 && !ran_little(&since, 1)));
}

/*
 * Of the stretches off the CPU that no look saw since the last loop, the longest part that a
 * thread may have spent waiting. Time it spent preempted, or with its virtual CPU stopped by
 * the host, is no wait of the program's, and looking more often would not see it either (on
 * a busy host, such stretches beside rare_waits.py's 2.5 ms naps capped the looks for 2 s:
 * 295 wake-ups a second where 52 are usual). Against a read of its status made before the
 * stretch's span began: no voluntary switch since, and it never waited; otherwise its wait
 * on a run queue since is taken off (which may take off some of after the span too: a thread
 * that waits for a CPU that much is contended, and looked at often anyway). A stretch with
 * no such read counts whole. Reads the status of each thread with one.
 */
static uint64_t take_missed_waits(struct pyi_session *s)
{
	if (!atomic_exchange_explicit(&s->missed_block, 0, memory_order_relaxed))
		return 0;
	uint64_t longest = 0;
	for (int i = 0; i < s->slots_hi; i++) {
		struct pyi_thread_slot *slot = &s->slots[i];
		uint64_t off = atomic_exchange_explicit(&slot->missed_off, 0, memory_order_relaxed);
		if (!off || !atomic_load_explicit(&slot->serial, memory_order_relaxed))
			continue;
		uint64_t from = atomic_load_explicit(&slot->missed_from, memory_order_relaxed);
		int before = status_read_before(slot, from);
		struct task_status st;
		/* copied first: the read below may take its place */
		uint64_t voluntary = before >= 0 ? slot->status_voluntary[before] : 0;
		uint64_t delay = before >= 0 ? slot->status_delay[before] : 0;
		if (before >= 0 && read_slot_status(slot, &st) == 0) {
			uint64_t queued = st.delay_known && delay != UINT64_MAX && st.run_delay > delay
						  ? st.run_delay - delay
						  : 0;
			if (st.voluntary == voluntary)
				off = 0;
			else
				off = off > queued ? off - queued : 0;
			if (off <= s->missed_block_ns) {
				atomic_fetch_add_explicit(&s->counters.preempted_unseen, 1,
							  memory_order_relaxed);
				continue;
			}
		}
		if (off > longest)
			longest = off;
	}
	return longest;
}

static void say_handler_lost(struct pyi_session *s, int private_table)
{
	char line[160];
	snprintf(line, sizeof(line),
		 "pyinstr: the program installed its own handler for signal %d; "
		 "sampling stopped, the profile so far is kept\n", s->signo);
	pyi_fdtable_say(private_table, line);
}

static void say_install_failed(int rc, int private_table)
{
	char line[200];
	snprintf(line, sizeof(line),
		 "pyinstr: cannot install the sampling signal handler (%s); the program "
		 "runs unprofiled\n", rc == -EBUSY ? "every real-time signal is in use"
						  : strerror(-rc));
	pyi_fdtable_say(private_table, line);
}

/* Folds one of the sampler's waits into the running estimate of a wait's CPU cost: an
 * average over the last thirty or so, as single waits vary twofold. */
static void note_wait_cost(struct pyi_session *s, uint64_t cpu_before, uint64_t wall_before,
			   uint64_t wall_after)
{
	uint64_t cpu_after = pyi_now_ns(CLOCK_THREAD_CPUTIME_ID);
	if (!cpu_before || !cpu_after || cpu_after < cpu_before ||
	    wall_after - wall_before < WAIT_MEASURED_ABOVE_NS)
		return;
	uint64_t cost = cpu_after - cpu_before;
	if (cost > WAIT_COST_MAX_NS)
		return;
	uint64_t was = atomic_load_explicit(&s->wait_cpu_ns, memory_order_relaxed);
	uint64_t now = was ? was - was / 32 + cost / 32 : cost;
	atomic_store_explicit(&s->wait_cpu_ns, now, memory_order_relaxed);
}

static void drop_all_timers(struct pyi_session *s)
{
	for (int i = 0; i < s->slots_hi; i++)
		drop_timer(s, &s->slots[i]);
}

/*
 * Whether threads get perf task-clock events (PYINSTR_TIMER auto or perf): only in a
 * descriptor table of this thread's own, and where the kernel grants one (tried on this
 * thread). PYINSTR_JITTER's signals come from here instead.
 */
static int choose_perf(struct pyi_session *s, int private_table)
{
	const char *why = NULL;
	char line[240];
	if (s->cfg.timer == PYI_TIMER_TICK || s->cfg.jitter)
		return 0;
	int fd = private_table ? pyi_perfclock_open((pid_t)syscall(SYS_gettid), s->signo,
						    s->perf_mean_ns)
			       : -EBADF;
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (s->cfg.timer != PYI_TIMER_PERF)
		return 0;
	why = fd == -EBADF ? "the kernel refused this thread a descriptor table of its own"
			   : strerror(-fd);
	snprintf(line, sizeof(line),
		 "pyinstr: PYINSTR_TIMER=perf: no perf task-clock event (%s); sampling at the "
		 "scheduler tick instead\n", why);
	pyi_fdtable_say(private_table, line);
	return 0;
}

void *pyi_sampler_main(void *arg)
{
	struct pyi_session *s = arg;
	static struct rescan_state st;
	uint64_t rng = (uint64_t)s->start_mono_ns | 1;
	uint64_t interval = s->cfg.interval_ns;
	uint64_t shortest = interval > MIN_PERIOD_NS ? interval : MIN_PERIOD_NS;
	uint64_t max_period = MAX_PERIOD_NS;
	if (shortest > MAX_PERIOD_NS)
		shortest = MAX_PERIOD_NS;
	uint64_t period = shortest;
	uint64_t next = pyi_now_ns(CLOCK_MONOTONIC);
	uint64_t last_rescan = 0, last_contention_check = 0, last_look = 0;
	int first = 1, any_contended = 0;

	s->agent_tids[0] = (pid_t)syscall(SYS_gettid);
	/* An event signals once an interval, but at most once every PERF_TICKS ticks (the
	 * coarse clock's resolution) on average. */
	struct timespec tick;
	uint64_t tick_ns = clock_getres(CLOCK_MONOTONIC_COARSE, &tick) == 0
				   ? pyi_timespec_ns(&tick)
				   : 4000000u;
	s->perf_mean_ns = PERF_TICKS * tick_ns > interval ? PERF_TICKS * tick_ns : interval;
	s->perf_rng = (uint64_t)s->start_mono_ns * 2654435761u | 1;
	/* The /proc files read here are opened where the program's closes cannot reach. */
	int private_table = pyi_fdtable_go_private(-1) == 0;
	/* Shorter stretches are credited to the stack that follows them, which is mostly where
	 * they were spent; a virtual CPU the host stops for a moment looks the same. */
	s->missed_block_ns = interval > 1000000u ? 2 * interval : 2000000u;
	uint64_t period_cap = max_period, cap_until = 0, miss_window_at = 0, missed_sum = 0;
	unsigned misses = 0;
	/* Faults must reach the guard: off-CPU reads walk from this thread. */
	sigset_t faults;
	sigemptyset(&faults);
	sigaddset(&faults, SIGSEGV);
	sigaddset(&faults, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
	/* The writer starts first and records its tid at once; wait for it, so that the first
	 * listing does not take the writer for a thread of the program (one later than this is
	 * let go at the listing after it has). */
	for (int i = 0; i < 100 && atomic_load(&s->agent_tids[1]) <= 0; i++) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	int tid_offset_tried = 0;
	while (!atomic_load_explicit(&s->stopping, memory_order_acquire)) {
		/* Weights use the measured spans, not the nominal period. */
		if (s->cfg.jitter) {
			/* Samples at times of their own: uniform over half to one and a half
			 * periods. */
			next += draw_around(&rng, period);
		} else {
			/* A jitter of up to +-1/16 of the period keeps looks from locking onto
			 * periodic work in the program. */
			uint64_t jitter = period / 8 ? next_random(&rng) % (period / 8) : 0;
			next += period - period / 16 + jitter;
		}
		uint64_t cpu_before = pyi_now_ns(CLOCK_THREAD_CPUTIME_ID);
		uint64_t wall_before = pyi_now_ns(CLOCK_MONOTONIC);
		int slept = first ? 1 : sleep_until_look(s, &st, next, &last_rescan);
		if (slept < 0)
			break;
		uint64_t now = pyi_now_ns(CLOCK_MONOTONIC);
		if (slept == 0)
			note_wait_cost(s, cpu_before, wall_before, now);
		/* Late by a whole period (descheduled): start again from now. */
		if (now >= next + period)
			next = now;
		if (!atomic_load_explicit(&s->interpreter_seen, memory_order_relaxed)) {
			/* A program that links libpython may never start it (perf): nothing to
			 * list or sample until it does, and no file (writer.c, file_due). */
			if (!pyi_loader_interpreter_started_sigsafe(s->py)) {
				/* The starter's time so far was not the interpreter's. */
				uint64_t cpu = pyi_now_ns(thread_cpu_clock(s->starter_tid));
				if (cpu) {
					s->starter_cpu_ns = cpu;
					s->starter_mono_ns = now;
				}
				first = 0;
				period = now - s->start_mono_ns < AWAIT_INTERPRETER_FAST_NS
						 ? (shortest < RESCAN_NS ? shortest : RESCAN_NS)
						 : MAX_PERIOD_NS;
				continue;
			}
			atomic_store(&s->interpreter_seen, 1);
		}
		/* Nowhere to write (the writer said why): sample nothing. */
		if (atomic_load(&s->open_failed))
			break;
		/* Where glibc keeps a thread's kernel id, learnt from the two agent threads once
		 * the writer has said its tid: before 3.11, the only way to find another
		 * thread's state. (On a loaded machine the writer can take over the 100 ms
		 * waited above to run: 3.10 then had 19 of 21 threads unsampled all along.) */
		if (!tid_offset_tried && atomic_load(&s->agent_tids[1]) > 0) {
			uintptr_t agent_pthreads[2] = {(uintptr_t)pthread_self(),
						       (uintptr_t)s->writer_thread};
			long agent_tids[2] = {s->agent_tids[0], s->agent_tids[1]};
			pyi_loader_learn_pthread_tid(agent_pthreads, agent_tids, 2);
			tid_offset_tried = 1;
		}
		int changing = 0;
		if (now - last_rescan >= RESCAN_NS || first) {
			changing |= rescan(s, &st, now);
			last_rescan = now;
			s->listed = 1;
		}
		first = 0;
		if (!s->handlers_installed) {
			/* Handlers go in only once the interpreter is initialised: CPython reads
			 * every signal's disposition at start-up, and signal.getsignal() must
			 * keep answering what it would without the agent. Timers come after. */
			if (!pyi_loader_runtime_live_sigsafe(s->py)) {
				/* Look again soon, not a whole long interval later: at 1s, a
				 * program of 3 s went unsampled. */
				period = shortest < RESCAN_NS ? shortest : RESCAN_NS;
				continue;
			}
			int rc = pyi_handler_install(s);
			if (rc) {
				say_install_failed(rc, private_table);
				break;
			}
			s->handlers_installed = 1;
			s->perf = choose_perf(s, private_table);
			atomic_store(&s->signo_chosen, s->signo);
		}
		if (!pyi_handler_still_ours(s)) {
			drop_all_timers(s);
			atomic_store(&s->handler_lost, 1);
			say_handler_lost(s, private_table);
			break;
		}
		pyi_handler_reassert_guard();
		if (now - last_contention_check >= CONTENTION_CHECK_NS) {
			any_contended = 0;
			for (int i = 0; i < s->slots_hi; i++) {
				if (!atomic_load_explicit(&s->slots[i].serial, memory_order_relaxed))
					continue;
				struct status_once once = {.slot = &s->slots[i]};
				struct round_use used = take_round(&s->slots[i], now);
				check_signal_mask(s, &s->slots[i], now, &once);
				choose_timer(s, i, &used);
				any_contended |= check_contention(s, &s->slots[i], now, &used,
								  &once);
			}
			last_contention_check = now;
		}
		changing |= any_contended;
		for (int i = 0; i < s->slots_hi; i++) {
			if (atomic_load_explicit(&s->slots[i].serial, memory_order_relaxed))
				changing |= look_at_thread(s, i, 0,
							   last_look ? now - last_look : 0);
		}
		last_look = now;
		uint64_t missed = take_missed_waits(s);
		if (missed) {
			changing = 1;
			/* Unseen stretches that add up within a window cap the period: a program
			 * that keeps waiting in short stretches, not a one-off (the host stopping
			 * this virtual CPU once would cost 2 s of wake-ups every millisecond), nor
			 * a busy thread that now and then waits a little over the threshold for
			 * the GIL (idle50's, once or twice a run, kept its looks at 1 ms). */
			if (!miss_window_at || now - miss_window_at >= CAP_HOLD_NS) {
				miss_window_at = now;
				misses = 0;
				missed_sum = 0;
			}
			misses++;
			missed_sum += missed;
			uint64_t cap = missed / 2 > shortest ? missed / 2 : shortest;
			if (misses >= 2 && missed_sum >= CAP_HOLD_NS / CAP_UNSEEN_SHARE_INV) {
				if (now >= cap_until || cap < period_cap)
					period_cap = cap;
				if (now >= cap_until)
					atomic_fetch_add_explicit(&s->counters.period_caps, 1,
								  memory_order_relaxed);
				cap_until = now + CAP_HOLD_NS;
			}
		}
		uint64_t longest = now < cap_until ? period_cap : max_period;
		period = changing ? shortest : (period * 2 < longest ? period * 2 : longest);
	}
	/* A last look credits threads with their time up to the end. */
	if (s->handlers_installed && !atomic_load(&s->handler_lost) &&
	    !atomic_load(&s->open_failed)) {
		for (int i = 0; i < s->slots_hi; i++) {
			if (!atomic_load_explicit(&s->slots[i].serial, memory_order_relaxed))
				continue;
			look_at_thread(s, i, 1, 0);
			pyi_handler_flush_cpu(s, i, 0);
		}
	}
	drop_all_timers(s);
	return NULL;
}
