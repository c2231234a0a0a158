/*
 * session: one profiling session — from pyi_session_start() to pyi_session_stop() — and the
 * state its three actors share:
 *   - the sampler thread (agent/sampler.c) keeps the thread registry, gives each thread a
 *     CPU-time timer (the kernel signals a thread only while it runs, at its scheduler
 *     tick: no wake-up, no inter-processor interrupt), and reads the stacks of threads that
 *     are off the CPU itself (no signal, so no EINTR for blocked threads);
 *   - the signal handler (agent/handler.c) walks the interrupted thread's frames into the ring;
 *   - the writer thread (agent/writer.c) drains the ring into the profile file.
 * The lifecycle functions run in normal context and are serialised by the caller
 * (agent/agent.c holds a mutex). A process has at most one session at a time.
 */
#ifndef PYI_SESSION_H
#define PYI_SESSION_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "agent/config.h"
#include "agent/cpushare.h"
#include "agent/intern.h"
#include "agent/ring.h"
#include "agent/waking.h"
#include "loader/loader.h"

#define PYI_MAX_THREADS 4096
/* Descriptor numbers an event may have in the sampler's table: a thread's event each, and a
 * few files it reads. */
#define PYI_PERF_FDS (PYI_MAX_THREADS + 64)

/* Reads of a thread's status kept to tell whether a stretch off the CPU was a wait: the
 * sampler reads a running thread's at most every round of checks, tens of milliseconds
 * apart, and a stretch's span can be as long. */
#define PYI_STATUS_KEPT 4

/*
 * One sampled OS thread. Fields are the sampler's unless marked otherwise. The "marks" and
 * the walk buffers belong to whoever holds busy: the thread's own handler, or the sampler
 * reading the thread while it is off the CPU. Neither ever waits for the other; the one that
 * finds busy taken skips its turn (nothing is lost: the next record covers the span).
 */
