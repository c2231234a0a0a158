/*
 * handler: everything that runs inside the sampling signal handler, and the fault guard.
 *
 * This file is the signal-handler world. Code here may only:
 *   - call the loader's *_sigsafe functions, pyi_intern_code_sigsafe, the ring's *_sigsafe
 *     functions, the pyi_cpu_share_* arithmetic, clock_gettime, the gettid system call,
 *     sigsetjmp/siglongjmp, and (through the loader) pthread_getspecific;
 *   - read the active session (published with release before any timer exists), write its
 *     atomics, and write the calling thread's own registry slot, scratch buffer and frame
 *     memo, only while holding the slot's busy flag (pyi_handler_observe_off_cpu runs the
 *     same walk on the sampler thread for a thread that is off the CPU, and
 *     pyi_handler_flush_cpu credits a thread's last CPU time from there, or from the
 *     ending thread itself through pyi_handler_thread_ends, under the same flag); the
 *     slot's expiration count (counted_seq, expired) is written by the thread's own
 *     handler alone (the sampler reads it); the timer's schedule (arm_*) is
 *     read under its sequence number, and the looks' bounds on finalization (live_cpu,
 *     dead_cpu) as they stand;
 *   - use initial-exec TLS declared in this file, and read pyi_python_thread (threadends.c,
 *     initial-exec too; never general-dynamic TLS: __tls_get_addr may allocate).
 * It never allocates, locks, uses stdio or calls the Python API, and it saves errno.
 *
 * The fault guard: CPython 3.11/3.12 publish a frame pointer before initialising it
 * (cpython-frames.md §7.1), so a walk can dereference garbage. A walk therefore runs between
 * sigsetjmp and clearing guard_armed; our SIGSEGV/SIGBUS handler jumps back when the fault
 * happened inside a walk on this thread, and otherwise hands the fault to whoever owned the
 * signal before us (restoring their action so the faulting instruction re-executes under it).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/session.h"
#include "common/format.h"

#define TLS __attribute__((tls_model("initial-exec"))) __thread

static TLS sigjmp_buf guard_env;
static TLS volatile sig_atomic_t guard_armed;
static TLS volatile uint32_t interning_id;

/* Handlers between their first instruction and their last: stop waits for none to be
 * running before it lets go of the slots (seq_cst with the session pointer, see below). */
static _Atomic int handlers_running;

static struct sigaction previous_sample_action;
/* previous_*: the action we displaced most recently (possibly a handler the program installed
 * over ours, such as faulthandler's, before we re-asserted the guard); original_*: the action
 * before the agent ever installed one. */
static struct sigaction previous_segv_action, original_segv_action;
static struct sigaction previous_bus_action, original_bus_action;
static int guard_installed;
static volatile sig_atomic_t faults_passed_on;

/* CLOCK_MONOTONIC is served by the vDSO: no system call. */
static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return pyi_timespec_ns(&ts);
}

static pid_t own_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Pushes one sample record of the stack in slot->scratch, or in `kept` when given; returns
 * its length. */
static uint32_t record_stack(struct pyi_session *s, struct pyi_thread_slot *slot,
			     const struct pyi_ring_frame *kept, int depth, const uint32_t flags,
			     uint64_t now, uint64_t wall_ns, uint64_t cpu_ns)
{
	uint32_t len = (uint32_t)(sizeof(struct pyi_ring_sample) +
				  (size_t)depth * sizeof(struct pyi_ring_frame));
	slot->recorded = 1;
	struct pyi_ring_sample *r = pyi_ring_reserve_sigsafe(s->ring, len);
	if (!r)
		return len; /* counted by the ring */
	r->serial = atomic_load_explicit(&slot->serial, memory_order_relaxed);
	r->tid = (uint32_t)slot->tid;
	r->time_ns = now - s->start_mono_ns;
	r->wall_ns = wall_ns;
	r->cpu_ns = cpu_ns;
	r->flags = (uint16_t)flags;
	r->depth = (uint16_t)depth;
	r->reserved = 0;
	struct pyi_ring_frame *f = (struct pyi_ring_frame *)(r + 1);
	if (kept) {
		for (int i = 0; i < depth; i++)
			f[i] = kept[i];
	} else {
		for (int i = 0; i < depth; i++) {
			f[i].code_id = slot->scratch[i].id;
			f[i].instr = slot->scratch[i].instr;
		}
	}
	pyi_ring_commit_sigsafe(s->ring, r);
	atomic_fetch_add_explicit((flags & PYI_SAMPLE_REPEAT) ? &s->counters.repeats
							  : &s->counters.samples,
				  1, memory_order_relaxed);
	return len;
}

static uint32_t record_sample(struct pyi_session *s, struct pyi_thread_slot *slot, int depth,
			      const uint32_t flags, uint64_t now, uint64_t wall_ns, uint64_t cpu_ns)
{
	return record_stack(s, slot, NULL, depth, flags, now, wall_ns, cpu_ns);
}

/* More time for the thread's previous stack, without reading it again. */
static void record_repeat(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			  uint64_t wall_ns, uint64_t cpu_ns)
{
	record_sample(s, slot, 0, PYI_SAMPLE_REPEAT, now, wall_ns, cpu_ns);
}

/* Tells one stack in scratch from another: its code objects, their offsets and its flags
 * (FNV-1a over them). */
