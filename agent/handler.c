/*
 * handler: everything that runs inside the sampling signal handler, and the fault guard.
 *
 * This file is the signal-handler world. Code here may only:
 *   - call the loader's *_sigsafe functions, pyi_intern_code_sigsafe, the ring's *_sigsafe
 *     functions, clock_gettime, sigsetjmp/siglongjmp, and (through the loader)
 *     pthread_getspecific;
 *   - read the active session (published with release before any signal is sent), write its
 *     atomics, and write the calling thread's own registry slot and scratch buffer;
 *     (pyi_handler_sample_blocked runs the same walk on the sampler thread, for a thread
 *     that is blocked: it touches that thread's slot only while no signal is in flight);
 *   - use initial-exec TLS declared in this file (never general-dynamic TLS: __tls_get_addr
 *     may allocate).
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
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record_sample(struct pyi_session *s, struct pyi_thread_slot *slot, int depth,
			  const uint32_t flags, uint64_t time_ns, uint64_t wall_ns)
{
	uint32_t len = (uint32_t)(sizeof(struct pyi_ring_sample) +
				  (size_t)depth * sizeof(struct pyi_ring_frame));
	struct pyi_ring_sample *r = pyi_ring_reserve_sigsafe(s->ring, len);
	if (!r)
		return; /* counted by the ring */
	r->serial = atomic_load_explicit(&slot->serial, memory_order_relaxed);
	r->tid = (uint32_t)slot->tid;
	r->time_ns = time_ns;
	r->wall_ns = wall_ns;
	r->cpu_ns = slot->pending_cpu_ns;
	r->flags = (uint16_t)flags;
	r->depth = (uint16_t)depth;
	r->reserved = 0;
	struct pyi_ring_frame *f = (struct pyi_ring_frame *)(r + 1);
	for (int i = 0; i < depth; i++) {
		f[i].code_id = (uint32_t)slot->scratch[i].code;
		f[i].instr = slot->scratch[i].instr;
	}
	pyi_ring_commit_sigsafe(s->ring, r);
	atomic_fetch_add_explicit(&s->counters.samples, 1, memory_order_relaxed);
}

/*
 * Walks this thread's stack and interns each code object, leaving code ids (not pointers)
 * in slot->scratch[i].code. Returns the depth, or -1 when the thread has no Python state.
 */