struct pyi_thread_slot {
	_Atomic uint32_t serial; /* 0 = free; unique per registration, never reused */
	pid_t tid;
	clockid_t cpu_clock;
	timer_t timer;           /* CPU-time timer that signals the thread while it runs */
	int timer_state;         /* PYI_TIMER_* */
	int perf_fd;             /* its task-clock event in place of the timer (perfclock.h), or
				  * -1; a number in the sampler's own descriptor table */
	uint64_t perf_drawn_cpu; /* its CPU clock when its event's period was last drawn */
	uint64_t seen_cpu;       /* the thread's CPU clock at the sampler's last look */
	uint64_t late_cpu;       /* CPU clock when mark_cpu was last seen to move */
	uint64_t late_mark;      /* mark_cpu as last seen */
	int never_looked;
	int nothing_at_cpu;      /* the last look found no thread state, and it has not run */
	int native;              /* proved to have no thread state: timer slowed down */
	int contended;           /* waits for a CPU often, or PYINSTR_JITTER: sampled by
				  * signals from here, its timer disarmed */
	int calm_checks;         /* contended, but checks in a row found it waiting little */
	uint64_t delay_seen, delay_seen_at; /* its run-queue wait (schedstat), and when read */
	uint64_t window_voluntary, window_involuntary; /* its switches (status) then */
	uint64_t contention_checked_cpu;    /* its CPU clock at that read */
	uint64_t round_cpu, round_at;       /* its CPU clock at the last round of checks, and when */
	uint32_t sent;           /* signals sent to it from here */
	uint64_t next_signal_at; /* not before then (monotonic clock), the next one */
	uint32_t native_looks;   /* looks that found a native thread running */
	int was_running;         /* the previous look found it on the CPU */
	uint64_t running_seen_at; /* when that look was, by the monotonic clock */
	int blocks_ours;         /* it blocks the sampling signal: no timer meanwhile */
	int blocked_checks;      /* checks in a row that found it so */
	/* its CPU clock when its signal mask was last read, and when that was */
	uint64_t mask_checked_cpu, mask_checked_at;
	int event_declined;      /* runs too little for an event: a CPU-time timer (choose_timer) */
	uint64_t voluntary_switches; /* from its status, when last asked whether it was preempted */
	int switches_known;
	/* its voluntary switches and run-queue wait (UINT64_MAX: unread) at the last
	 * PYI_STATUS_KEPT reads of its status, and when those were (0: not read); the last is at
	 * (status_reads - 1) % PYI_STATUS_KEPT */
	uint64_t status_voluntary[PYI_STATUS_KEPT], status_delay[PYI_STATUS_KEPT];
	uint64_t status_read_at[PYI_STATUS_KEPT];
	unsigned status_reads;
	/* Handler and sampler: its longest stretch off the CPU that no look saw, since the
	 * sampler last took it (pyi_session_note_missed), and when the span holding it began. */
	_Atomic uint64_t missed_off, missed_from;
	_Atomic uint32_t handled;            /* handler: signals of ours it has taken */
	int reported_late;
	_Atomic int busy;
	/* Owned by the busy holder. Wall time is credited in spans: mark_wall is where the
	 * last span ended, mark_wall_cpu the thread's CPU clock then, so a span's time off the
	 * CPU is its length minus the CPU it used. CPU time is credited by the handler
	 * (mark_cpu), to the stack it finds: the CPU view is then a plain CPU-time profile,
	 * except that leaving a wait the sampler saw costs the waiting stack wait_cpu_ns.
	 * A sample takes a share of what mark_cpu leaves owed (agent/cpushare.h). */
	uint64_t mark_wall, mark_wall_cpu, mark_cpu;
	struct pyi_cpu_share cpu_share;
	int has_stack;            /* a stack was recorded, so a repeat can refer to it */
	int recorded;             /* anything was recorded for the thread */
	int last_blocked;         /* that stack was read while the thread was off the CPU, and
				   * the wait's waking is not credited yet */
	int last_read_off_cpu;    /* that stack was read while the thread was off the CPU (it
				   * stays so once the waking is credited) */
	int last_depth;           /* that stack's depth and flags (it is in scratch) */
	uint32_t last_flags;
	uint64_t off_cpu_stack;   /* a hash of the last stack read off the CPU (stack_hash) */
	/* The last stack a signal found the thread running in, kept when a read off the CPU
	 * replaces it in scratch (max_depth frames). */
	struct pyi_ring_frame *ran_frames;
	int ran_depth;
	uint32_t ran_flags;
	_Atomic uint32_t no_tstate_streak;   /* handler: signals that found no thread state */
	/* Where the interpreter's finalization began, as far as the looks can tell, in the
	 * thread's CPU clock: after live_cpu (a look read the clock, then found the runtime
	 * live) and before dead_cpu (a look found it finalizing, then read the clock; 0 until
	 * one has). Written by the sampler, read by the handler. */
	_Atomic uint64_t live_cpu, dead_cpu;
	_Atomic uintptr_t tstate;            /* the thread's PyThreadState, last seen */
	uintptr_t pthread;                   /* the thread's pthread_t, with tstate */
	/* The running timer's schedule, so that the handler can tell the thread's CPU clock from
	 * the timer's expirations instead of a system call (a sixth of a deep sample's cost):
	 * written by the sampler before each arming, under arm_seq (odd while it writes). */
	_Atomic uint32_t arm_seq;
	_Atomic uint64_t arm_cpu;    /* the thread's CPU clock just before the arming */
	_Atomic uint64_t arm_period; /* the timer's period (0: unknown) */
	_Atomic uint64_t arm_wall;   /* the monotonic clock just before the arming */
	/* Written by the thread's own handler only (it never nests): expirations counted since
	 * arming counted_seq, signals and their overruns. The sampler reads them to tell that
	 * the last expiration the schedule passed has been taken (the count is stored first). */
	_Atomic uint32_t counted_seq;
	_Atomic uint64_t expired;
	struct pyi_raw_frame *scratch;       /* max_depth frames for the walk */
	struct pyi_frame_memo frames;        /* what the walks of this thread validated */
};

enum { PYI_TIMER_NONE, PYI_TIMER_FAST, PYI_TIMER_SLOW, PYI_TIMER_FAILED, PYI_TIMER_GIVEN_UP };

/* What goes through the ring for one sample (frames follow). */
struct pyi_ring_sample {
	uint32_t serial;
	uint32_t tid;
	uint64_t time_ns;
	uint64_t wall_ns;
	uint64_t cpu_ns;
	uint16_t flags; /* PYI_SAMPLE_* */
	uint16_t depth;
	uint32_t reserved;
};