static uint64_t stack_hash(const struct pyi_thread_slot *slot, int depth, uint32_t flags)
{
	uint64_t h = 14695981039346656037u ^ ((uint64_t)flags << 32 | (uint32_t)depth);
	for (int i = 0; i < depth; i++) {
		h = (h ^ slot->scratch[i].id) * 1099511628211u;
		h = (h ^ (uint32_t)slot->scratch[i].instr) * 1099511628211u;
	}
	return h;
}

/* The time the thread spent off the CPU since the slot's wall mark (the span's length less
 * the CPU it used), moving the mark to (now, cpu). Marks only move forward: the sampler's
 * clocks may have been read before the handler last moved them. */
static uint64_t take_off_cpu(struct pyi_thread_slot *slot, uint64_t now, uint64_t cpu)
{
	uint64_t span = now > slot->mark_wall ? now - slot->mark_wall : 0;
	uint64_t ran = cpu > slot->mark_wall_cpu ? cpu - slot->mark_wall_cpu : 0;
	if (now > slot->mark_wall)
		slot->mark_wall = now;
	if (cpu > slot->mark_wall_cpu)
		slot->mark_wall_cpu = cpu;
	return span > ran ? span - ran : 0;
}

/* The thread's CPU, up to its clock `cpu`, that no sample has credited yet. */
static uint64_t cpu_unsampled(const struct pyi_thread_slot *slot, uint64_t cpu)
{
	return cpu > slot->mark_cpu ? cpu - slot->mark_cpu : 0;
}

/*
 * Of the CPU a thread used since its last sample, up to its clock `cpu`, the program's part
 * when the interpreter has begun finalizing: everything before the program's work can have
 * ended, and half of the stretch where it ended (as likely anywhere in it). The work ended
 * after the last sample and after the sampler's last look that found the runtime live
 * (live_cpu), and before its first look that found it finalizing (dead_cpu) and this clock.
 * Looks come at least every 20 ms, where samples can be 750 ms apart: half of the whole span,
 * at PYINSTR_INTERVAL=500ms, took 428 ms from a 3-second loop that ended 5 ms before the
 * signal. (The carry, what earlier samples left owed, is older than the last sample.)
 */
static uint64_t cpu_before_finalizing(const struct pyi_thread_slot *slot, uint64_t cpu)
{
	uint64_t from = slot->mark_cpu + slot->cpu_share.carry;
	uint64_t live = atomic_load_explicit(&slot->live_cpu, memory_order_relaxed);
	uint64_t dead = atomic_load_explicit(&slot->dead_cpu, memory_order_relaxed);
	uint64_t to = dead && dead < cpu ? dead : cpu;
	if (live > from)
		from = live;
	if (from > to)
		from = to;
	if (from < slot->mark_cpu)
		return 0;
	return from - slot->mark_cpu + (to - from) / 2;
}

/*
 * The CPU a thread seen off the CPU spent entering its wait and waking from it, taken from
 * the CPU it has used since its last sample (up to its clock `cpu`) and credited (wall and
 * CPU alike) to the stack it waited in. The kernel's tick falls in that time less often than
 * in the rest of the thread's CPU (agent/waking.h), so the timer would give what it misses to
 * the code that runs after the wait. The amount is the sampler's measure of its own waits
 * (`wait_cost`), less the part the ticks see: an estimate.
 */
static void credit_waking(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			  uint64_t off, uint64_t cpu, uint64_t wait_cost)
{
	uint64_t unsampled = cpu_unsampled(slot, cpu);
	uint64_t waking = pyi_waking_credit(&s->waking_ticks, wait_cost);
	if (waking > unsampled)
		waking = unsampled;
	if (off || waking)
		record_repeat(s, slot, now, off + waking, waking);
	__atomic_store_n(&slot->mark_cpu, slot->mark_cpu + waking, __ATOMIC_RELAXED);
	atomic_fetch_add_explicit(&s->counters.wake_cpu_ns, waking, memory_order_relaxed);
}

/* Whether the thread was in a system call when the signal came: it resumes just after the
 * call's instruction (or at it, to restart the call). Reads the thread's code: only under the
 * fault guard. */
