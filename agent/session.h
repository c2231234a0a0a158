/*
 * session: one profiling session — from pyi_session_start() to pyi_session_stop() — and the
 * state its three actors share:
 *   - the sampler thread (agent/sampler.c) ticks, keeps the thread registry, and either
 *     signals a thread that used CPU since its last sample or records a repeat of the
 *     previous stack for a thread that did not (no signal, so no EINTR for blocked threads);
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
#include "agent/intern.h"
#include "agent/ring.h"
#include "loader/loader.h"

#define PYI_MAX_THREADS 4096

/* A frame of a thread's previous sample: most of a stack is the same from one sample to the
 * next, and a code object found at the same place is confirmed by its identity alone. */
struct pyi_memo_frame {
	uintptr_t frame;
	uintptr_t code;
	struct pyi_code_ident ident;
	uint32_t id;
};

/* One sampled OS thread. Sampler-owned unless marked otherwise. */
struct pyi_thread_slot {
	_Atomic uint32_t serial; /* 0 = free; unique per registration, never reused */
	pid_t tid;
	clockid_t cpu_clock;
	uint64_t last_record_ns;  /* monotonic time of the previous record */
	uint64_t last_record_cpu; /* thread CPU time at the previous record */
	uint64_t signal_cpu;      /* thread CPU time when it was last signalled */
	int has_stack;            /* a real sample was recorded, so a repeat can refer to it */
	int native;               /* proved to have no thread state: rarely signalled */
	uint32_t ticks_since_signal;
	/* Handed to the handler with the signal (written before the send, read in the handler).
	 * The handler measures wall time up to its own start, from pending_since: a thread that
	 * waited for a CPU before handling the signal had that wait in the stack it handles it
	 * with, not in whatever stack it reaches by the next tick. */
	uint64_t pending_time_ns, pending_wall_ns, pending_cpu_ns, pending_since;
	int awaiting_handler;                /* sampler: a signal went out, handled_at is next */
	int reported_late;                   /* sampler: this pending signal was counted late */
	_Atomic uint64_t handled_at;         /* written by the handler: when it ran */
	_Atomic int in_flight;               /* set by the sampler, cleared by the handler */
	_Atomic uint32_t no_tstate_streak;   /* written by the handler */
	_Atomic int recorded;                /* handler: set when it recorded a stack */
	_Atomic uintptr_t tstate;            /* handler: the thread's PyThreadState, last seen */
	uintptr_t pthread;                   /* handler: the thread's pthread_self() */
	struct pyi_raw_frame *scratch;       /* max_depth frames, used by this thread's handler */
	struct pyi_memo_frame *memo;         /* its previous stack, root first (same owner) */
	int memo_depth;
};

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
	_Atomic uint64_t signals_sent;
	_Atomic uint64_t signal_failures;
	_Atomic uint64_t repeats;
	_Atomic uint64_t remote_walks;
	_Atomic uint64_t handler_ns;   /* time spent in the signal handler, summed */
	_Atomic uint64_t signals_late; /* signals still unhandled 100 ms after they were sent */
	_Atomic uint64_t threads_unsampled; /* threads found with no free slot (or no memory) */
	_Atomic uint64_t handler_runs;
	_Atomic uint64_t no_tstate;
};

struct pyi_session {
	struct pyi_config cfg;
	const struct pyi_python *py;
	pid_t pid;
	int fork_child;              /* opened lazily, never clobbers */
	pid_t fork_of;
	int signo;                   /* the sampling signal */
	uint32_t tag;                /* in si_value's high bits: tells our signals apart */
	uint64_t start_mono_ns;
	uint64_t start_real_ns;
	struct pyi_ring *ring;     /* process-wide, reused by every session */
	struct pyi_intern *intern;
	struct pyi_counters counters;
	struct pyi_thread_slot *slots; /* PYI_MAX_THREADS */
	int slots_hi;                  /* sampler: slots at and above this index are free */
	_Atomic uint32_t next_serial;
	_Atomic pid_t agent_tids[2]; /* sampler and writer: never sampled */
	_Atomic pid_t forking_tid;   /* a thread inside fork(): not signalled meanwhile */
	_Atomic int stopping;
	_Atomic int writer_stop;
	pthread_mutex_t wake_lock;   /* with wake_cond: lets stop cut the threads' sleeps short */
	pthread_cond_t wake_cond;
	pthread_t sampler_thread, writer_thread;
	int sampler_started, writer_started;
	/* writer state */
	int fd;
	char path[PYI_CONFIG_PATH_MAX + 16];
	uint64_t threads_seen;
	int open_failed;
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

/* handler.c */
int pyi_handler_install(struct pyi_session *s);
void pyi_handler_uninstall(struct pyi_session *s);
/* Re-installs the fault guard if the program replaced it (faulthandler.enable() does),
 * keeping the program's handler as the one faults outside a walk are passed to. */
void pyi_handler_reassert_guard(void);
/*
 * Sampler thread, for a thread that is blocked: walks its frames from here, through the
 * thread state its handler last saw, without signalling it (so no EINTR). The walk counts
 * only if the thread's CPU clock did not move meanwhile (it did not run, so its frames could
 * not change). 0 when a sample was recorded, -1 when the caller must signal instead.
 */
int pyi_handler_sample_blocked(struct pyi_session *s, int index);
/* Waits (up to a second) until no sampling handler is running. Call after clearing
 * pyi_active_session. */
void pyi_handler_wait_idle(void);
/* Non-zero while the sampling signal still runs our handler. */
int pyi_handler_still_ours(struct pyi_session *s);

/* sampler.c */
void *pyi_sampler_main(void *session);

/* writer.c */
void *pyi_writer_main(void *session);
/* Opens the profile file and writes header and INFO; 0 or -errno (message printed). */
int pyi_writer_open(struct pyi_session *s);
/* Fork child: lets go of the parent's profile without writing (closing the descriptor only
 * if it is still the profile). */
void pyi_writer_forget(struct pyi_session *s);
/* Drains everything, writes counters and END (if reason >= 0) and closes. */
void pyi_writer_finish(struct pyi_session *s, int reason);

uint64_t pyi_now_ns(clockid_t clock);
/* Sleeps until the CLOCK_MONOTONIC time deadline_ns, or until stop is set (non-zero then). */
int pyi_session_sleep_until(struct pyi_session *s, uint64_t deadline_ns, _Atomic int *stop);

#endif