struct pyi_ring_frame {
	uint32_t code_id;
	int32_t instr;
};

struct pyi_counters {
	_Atomic uint64_t samples;
	_Atomic uint64_t truncated;
	_Atomic uint64_t abandoned_fault;
	_Atomic uint64_t unknown_frames;
	_Atomic uint64_t timer_signals;  /* timer signals handled for a session thread */
	_Atomic uint64_t timer_failures; /* threads whose timer could not be made */
	_Atomic uint64_t repeats;
	_Atomic uint64_t remote_walks;
	_Atomic uint64_t handler_ns;   /* time spent in the signal handler, summed */
	_Atomic uint64_t signals_late; /* threads found running with our signal blocked */
	_Atomic uint64_t busy_skips;   /* a sample skipped: the thread's slot was being read */
	_Atomic uint64_t stale_signals; /* signals of an arming before the one in place */
	_Atomic uint64_t waking_passes; /* an event's sample let pass: in a seen wait's waking */
	_Atomic uint64_t signals_sent; /* signals the sampler sent to contended threads */
	_Atomic uint64_t contended;    /* times a thread was found waiting for a CPU often */
	_Atomic uint64_t timers_for_idle; /* events swapped for timers: threads that ran little */
	_Atomic uint64_t threads_unsampled; /* threads found with no free slot (or no memory) */
	_Atomic uint64_t threads_unseen; /* Python threads that ended with nothing recorded */
	_Atomic uint64_t threads_unseen_cpu_ns; /* and the CPU time they used */
	_Atomic uint64_t period_caps;      /* unseen stretches off the CPU capped the looks' period */
	_Atomic uint64_t preempted_unseen; /* unseen stretches not counted as waits */
	_Atomic uint64_t handler_runs;
	_Atomic uint64_t wake_cpu_ns;  /* CPU credited to waiting stacks for leaving the wait */
	_Atomic uint64_t wake_ticks_early; /* timer ticks within a wait's cost after it (waking.h) */
	_Atomic uint64_t wake_ticks_later; /* and two to six times as far */
	_Atomic uint64_t no_tstate;
};

struct pyi_session {
	struct pyi_config cfg;
	const struct pyi_python *py;
	pid_t pid;
	int fork_child;              /* opened lazily, never clobbers */
	/* The file waits for an interpreter: a program that links libpython without starting
	 * it (perf) gets no file and no output. Set when the session starts before one. */
	int open_deferred;
	char start_cwd[PYI_CONFIG_PATH_MAX]; /* where a deferred relative path is, or "" */
	_Atomic int interpreter_seen; /* sampler: an interpreter exists (or existed) */
	pid_t fork_of;
	int signo;                   /* the sampling signal */
	/* Threads are signalled by perf task-clock events (agent/perfclock.h), at random CPU
	 * times averaging perf_mean_ns apart; perf_slot[fd] is the slot (index + 1) of the
	 * event at that number, written by the sampler before the event is enabled. */
	int perf;
	uint64_t perf_mean_ns;
	uint64_t perf_rng;           /* sampler: draws the events' periods, and signals' spacing */
	_Atomic uint16_t perf_slot[PYI_PERF_FDS];
	uint32_t tag;                /* in si_value's high bits: tells our signals apart */
	uint64_t start_mono_ns;
	uint64_t start_real_ns;
	/* The thread that started the session, and where its time in the session begins: its
	 * CPU clock and the monotonic clock at the start, moved by the sampler's looks that find
	 * no interpreter yet (a program that embeds Python runs its own code before). Its CPU
	 * from there until the sampler registers it is its first sample's. */
	pid_t starter_tid;
	uint64_t starter_cpu_ns, starter_mono_ns;
	int listed;                  /* sampler: a listing of the threads is done */
	int others_before;           /* other threads ran when the session started */
	struct pyi_ring *ring;     /* process-wide, reused by every session */
	struct pyi_intern *intern;
	struct pyi_counters counters;
	struct pyi_thread_slot *slots; /* PYI_MAX_THREADS */
	int slots_hi;                  /* sampler: slots at and above this index are free */
	_Atomic uint32_t next_serial;
	_Atomic pid_t agent_tids[2]; /* sampler and writer: never sampled */
	_Atomic pid_t forking_tid;   /* a thread inside fork(): not read meanwhile */
	_Atomic int missed_block;    /* handler and sampler: 1 once some slot's missed_off was
				      * raised (pyi_session_note_missed) since the sampler last
				      * took them */
	uint64_t missed_block_ns;    /* how long counts as long */
	/* The CPU a wait costs a thread, entering it and waking from it, averaged over the
	 * sampler's own waits: the kernel's tick falls in that CPU time less often than in the
	 * rest, so timer samples see only part of it (agent/waking.h). 0 until measured. */
	_Atomic uint64_t wait_cpu_ns;
	struct pyi_waking_ticks waking_ticks; /* how much of that the ticks see (waking.h) */
	_Atomic int stopping;
	_Atomic int writer_stop;
	_Atomic int threads_started; /* a Python thread started since the sampler last listed */
	pthread_mutex_t wake_lock;   /* with wake_cond: lets stop cut the threads' sleeps short */
	pthread_cond_t wake_cond;
	pthread_t sampler_thread, writer_thread;
	int sampler_started, writer_started;
	/* writer state */
	int fd;                      /* the profile, in the table of the thread writing it */
	int program_fd;              /* the profile's descriptor in the program's table, or -1 */
	_Atomic int finish_requested; /* stop: the writer thread ends the file before it exits */
	int finish_reason;
	int writer_finished;         /* it did: the stopping thread has only to tidy up */
	char path[PYI_CONFIG_PATH_MAX + 16];
	uint64_t threads_seen;
	_Atomic int open_failed;     /* writer: the file could not be made; sampler: stop */
	_Atomic int handler_lost;    /* our signal handler was replaced by the program */
	int handlers_installed;      /* sampler: installed once the interpreter is initialised */
	_Atomic int signo_chosen;    /* the sampling signal, for the writer, once installed */
};