static int in_system_call(const void *uctx)
{
#if defined(__x86_64__)
	const unsigned char *ip =
		(const unsigned char *)((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
	return (ip[-2] == 0x0f && ip[-1] == 0x05) || (ip[0] == 0x0f && ip[1] == 0x05);
#elif defined(__aarch64__)
	const uint32_t *pc = (const uint32_t *)((const ucontext_t *)uctx)->uc_mcontext.pc;
	return pc[-1] == 0xd4000001u || pc[0] == 0xd4000001u; /* svc #0 */
#else
	(void)uctx;
	return 0;
#endif
}

/* A tick `since_wait` ns of CPU after the thread was seen waiting: evidence of how much of a
 * waking the ticks see (agent/waking.h). */
static void count_waking_tick(struct pyi_session *s, uint64_t since_wait, uint64_t wait_cost)
{
	enum pyi_waking_window window = pyi_waking_window_of(since_wait, wait_cost);
	pyi_waking_count(&s->waking_ticks, window);
	if (window == PYI_WAKING_EARLY)
		atomic_fetch_add_explicit(&s->counters.wake_ticks_early, 1, memory_order_relaxed);
	else if (window == PYI_WAKING_LATER)
		atomic_fetch_add_explicit(&s->counters.wake_ticks_later, 1, memory_order_relaxed);
}

/* A sample's CPU (see agent/cpushare.h), moving the thread's CPU mark by as much. */
static uint64_t take_cpu_share(struct pyi_thread_slot *slot, uint64_t cpu_now)
{
	uint64_t share = pyi_cpu_share_take(&slot->cpu_share, cpu_unsampled(slot, cpu_now));
	__atomic_store_n(&slot->mark_cpu, slot->mark_cpu + share, __ATOMIC_RELAXED);
	return share;
}

/* Everything owed is settled (credited or let go): the clock is the new mark. */
static void settle_cpu(struct pyi_thread_slot *slot, uint64_t cpu)
{
	pyi_cpu_share_settle(&slot->cpu_share);
	__atomic_store_n(&slot->mark_cpu, cpu, __ATOMIC_RELAXED);
}

/*
 * A thread's samples end (the session ends, or the interpreter began finalizing): the CPU it
 * used since its last sample, up to its clock `cpu`, goes to the last stack a signal found it
 * running in (the last one read, if none was), and `off`, its time off the CPU since the wall
 * mark, to the last one read. When the interpreter has begun finalizing, only the program's
 * part of that CPU (cpu_before_finalizing) and as much of the time off the CPU; the rest is
 * finalization's, and let go. Settles the thread's CPU.
 */
static void credit_last_cpu(struct pyi_session *s, struct pyi_thread_slot *slot, uint64_t now,
			    uint64_t off, uint64_t cpu, int finalizing)
{
	uint64_t unsampled = cpu_unsampled(slot, cpu);
	uint64_t owed = finalizing ? cpu_before_finalizing(slot, cpu) : unsampled;
	/* The CPU since the last sample was spent where signals found the thread running, not
	 * in the wait it was last seen in, apart from the waking that wait was credited: the
	 * work before the wait, and whatever ran after it. (Put on the wait, it gave naps.py's
	 * nap, 1.9% of the run's 673 ms of CPU, 21 ms more: an event's periods are 8 ms long
	 * on average; and 23 ms more, 3.3 points, when an event's sample in the waking had
	 * credited the waking and the wait's stack passed for a running one.) The time off the
	 * CPU is the wait's. */
	if (owed && slot->last_read_off_cpu && slot->ran_depth > 0) {
		if (off)
			record_repeat(s, slot, now, off, 0);
		record_stack(s, slot, slot->ran_frames, slot->ran_depth, slot->ran_flags, now, owed,
			     owed);
		/* Another sample of that stack: counted as its first one was. */
		if (slot->ran_flags & PYI_SAMPLE_TRUNCATED)
			atomic_fetch_add_explicit(&s->counters.truncated, 1, memory_order_relaxed);
		for (int i = 0; i < slot->ran_depth; i++)
			if (!slot->ran_frames[i].code_id)
				atomic_fetch_add_explicit(&s->counters.unknown_frames, 1,
							  memory_order_relaxed);
		slot->has_stack = 0; /* a repeat now would mean that stack */
	} else {
		/* Off the CPU unseen, it was off in the program's part of the span as much as
		 * in the rest (in 1/4096ths: off * owed could overflow). */
		if (finalizing && !slot->last_read_off_cpu)
			off = off * (unsampled ? owed * 4096 / unsampled : 0) / 4096;
		if (owed || off)
			record_repeat(s, slot, now, owed + off, owed);
	}
	settle_cpu(slot, cpu);
}

/*
 * The thread's CPU clock at a timer signal, from the timer's schedule: the kernel signals
 * at the first tick after the clock passed an expiration and counts the ones it passed
 * since in si_overrun, so arming time plus expirations times period is the last expiration
 * passed, at most a period behind the clock and never ahead of it. Capped by the wall time
 * since the last mark (a signal of an earlier arming, still queued when the timer was
 * re-armed, could count against the new schedule). 0 when the arming is unknown.
 */
static uint64_t cpu_from_expirations(const struct pyi_thread_slot *slot, uint64_t now)
{
	uint32_t seq = atomic_load_explicit(&slot->arm_seq, memory_order_acquire);
	uint64_t at = atomic_load_explicit(&slot->arm_cpu, memory_order_relaxed);
	uint64_t period = atomic_load_explicit(&slot->arm_period, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if ((seq & 1) || !period || !at ||
	    seq != atomic_load_explicit(&slot->counted_seq, memory_order_relaxed) ||
	    seq != atomic_load_explicit(&slot->arm_seq, memory_order_relaxed))
		return 0;
	uint64_t cpu = at + atomic_load_explicit(&slot->expired, memory_order_relaxed) * period;
	uint64_t most = slot->mark_wall_cpu + (now > slot->mark_wall ? now - slot->mark_wall : 0);
	return cpu < most ? cpu : most;
}

/* The calling thread's CPU clock: a system call. */
static uint64_t own_cpu_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return pyi_timespec_ns(&ts);
}

/* Counts a timer's or event's signal against the arming it belongs to: a timer's carries
 * the expirations it passed in si_overrun; an event signals each overflow. Returns 0 for a
 * signal that cannot be the current arming's first: that needs a period of the thread's CPU
 * since the arming, so at least a period of wall time. One sooner was raised under the
 * arming before and was still on its way when the sampler armed again (it draws an event's
 * period anew at any point of one once four have passed): counted against the new
 * schedule, it would put the estimated clock (cpu_from_expirations) a period ahead of the
 * thread's, and the thread's CPU in the profile with it. */
static int count_expirations(struct pyi_thread_slot *slot, const siginfo_t *info,
			     uint64_t now)
{
	uint32_t seq = atomic_load_explicit(&slot->arm_seq, memory_order_acquire);
	uint64_t expired = 1 + (uint64_t)(info->si_code == SI_TIMER && info->si_overrun > 0
						  ? info->si_overrun
						  : 0);
	if (seq == atomic_load_explicit(&slot->counted_seq, memory_order_relaxed)) {
		atomic_store_explicit(&slot->expired,
				      atomic_load_explicit(&slot->expired, memory_order_relaxed) +
					      expired,
				      memory_order_relaxed);
		return 1;
	}
	uint64_t period = atomic_load_explicit(&slot->arm_period, memory_order_relaxed);
	uint64_t armed_at = atomic_load_explicit(&slot->arm_wall, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (!(seq & 1) && period && armed_at && now < armed_at + period &&
	    seq == atomic_load_explicit(&slot->arm_seq, memory_order_relaxed))
		return 0;
	/* The count first: a sampler that reads this arming's number then reads this arming's
	 * count, never an earlier one's. */
	atomic_store_explicit(&slot->expired, expired, memory_order_relaxed);
	atomic_store_explicit(&slot->counted_seq, seq, memory_order_release);
	return 1;
}

/* The value our timers carry in si_value: which session, which slot, which registration. */
uint64_t pyi_handler_timer_value(const struct pyi_session *s, int index, uint32_t serial)
{
	return ((uint64_t)(s->tag & 0xffff) << 48) | ((uint64_t)serial << 16) | (uint64_t)index;
}

/* walk_and_intern found no interpreter running: not yet started, or finalizing. */
#define WALK_NO_RUNTIME (-2)

/*
 * Walks this thread's stack and interns each code object, leaving code ids in
 * slot->scratch[i].id. Returns the depth, WALK_NO_RUNTIME, or -1 when the thread has no
 * Python state.
 * The walk's frame memo already knows the ids of most frames (those still running the code
 * object they ran at the previous sample); the others are interned here and remembered.
 */
static int walk_and_intern(struct pyi_session *s, struct pyi_thread_slot *slot,
			   uintptr_t ts, uint32_t *flags)
{
	const struct pyi_python *py = s->py;
	unsigned walk_flags = 0;

	if (!pyi_loader_runtime_live_sigsafe(py))
		return WALK_NO_RUNTIME;
	if (!ts) {
		ts = pyi_loader_tstate_sigsafe(py, slot->tid);
		slot->pthread = (uintptr_t)pthread_self();
		atomic_store_explicit(&slot->tstate, ts, memory_order_relaxed);
	}
	if (!ts)
		return -1;
	int depth = pyi_loader_walk_sigsafe(py, ts, slot->scratch, (int)s->cfg.max_depth,
					    &slot->frames, &walk_flags);
	for (int i = 0; (walk_flags & PYI_WALK_NEW) && i < depth; i++) {
		struct pyi_raw_frame *raw = &slot->scratch[i];
		uint32_t id = raw->id;
		if (!id && raw->code) {
			/* A recursion's frames share their code: interned once a walk. */
			if (i > 0 && raw->code == slot->scratch[i - 1].code)
				id = slot->scratch[i - 1].id;
			else
				id = pyi_intern_code_sigsafe(s->intern, py, raw->code,
							     &interning_id);
			struct pyi_frame_memo_entry *known =
				pyi_frame_memo_entry_of(&slot->frames, raw);
			if (known)
				known->id = id;
		}
		if (!id) {
			*flags |= PYI_SAMPLE_PARTIAL;
			atomic_fetch_add_explicit(&s->counters.unknown_frames, 1,
						  memory_order_relaxed);
		}
		raw->id = id;
	}
	if (walk_flags & PYI_WALK_TRUNCATED) {
		*flags |= PYI_SAMPLE_TRUNCATED;
		atomic_fetch_add_explicit(&s->counters.truncated, 1, memory_order_relaxed);
	}
	return depth;
}

/* After the fault guard jumped back: the sample is abandoned (and counted), the program goes
 * on, and a code entry whose copy the fault interrupted is marked failed. */
static void walk_faulted(struct pyi_session *s)
{
	guard_armed = 0;
	if (interning_id)
		pyi_intern_abandon_sigsafe(s->intern, interning_id);
	interning_id = 0;
	atomic_fetch_add_explicit(&s->counters.abandoned_fault, 1, memory_order_relaxed);
}

/* The slot a signal of ours is for: a slot's CPU-time timer or task-clock event, or the
 * sampler's own signal to a contended thread. NULL for any other. (Not inlined: the caller's
 * slot, live across its sigsetjmp, must have one assignment gcc can see.) */
static __attribute__((noinline)) struct pyi_thread_slot *slot_of_signal(struct pyi_session *s, const siginfo_t *info)
{
	if (info->si_code == POLL_IN && s->perf) {
		/* An event's: only its number tells which. One let go (its slot cleared first)
		 * or another thread's is not this one's. */
		if (info->si_fd < 0 || info->si_fd >= PYI_PERF_FDS)
			return NULL;
		uint32_t at =
			atomic_load_explicit(&s->perf_slot[info->si_fd], memory_order_relaxed);
		/* The thread's pthread_t, once a walk learnt it, spares a system call. */
		if (!at || s->slots[at - 1].perf_fd != info->si_fd ||
		    (s->slots[at - 1].pthread
			     ? s->slots[at - 1].pthread != (uintptr_t)pthread_self()
			     : s->slots[at - 1].tid != own_tid()))
			return NULL;
		return &s->slots[at - 1];
	}
	if (!(info->si_code == SI_TIMER || (info->si_code == SI_QUEUE && info->si_pid == s->pid)))
		return NULL;
	uint64_t value = (uint64_t)(uintptr_t)info->si_value.sival_ptr;
	uint32_t index = (uint32_t)(value & 0xffff);
	if ((value >> 48) != (s->tag & 0xffff) || index >= PYI_MAX_THREADS)
		return NULL;
	/* A signal from the timer of a slot's earlier registration (still queued when the slot
	 * was let go) is not this thread's. */
	if (atomic_load_explicit(&s->slots[index].serial, memory_order_relaxed) !=
	    (uint32_t)(value >> 16))
		return NULL;
	return &s->slots[index];
}

static void on_sample_signal(int signo, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	struct pyi_session *s;
	struct pyi_thread_slot *slot;
	/* volatile: both are live across sigsetjmp */
	volatile uint32_t flags = 0;
	volatile int depth;
	(void)signo;

	/* seq_cst, both: a stop that cleared the session and then saw no handler running
	 * cannot be followed by a handler that saw the session (pyi_handler_wait_idle). */
	atomic_fetch_add(&handlers_running, 1);
	s = atomic_load(&pyi_active_session);
	guard_armed = 0;
	if (!s || !(slot = slot_of_signal(s, info)))
		goto out; /* not ours: a stray signal the program did not ask for */
	uint64_t entered = mono_now();
	if (info->si_code == SI_TIMER || info->si_code == POLL_IN) {
		atomic_fetch_add_explicit(&s->counters.timer_signals, 1, memory_order_relaxed);
		if (!count_expirations(slot, info, entered))
			atomic_fetch_add_explicit(&s->counters.stale_signals, 1,
						  memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&slot->handled, 1, memory_order_release);
	}
	if (atomic_exchange_explicit(&slot->busy, 1, memory_order_acquire)) {
		/* The sampler is reading this thread (it was off the CPU a moment ago): the
		 * next sample covers this span too. */
		atomic_fetch_add_explicit(&s->counters.busy_skips, 1, memory_order_relaxed);
		goto out;
	}
	/* A thread the sampler saw off the CPU since its last sample needs its exact clock: the
	 * span is split between the stack it waited in and the one it runs now. (volatile:
	 * both are live across sigsetjmp) */
	volatile uint64_t estimate = (info->si_code == SI_TIMER || info->si_code == POLL_IN) &&
					  !(slot->last_blocked && slot->has_stack)
				  ? cpu_from_expirations(slot, entered)
				  : 0;
	volatile uint64_t cpu_now = estimate ? estimate : own_cpu_clock();

	if (sigsetjmp(guard_env, 0)) {
		walk_faulted(s);
		goto done;
	}
	guard_armed = 1;
	if (info->si_code == POLL_IN && slot->last_blocked && slot->has_stack &&
	    in_system_call(uctx)) {
		/* An event's sample in the system call that ended a wait the sampler saw: in
		 * the waking, which the wait's credit already covers (a timer's tick almost
		 * never lands there, and the credit is calibrated so). Counting it as well
		 * would give the wait twice its waking, so it passes: the wait gets its time
		 * and its credit, and the CPU still owed waits for the next sample. */
		guard_armed = 0;
		credit_waking(s, slot, entered, take_off_cpu(slot, entered, cpu_now), cpu_now,
			      atomic_load_explicit(&s->wait_cpu_ns, memory_order_relaxed));
		slot->last_blocked = 0;
		atomic_fetch_add_explicit(&s->counters.waking_passes, 1, memory_order_relaxed);
		goto done;
	}
	uint32_t walk_flags = 0;
	depth = walk_and_intern(s, slot, 0, &walk_flags);
	flags = walk_flags;
	guard_armed = 0;

	if (depth < 0) {
		atomic_fetch_add_explicit(&slot->no_tstate_streak, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->counters.no_tstate, 1, memory_order_relaxed);
		uint64_t off = take_off_cpu(slot, entered, cpu_now);
		if (slot->has_stack) {
			/* The first signal since the interpreter began finalizing: the span since
			 * the last sample is the program's until its end and finalization's after.
			 * Letting all of it go would drop up to a period of the program's last
			 * work. Or the first since the thread's state went, as the thread ends:
			 * the span was its last stack's, as it is when no signal comes before the
			 * end (20 ms threads lost all their time, and their first time with it, to
			 * a signal just after). */
			credit_last_cpu(s, slot, entered, off, cpu_now, depth == WALK_NO_RUNTIME);
			slot->has_stack = 0; /* what follows is not that stack's */
		}
		/* A Python thread with nothing recorded yet keeps its time owed: to its first
		 * stack, or counted as unseen as it ends (pyi_handler_thread_ends). Otherwise
		 * not Python time (a native thread, one between interpreters, or
		 * finalization): let it go. */
		if (!pyi_python_thread || slot->recorded)
			settle_cpu(slot, cpu_now);
	} else if (depth == 0 && slot->has_stack && slot->last_depth > 0 &&
		   (pyi_python_thread || (slot->tid == s->pid && s->py->program_is_python))) {
		/* A thread of the program's Python whose frames are gone: its function has
		 * returned and it is ending (its state is cleared next). The span since its last
		 * sample was its last stack's, bar the moments since the return. Put on no Python
		 * frame with the CPU still owed from earlier samples, it took 22 of a 60 ms
		 * thread's ms (test_thread_ends, 3.12, one run in 120). So too python's own main
		 * thread, between its main module's end and finalization: a 1 s loop that ended
		 * the program read 65 ms short at a 50 ms interval (test_ends). Not a program
		 * embedding Python: there the C code between its calls is its own time. */
		credit_last_cpu(s, slot, entered, take_off_cpu(slot, entered, cpu_now), cpu_now, 0);
		slot->has_stack = 0; /* what follows is not that stack's */
	} else {
		atomic_store_explicit(&slot->no_tstate_streak, 0, memory_order_relaxed);
		uint64_t waited_at_cpu = slot->mark_wall_cpu, span_from = slot->mark_wall;
		uint64_t off = take_off_cpu(slot, entered, cpu_now);
		if (slot->last_blocked && slot->has_stack) {
			/* The sampler saw the thread off the CPU in its previous stack; it stayed
			 * there until it ran again, and waking up was that stack's too. */
			uint64_t wait_cost =
				atomic_load_explicit(&s->wait_cpu_ns, memory_order_relaxed);
			if (info->si_code == SI_TIMER && cpu_now >= waited_at_cpu)
				count_waking_tick(s, cpu_now - waited_at_cpu, wait_cost);
			credit_waking(s, slot, entered, off, cpu_now, wait_cost);
			off = 0;
		}
		uint64_t cpu = take_cpu_share(slot, cpu_now);
		/* Off the CPU for long with no look from the sampler: it has slowed down too
		 * far for this program. An estimated clock can make a thread that never stopped
		 * look off the CPU for up to a period (three expirations counted in a 4 ms
		 * tick): that much is not a stretch. */
		pyi_session_note_missed(s, slot, off, estimate ? s->cfg.interval_ns : 0, span_from);
		/* Not seen off the CPU: its time off the CPU is this stack's, and so is the CPU
		 * credited, in wall time too (what stays owed comes with a later sample). */
		uint32_t len = record_sample(s, slot, depth, flags, entered, cpu + off, cpu);
		/* Into this CPU's cache: the thread's next sample is most likely as deep. (Not
		 * for the sampler's records, whose CPU is another one.) */
		pyi_ring_warm_sigsafe(s->ring, len);
		slot->has_stack = 1;
		slot->last_blocked = 0;
		slot->last_read_off_cpu = 0;
		slot->last_depth = depth;
		slot->last_flags = flags;
	}
done:
	atomic_fetch_add_explicit(&s->counters.handler_ns, mono_now() - entered,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->counters.handler_runs, 1, memory_order_relaxed);
	atomic_store_explicit(&slot->busy, 0, memory_order_release);
out:
	atomic_fetch_sub(&handlers_running, 1);
	errno = saved_errno;
}

void pyi_handler_wait_idle(void)
{
	for (int i = 0; i < 1000 && atomic_load(&handlers_running) > 0; i++) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
}

int pyi_handler_observe_off_cpu(struct pyi_session *s, int index, uint64_t seen_cpu, int ran,
				int credit_cpu)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	struct timespec before, after;
	volatile uint32_t flags = 0;
	volatile int depth;
	volatile uintptr_t ts, pthread;
	int rc = -1;

	if (atomic_exchange_explicit(&slot->busy, 1, memory_order_acquire))
		return -1;
	if (!ran && slot->has_stack && slot->last_blocked) {
		/* Still off the CPU since its stack was read: the same stack, more time. The
		 * sampler read its clock a moment ago; reading it again would be a system call
		 * per idle thread per look (50 idle threads, 50,000 a second), and a thread
		 * that started running since has run for microseconds. */
		uint64_t now = mono_now();
		uint64_t off = take_off_cpu(slot, now, seen_cpu);
		if (off)
			record_repeat(s, slot, now, off, 0);
		rc = 0;
		goto out;
	}
	if (clock_gettime(slot->cpu_clock, &before) != 0)
		goto out;
	uint64_t cpu = pyi_timespec_ns(&before);
	uint64_t now = mono_now();
	if (cpu != seen_cpu)
		goto out; /* it is running again */
	/* The stack in scratch is the last one a signal found the thread running in: kept, for
	 * the CPU still owed to its samples when the session ends (pyi_handler_flush_cpu). */
	if (slot->has_stack && !slot->last_read_off_cpu && slot->ran_frames) {
		for (int i = 0; i < slot->last_depth; i++) {
			slot->ran_frames[i].code_id = slot->scratch[i].id;
			slot->ran_frames[i].instr = slot->scratch[i].instr;
		}
		slot->ran_depth = slot->last_depth;
		slot->ran_flags = slot->last_flags;
	}
	/* The state the thread's handler last saw may have been freed since (a ctypes callback
	 * on a C thread releases its state on the way out): confirm it is still this thread's
	 * before walking, and again after; without one, look the thread up in the
	 * interpreters' lists. */
	ts = atomic_load_explicit(&slot->tstate, memory_order_relaxed);
	pthread = slot->pthread;
	if (sigsetjmp(guard_env, 0) == 0) {
		guard_armed = 1;
		if (ts && !pyi_loader_tstate_of_sigsafe(s->py, ts, pthread, slot->tid))
			ts = 0;
		if (!ts) {
			uintptr_t found_pthread = 0;
			ts = pyi_loader_find_tstate_sigsafe(s->py, slot->tid, &found_pthread);
			pthread = found_pthread;
		}
	} else {
		ts = 0;
	}
	guard_armed = 0;
	if (!ts) {
		atomic_store_explicit(&slot->tstate, 0, memory_order_relaxed);
		goto out;
	}
	slot->pthread = pthread;
	atomic_store_explicit(&slot->tstate, ts, memory_order_relaxed);
	if (sigsetjmp(guard_env, 0)) {
		walk_faulted(s);
		goto out;
	}
	guard_armed = 1;
	uint32_t walk_flags = 0;
	depth = walk_and_intern(s, slot, ts, &walk_flags);
	flags = walk_flags;
	int valid = depth >= 0 && pyi_loader_tstate_of_sigsafe(s->py, ts, pthread, slot->tid);
	guard_armed = 0;
	if (!valid || clock_gettime(slot->cpu_clock, &after) != 0 ||
	    before.tv_sec != after.tv_sec || before.tv_nsec != after.tv_nsec)
		goto out; /* it ran while we read: the frames may be torn */
	uint64_t off = take_off_cpu(slot, now, cpu), used = 0;
	/* It woke from the wait it was last seen in, ran without a timer sample, and waits
	 * again: the waking is the earlier stack's. */
	if (ran && slot->has_stack && slot->last_blocked)
		credit_waking(s, slot, now, 0, cpu,
			      atomic_load_explicit(&s->wait_cpu_ns, memory_order_relaxed));
	/* A contended thread waiting for a CPU (credit_cpu: the sampler found it runnable) waits
	 * in the stack it was running: this is a sample of its CPU, as a signal would have
	 * taken. Otherwise its CPU is left to the timer, which samples where it was spent (a
	 * computation before a sleep); what is left at the end goes to the last stack
	 * (pyi_handler_flush_cpu). Not to no stack at all: a thread with no Python frame is
	 * past its program (finalizing, its module done) or not in it yet, and its CPU since
	 * the last sample was the last stack's (a loop that ended the program, preempted on a
	 * busy machine, lost 124 of its last ms to a read in the interpreter's shutdown). */
	if (credit_cpu && depth > 0)
		used = take_cpu_share(slot, cpu);
	uint64_t hash = stack_hash(slot, depth, flags);
	if (slot->has_stack && slot->last_read_off_cpu && hash == slot->off_cpu_stack) {
		/* Back where it waited before: the same stack, more time. */
		if (off + used)
			record_repeat(s, slot, now, off + used, used);
		rc = 2;
	} else {
		record_sample(s, slot, depth, flags, now, off + used, used);
		rc = 1;
	}
	slot->off_cpu_stack = hash;
	slot->has_stack = 1;
	slot->last_blocked = 1;
	slot->last_read_off_cpu = 1;
	slot->last_depth = depth;
	slot->last_flags = flags;
out:
	atomic_store_explicit(&slot->busy, 0, memory_order_release);
	return rc;
}

enum flush_by { FLUSH_SAMPLER, FLUSH_EXITED, FLUSH_ITSELF };

/* A Python thread ended with `cpu` ns of CPU time in no sample: no listing found it, or no
 * sample had read its stack yet. */
static void count_unseen(struct pyi_session *s, uint64_t cpu)
{
	atomic_fetch_add_explicit(&s->counters.threads_unseen, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->counters.threads_unseen_cpu_ns, cpu, memory_order_relaxed);
}

static int flush_slot(struct pyi_session *s, int index, enum flush_by by)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	struct timespec ts;

	if (atomic_exchange_explicit(&slot->busy, 1, memory_order_acquire))
		return -1;
	/* An exited thread's clock is gone: its CPU as last seen stands. */
	int clock_read = by != FLUSH_EXITED && clock_gettime(slot->cpu_clock, &ts) == 0;
	uint64_t cpu = clock_read ? pyi_timespec_ns(&ts) : slot->seen_cpu;
	if (slot->has_stack && (by == FLUSH_EXITED || clock_read)) {
		uint64_t now = mono_now();
		uint64_t off = by == FLUSH_EXITED ? 0 : take_off_cpu(slot, now, cpu);
		/* The interpreter may have finalized since (no signal came in finalization). A
		 * thread ending itself ran no finalization: the main thread runs it, and this
		 * one's last Python work can end after it began, while the looks that place its
		 * start read this thread's clock (the last of twenty threads lost 4 ms so). */
		int finalizing = by != FLUSH_ITSELF &&
				 atomic_load_explicit(&slot->dead_cpu, memory_order_relaxed) != 0;
		credit_last_cpu(s, slot, now, off, cpu, finalizing);
	} else if (!slot->recorded && by == FLUSH_ITSELF && pyi_python_thread && clock_read) {
		count_unseen(s, cpu_unsampled(slot, cpu));
		settle_cpu(slot, cpu);
	}
	atomic_store_explicit(&slot->busy, 0, memory_order_release);
	return 0;
}

int pyi_handler_flush_cpu(struct pyi_session *s, int index, int exited)
{
	return flush_slot(s, index, exited ? FLUSH_EXITED : FLUSH_SAMPLER);
}

int pyi_handler_thread_ends(void)
{
	int rc = 0, found = 0;
	/* Counted as a handler: a stop waits for it before it lets go of the slots. */
	atomic_fetch_add(&handlers_running, 1);
	struct pyi_session *s = atomic_load(&pyi_active_session);
	if (s && s->pid == getpid()) {
		pid_t tid = own_tid();
		int slots_hi = __atomic_load_n(&s->slots_hi, __ATOMIC_RELAXED);
		for (int i = 0; i < slots_hi && !found; i++) {
			if (atomic_load_explicit(&s->slots[i].serial, memory_order_acquire) &&
			    s->slots[i].tid == tid) {
				found = 1;
				rc = flush_slot(s, i, FLUSH_ITSELF);
			}
		}
		if (!found && pyi_python_thread)
			count_unseen(s, own_cpu_clock());
	}
	atomic_fetch_sub(&handlers_running, 1);
	return rc;
}

static void on_fault(int signo, siginfo_t *info, void *uctx)
{
	if (guard_armed) {
		guard_armed = 0;
		siglongjmp(guard_env, 1);
	}
	/* Not ours: give the fault back to its previous owner. A real fault re-executes the
	 * instruction under the restored action; a raised one is raised again. A handler that
	 * itself re-installs us and re-raises (faulthandler does) comes back here once; the
	 * second time the action from before the agent is restored, so the chain ends. */
	struct sigaction *prev;
	if (faults_passed_on++ == 0)
		prev = signo == SIGBUS ? &previous_bus_action : &previous_segv_action;
	else
		prev = signo == SIGBUS ? &original_bus_action : &original_segv_action;
	sigaction(signo, prev, NULL);
	if (info->si_code <= 0)
		raise(signo);
	(void)uctx;
}

static int action_is(int signo, void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction cur;
	return sigaction(signo, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction == fn;
}

static int install_guard(void)
{
	struct sigaction sa;
	/* Already ours (a fork child inherits it): saving ourselves as the previous action
	 * would make a real crash loop. */
	if (guard_installed && action_is(SIGSEGV, on_fault) && action_is(SIGBUS, on_fault))
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &previous_segv_action) != 0)
		return -errno;
	if (sigaction(SIGBUS, &sa, &previous_bus_action) != 0) {
		sigaction(SIGSEGV, &previous_segv_action, NULL);
		return -errno;
	}
	original_segv_action = previous_segv_action;
	original_bus_action = previous_bus_action;
	guard_installed = 1;
	return 0;
}