static int walk_and_intern(struct pyi_session *s, struct pyi_thread_slot *slot,
			   uintptr_t ts, uint32_t *flags)
{
	const struct pyi_python *py = s->py;
	unsigned walk_flags = 0;

	if (!pyi_loader_runtime_live_sigsafe(py))
		return -1;
	if (!ts) {
		ts = pyi_loader_tstate_sigsafe(py, slot->tid);
		slot->pthread = (uintptr_t)pthread_self();
		atomic_store_explicit(&slot->tstate, ts, memory_order_relaxed);
	}
	if (!ts)
		return -1;
	int depth = pyi_loader_walk_sigsafe(py, ts, slot->scratch, (int)s->cfg.max_depth,
					    &walk_flags);
	for (int i = 0; i < depth; i++) {
		uintptr_t code = slot->scratch[i].code;
		struct pyi_memo_frame *m = &slot->memo[depth - 1 - i];
		struct pyi_code_ident ident;
		uint32_t id = 0;
		int here = depth - 1 - i < slot->memo_depth;
		uintptr_t qualname;
		if (here && code && m->frame == slot->scratch[i].frame && m->code == code && m->id &&
		    pyi_loader_code_qualname_sigsafe(py, code, &qualname) == 0 &&
		    qualname == m->ident.qualname) {
			/* The same code object address, with the same name, in the same frame
			 * at the same height as in this thread's previous sample: almost always
			 * the very same frame, whose code object it kept alive, so the rest of
			 * its identity is not read again (a third of the walk's cost). Code
			 * freed and re-allocated at the same address with a name at the same
			 * address, run in the same frame slot, would keep the old entry; the
			 * full identity check below is no proof against that either. */
			id = m->id;
		} else if (code && pyi_loader_code_ident_sigsafe(py, code, &ident) == 0) {
			if (here && m->code == code && m->id &&
			    pyi_intern_same_ident(&m->ident, &ident)) {
				id = m->id;
			} else {
				id = pyi_intern_code_as_sigsafe(s->intern, py, code, &ident,
								&interning_id);
				m->code = code;
				m->ident = ident;
				m->id = id;
			}
			m->frame = slot->scratch[i].frame;
		}
		if (!id) {
			*flags |= PYI_SAMPLE_PARTIAL;
			atomic_fetch_add_explicit(&s->counters.unknown_frames, 1,
						  memory_order_relaxed);
		}
		slot->scratch[i].code = id;
	}
	slot->memo_depth = depth;
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

static void on_sample_signal(int signo, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	struct pyi_session *s;
	struct pyi_thread_slot *slot;
	/* volatile: both are live across sigsetjmp */
	volatile uint32_t flags = 0;
	volatile int depth;
	(void)signo;
	(void)uctx;

	/* seq_cst, both: a stop that cleared the session and then saw no handler running
	 * cannot be followed by a handler that saw the session (pyi_handler_wait_idle). */
	atomic_fetch_add(&handlers_running, 1);
	s = atomic_load(&pyi_active_session);
	guard_armed = 0;
	if (!s || info->si_code != SI_QUEUE || info->si_pid != s->pid)
		goto out; /* not ours: a stray signal the program did not ask for */
	uint32_t value = (uint32_t)info->si_value.sival_int;
	if ((value >> 16) != s->tag || (value & 0xffff) >= PYI_MAX_THREADS)
		goto out;
	slot = &s->slots[value & 0xffff];
	/* acquire: pairs with the sampler's release, which published the pending fields; a
	 * signal for a slot that awaits none (a stale duplicate) is ignored */
	if (!atomic_load_explicit(&slot->in_flight, memory_order_acquire))
		goto out;
	uint64_t entered = mono_now();

	if (sigsetjmp(guard_env, 0)) {
		walk_faulted(s);
		goto done;
	}
	guard_armed = 1;
	uint32_t walk_flags = 0;
	depth = walk_and_intern(s, slot, 0, &walk_flags);
	flags = walk_flags;
	guard_armed = 0;

	if (depth < 0) {
		atomic_fetch_add_explicit(&slot->no_tstate_streak, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->counters.no_tstate, 1, memory_order_relaxed);
	} else {
		atomic_store_explicit(&slot->no_tstate_streak, 0, memory_order_relaxed);
		record_sample(s, slot, depth, flags, entered - s->start_mono_ns,
			      entered - slot->pending_since);
		atomic_store_explicit(&slot->recorded, 1, memory_order_relaxed);
	}
done:
	atomic_store_explicit(&slot->handled_at, entered, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->counters.handler_ns, mono_now() - entered,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->counters.handler_runs, 1, memory_order_relaxed);
	/* release: the sampler may reuse the pending fields once it sees in_flight == 0 */
	atomic_store_explicit(&slot->in_flight, 0, memory_order_release);
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

int pyi_handler_sample_blocked(struct pyi_session *s, int index)
{
	struct pyi_thread_slot *slot = &s->slots[index];
	uintptr_t ts = atomic_load_explicit(&slot->tstate, memory_order_relaxed);
	struct timespec before, after;
	volatile uint32_t flags = 0;
	volatile int depth;

	if (!ts || clock_gettime(slot->cpu_clock, &before) != 0)
		return -1;
	/* The thread ran since its handler saw this state, and may have freed it (a ctypes
	 * callback on a C thread releases its state on the way out): confirm it is still this
	 * thread's before walking, and again after. */
	volatile int still_ours = 0;
	if (sigsetjmp(guard_env, 0) == 0) {
		guard_armed = 1;
		still_ours = pyi_loader_tstate_of_sigsafe(s->py, ts, slot->pthread, slot->tid);
	}
	guard_armed = 0;
	if (!still_ours) {
		atomic_store_explicit(&slot->tstate, 0, memory_order_relaxed);
		return -1;
	}
	if (sigsetjmp(guard_env, 0)) {
		walk_faulted(s);
		return -1;
	}
	guard_armed = 1;
	uint32_t walk_flags = 0;
	depth = walk_and_intern(s, slot, ts, &walk_flags);
	flags = walk_flags;
	int valid = depth >= 0 && pyi_loader_tstate_of_sigsafe(s->py, ts, slot->pthread, slot->tid);
	guard_armed = 0;
	if (!valid || clock_gettime(slot->cpu_clock, &after) != 0 ||
	    before.tv_sec != after.tv_sec || before.tv_nsec != after.tv_nsec)
		return -1; /* it ran while we read: the frames may be torn */
	record_sample(s, slot, depth, flags, slot->pending_time_ns, slot->pending_wall_ns);
	atomic_store_explicit(&slot->recorded, 1, memory_order_relaxed);
	return 0;
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