/* The session the signal handlers serve, or NULL. */
extern struct pyi_session *_Atomic pyi_active_session;

int pyi_session_start(struct pyi_session *s, const struct pyi_config *cfg,
		      const struct pyi_python *py, pid_t fork_of);
/* Stops sampling, drains, writes the END record and closes the file; prints the exit line. */
void pyi_session_stop(struct pyi_session *s, uint32_t reason);
/* Stops the sampler and writer threads, keeping everything else (the file stays open). */
void pyi_session_pause(struct pyi_session *s);
/* Starts them again after pyi_session_pause(). 0 or -errno. */
int pyi_session_resume(struct pyi_session *s);
/* In a fork child: forget the parent's session without touching its file. */
void pyi_session_abandon_in_child(struct pyi_session *s);

/* A slot's walk buffers (scratch frames and frame memo), made when a thread registers and
 * freed when its slot is let go. 0 or -ENOMEM (nothing left allocated). */
int pyi_slot_buffers_alloc(struct pyi_thread_slot *slot, uint32_t max_depth);
void pyi_slot_buffers_free(struct pyi_thread_slot *slot);

/* handler.c */
int pyi_handler_install(struct pyi_session *s);
void pyi_handler_uninstall(struct pyi_session *s);
/* Re-installs the fault guard if the program replaced it (faulthandler.enable() does),
 * keeping the program's handler as the one faults outside a walk are passed to. */
void pyi_handler_reassert_guard(void);
/*
 * Sampler thread, for a thread found off the CPU with CPU clock seen_cpu: credits the
 * time it spent off the CPU since its last record. When it ran since the sampler's previous
 * look (ran != 0) or has no stack on record, its frames are read from here, without
 * signalling it (so no EINTR), and count only if its CPU clock did not move meanwhile;
 * otherwise its previous stack is repeated, up to seen_cpu (its clock is not read again).
 * credit_cpu: the CPU it used since its last sample goes to the stack read (a contended
 * thread, most likely waiting for a CPU). Returns 1 when a stack was read, 2 when the stack
 * read is the one it was last seen waiting in (it woke and waits again where it did: recorded
 * as a repeat), 0 for a repeat without a read, -1 when nothing could be recorded (running
 * after all, no thread state, busy).
 */
int pyi_handler_observe_off_cpu(struct pyi_session *s, int index, uint64_t seen_cpu, int ran,
				int credit_cpu);