static void reassert(int signo, struct sigaction *previous)
{
	struct sigaction cur, sa;
	if (sigaction(signo, NULL, &cur) != 0)
		return;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, previous);
}

void pyi_handler_reassert_guard(void)
{
	/* Once a real fault was passed on, the program is going down: leave its handlers be. */
	if (!guard_installed || faults_passed_on)
		return;
	reassert(SIGSEGV, &previous_segv_action);
	reassert(SIGBUS, &previous_bus_action);
}

/* The sampling signal: a real-time signal nobody handles. Not SIGPROF: programs and other
 * profilers use it (signal.setitimer(ITIMER_PROF) in Python), while Python programs leave
 * real-time signals alone. */
static int choose_signal(void)
{
	struct sigaction cur;
	for (int sig = SIGRTMAX - 1; sig >= SIGRTMIN + 2; sig--) {
		if (sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_handler == SIG_DFL)
			return sig;
	}
	return -1;
}

/* The signal our handler is installed for; it stays installed after a session stops (it
 * then ignores everything), because a signal still pending for a thread that blocks it
 * would otherwise meet the default action, which for SIGPROF ends the process. */
static int installed_signo;

int pyi_handler_install(struct pyi_session *s)
{
	struct sigaction sa;
	int rc;

	rc = install_guard();
	if (rc)
		return rc;
	if (installed_signo && action_is(installed_signo, on_sample_signal)) {
		s->signo = installed_signo;
		return 0;
	}
	s->signo = choose_signal();
	if (s->signo < 0) {
		pyi_handler_uninstall(s);
		return -EBUSY;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sample_signal;
	/* SA_RESTART: a system call our signal lands in is restarted where the kernel can. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	/* The program's own signals wait for the few microseconds of our handler: one whose
	 * handler leaves by siglongjmp must not abandon ours half-way (a reserved ring record
	 * never committed would stall the writer). Faults stay deliverable for the guard. */
	sigfillset(&sa.sa_mask);
	sigdelset(&sa.sa_mask, SIGSEGV);
	sigdelset(&sa.sa_mask, SIGBUS);
	sigdelset(&sa.sa_mask, SIGFPE);
	sigdelset(&sa.sa_mask, SIGILL);
	sigdelset(&sa.sa_mask, SIGTRAP);
	if (sigaction(s->signo, &sa, &previous_sample_action) != 0) {
		rc = -errno;
		pyi_handler_uninstall(s);
		return rc;
	}
	installed_signo = s->signo;
	return 0;
}

int pyi_handler_signal_held(void)
{
	int signo = installed_signo;
	return signo && action_is(signo, on_sample_signal) ? signo : 0;
}

void pyi_handler_uninstall(struct pyi_session *s)
{
	(void)s;
	if (guard_installed) {
		if (action_is(SIGSEGV, on_fault))
			sigaction(SIGSEGV, &previous_segv_action, NULL);
		if (action_is(SIGBUS, on_fault))
			sigaction(SIGBUS, &previous_bus_action, NULL);
		guard_installed = 0;
	}
}

int pyi_handler_still_ours(struct pyi_session *s)
{
	return action_is(s->signo, on_sample_signal);
}