/*
 * Sampler thread, at the end of a session or of a thread (exited: the CPU it had at the last
 * look stands), or the thread itself as it ends (pyi_handler_thread_ends): the thread's CPU
 * time that no sample covered yet (less than an interval for a thread that ran steadily;
 * more for one that ran in moments too short for its timer to fire, such as an idle worker
 * waking) and its time since the last record go to its last stack. -1 when the slot was
 * busy (nothing done), else 0.
 */
int pyi_handler_flush_cpu(struct pyi_session *s, int index, int exited);
/*
 * A thread of the program, in its last moments (agent/threadends.c): its CPU time that no
 * sample covered yet, read from its own clock, and its time since the last record go to its
 * last stack, as the sampler's flush of an exited thread would with only its last look's
 * clock. A Python thread (pyi_python_thread) with no slot, or nothing recorded, is counted
 * as unseen, with its CPU. 0 when done (or the thread has no slot), -1 when its slot was
 * busy: try again.
 */
int pyi_handler_thread_ends(void);
/* What a slot's timer carries in si_value (session tag, registration serial, slot index). */
uint64_t pyi_handler_timer_value(const struct pyi_session *s, int index, uint32_t serial);
/* Waits (up to a second) until no sampling handler is running. Call after clearing
 * pyi_active_session. */
void pyi_handler_wait_idle(void);
/* Non-zero while the sampling signal still runs our handler. */
int pyi_handler_still_ours(struct pyi_session *s);
/* The sampling signal while our handler is installed for it, else 0. Any context. */
int pyi_handler_signal_held(void);

/* threadends.c: this thread was started by the program's Python, through the agent's
 * trampoline (initial-exec: the handler reads it). */
extern __attribute__((tls_model("initial-exec"))) __thread int pyi_python_thread;

/* agent.c: whether code at this address belongs to libpython (or the executable holding it) */
int pyi_agent_in_python(const void *address);

/* sampler.c */
void *pyi_sampler_main(void *session);

/* writer.c */
void *pyi_writer_main(void *session);
/* Opens the profile file and writes header and INFO; 0 or -errno (message printed). */
int pyi_writer_open(struct pyi_session *s);
/* Fork child: lets go of the parent's profile without writing (closing the descriptor only
 * if it is still the profile). */
void pyi_writer_forget(struct pyi_session *s);
/* Ends the file (opened first if it is due: a fork child's with samples, or one that waited
 * for an interpreter that came): drains everything, writes counters and END (if
 * finish_reason >= 0), closes, says where. Run by the writer thread when the session stops
 * (finish_requested), or by the stopping thread when the writer thread never ran. */
void pyi_writer_end(struct pyi_session *s);
/* After the writer thread ended: closes the profile's descriptor in the program's table,
 * if it is still the profile. */
void pyi_writer_release(struct pyi_session *s);

uint64_t pyi_now_ns(clockid_t clock);
static inline uint64_t pyi_timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}
/* A thread was off the CPU for `off` ns where no look saw it, within a span that began at
 * `from` (monotonic clock): kept in the slot for the sampler if that is longer than
 * missed_block_ns plus `slack` and than any kept since its last look, and the session told.
 * (A racing store from another thread may win: either stretch tells the sampler as much.)
 * Lock-free: the handler calls it too. */
static inline void pyi_session_note_missed(struct pyi_session *s, struct pyi_thread_slot *slot,
					   uint64_t off, uint64_t slack, uint64_t from)
{
	if (off <= s->missed_block_ns + slack)
		return;
	if (off > atomic_load_explicit(&slot->missed_off, memory_order_relaxed)) {
		atomic_store_explicit(&slot->missed_from, from, memory_order_relaxed);
		atomic_store_explicit(&slot->missed_off, off, memory_order_relaxed);
		atomic_store_explicit(&s->missed_block, 1, memory_order_relaxed);
	}
}
/* Sleeps until the CLOCK_MONOTONIC time deadline_ns (0), until stop is set (1), or until
 * nudge, if not NULL, is set (2). */
int pyi_session_sleep_until(struct pyi_session *s, uint64_t deadline_ns, _Atomic int *stop,
			    _Atomic int *nudge);
/* A thread of the program's Python is starting (agent/threadends.c): the sampler lists the
 * threads soon, not at its next look, so that a short one is not missed. Any thread. */
void pyi_session_thread_starts(struct pyi_session *s);

#endif
