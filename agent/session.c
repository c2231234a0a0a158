/*
 * session: starts and stops a profiling session (see session.h). Buffers are allocated by
 * the first session and kept for the life of the process: a signal that arrives late can
 * then never touch freed memory, and start/stop cycles driven by the API cost nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/fdtable.h"
#include "agent/proclist.h"
#include "agent/session.h"
#include "common/format.h"

#define INTERN_ENTRIES 65536u
#define INTERN_ARENA (32u << 20)
/* How long stop waits for signals already sent to be handled. */

struct pyi_session *_Atomic pyi_active_session;

static struct pyi_ring ring;
static struct pyi_intern intern;
static struct pyi_thread_slot *slots;
static int buffers_ready;
static uint32_t next_tag = 0x51;

static int prepare_buffers(const struct pyi_config *cfg)
{
	int rc;
	if (buffers_ready) {
		/* Everything outside [tail, head) is already zero (the consumer clears what it
		 * reads), so only records left unread, or reserved by a thread that a fork left
		 * behind, need clearing; a fork child then copies few pages. */
		uint64_t tail = atomic_load(&ring.tail), head = atomic_load(&ring.head);
		if (head - tail >= ring.capacity) {
			memset(ring.buf, 0, ring.capacity);
		} else {
			for (uint64_t pos = tail; pos < head;) {
				size_t at = (size_t)(pos & (ring.capacity - 1));
				size_t n = ring.capacity - at;
				if (n > head - pos)
					n = (size_t)(head - pos);
				memset(ring.buf + at, 0, n);
				pos += n;
			}
		}
		atomic_store(&ring.head, 0);
		atomic_store(&ring.tail, 0);
		atomic_store(&ring.dropped, 0);
		pyi_ring_forget_prepared(&ring);
		pyi_intern_forget_prepared(&intern);
		return 0;
	}
	rc = pyi_ring_init(&ring, cfg->buffer_bytes);
	if (rc)
		return rc;
	rc = pyi_intern_init(&intern, INTERN_ENTRIES, INTERN_ARENA);
	if (rc) {
		pyi_ring_release(&ring);
		return rc;
	}
	slots = calloc(PYI_MAX_THREADS, sizeof(*slots));
	if (!slots) {
		pyi_intern_release(&intern);
		pyi_ring_release(&ring);
		return -ENOMEM;
	}
	for (int i = 0; i < PYI_MAX_THREADS; i++)
		slots[i].perf_fd = -1; /* no event */
	buffers_ready = 1;
	return 0;
}

int pyi_slot_buffers_alloc(struct pyi_thread_slot *slot, uint32_t max_depth)
{
	/* A memo as long as the deepest stack keeps the frames of stacks hundreds deep apart. */
	uint32_t entries = 1024;
	while (entries < max_depth)
		entries <<= 1;
	slot->scratch = calloc(max_depth, sizeof(*slot->scratch));
	slot->ran_frames = calloc(max_depth, sizeof(*slot->ran_frames));
	slot->frames.entries = malloc(entries * sizeof(*slot->frames.entries));
	slot->frames.mask = entries - 1;
	if (!slot->scratch || !slot->ran_frames || !slot->frames.entries) {
		pyi_slot_buffers_free(slot);
		return -ENOMEM;
	}
	/* Written here rather than left to calloc, which may hand out untouched pages: the memo
	 * spreads a deep stack's frames over all of its pages, and each first touch would be a
	 * page fault inside the thread's signal handler. */
	memset(slot->frames.entries, 0, entries * sizeof(*slot->frames.entries));
	return 0;
}

void pyi_slot_buffers_free(struct pyi_thread_slot *slot)
{
	/* The pointers are cleared before the memory goes: the sampler frees a slot's buffers
	 * while the program may be forking, and the child frees what it finds (see
	 * pyi_session_abandon_in_child). A fork in between then leaves the child a leak, never
	 * a second free (a torture run's child aborted with "double free or corruption"). */
	void *scratch = slot->scratch, *ran = slot->ran_frames, *memo = slot->frames.entries;
	slot->scratch = NULL;
	slot->ran_frames = NULL;
	slot->frames.entries = NULL;
	slot->frames.mask = 0;
	atomic_thread_fence(memory_order_seq_cst);
	free(scratch);
	free(ran);
	free(memo);
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int rc;

	/* The agent's threads block every signal: the sampling signal must only ever land on
	 * the program's threads, and the program's signals must not land on ours. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

static void count_one(long number, void *ctx)
{
	(void)number;
	++*(int *)ctx;
}

/* Whether the process has threads besides the calling one (or cannot tell). */
static int others_running(void)
{
	int threads = 0;
	int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 1;
	int rc = pyi_proc_numbers(dir, count_one, &threads);
	close(dir);
	return rc != 0 || threads != 1;
}

int pyi_session_start(struct pyi_session *s, const struct pyi_config *cfg,
		      const struct pyi_python *py, pid_t fork_of)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->py = py;
	s->pid = getpid();
	s->fork_of = fork_of;
	s->fork_child = fork_of != 0;
	s->fd = -1;
	s->program_fd = -1;
	s->agent_tids[0] = s->agent_tids[1] = -1;
	s->start_mono_ns = pyi_now_ns(CLOCK_MONOTONIC);
	s->start_real_ns = pyi_now_ns(CLOCK_REALTIME);
	s->starter_tid = (pid_t)syscall(SYS_gettid);
	s->starter_cpu_ns = pyi_now_ns(CLOCK_THREAD_CPUTIME_ID);
	s->starter_mono_ns = s->start_mono_ns;
	s->others_before = others_running();
	atomic_store(&s->next_serial, 1);
	s->tag = next_tag++ & 0x7fff;
	if (s->tag == 0)
		s->tag = next_tag++;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->wake_lock, NULL);
	pthread_cond_init(&s->wake_cond, &ca);
	pthread_condattr_destroy(&ca);

	rc = prepare_buffers(cfg);
	if (rc)
		return rc;
	s->ring = &ring;
	s->intern = &intern;
	s->slots = slots;

	s->open_deferred = !s->fork_child && !pyi_loader_interpreter_started_sigsafe(py);
	/* A program may change directory before its file is opened: a relative path names a
	 * file where the program started, as it would have at once. */
	if (s->open_deferred && !getcwd(s->start_cwd, sizeof(s->start_cwd)))
		s->start_cwd[0] = '\0';
	if (!s->fork_child && !s->open_deferred) {
		rc = pyi_writer_open(s);
		if (rc)
			return rc;
	}
	/* release: everything above is visible to a handler that sees the session */
	atomic_store_explicit(&pyi_active_session, s, memory_order_release);
	rc = start_thread(&s->writer_thread, pyi_writer_main, s);
	if (rc == 0) {
		s->writer_started = 1;
		rc = start_thread(&s->sampler_thread, pyi_sampler_main, s);
	}
	if (rc == 0) {
		s->sampler_started = 1;
		return 0;
	}
	pyi_session_stop(s, -1);
	return rc;
}

int pyi_session_sleep_until(struct pyi_session *s, uint64_t deadline_ns, _Atomic int *stop,
			    _Atomic int *nudge)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
			      .tv_nsec = (long)(deadline_ns % 1000000000u)};
	int woken = 0;
	pthread_mutex_lock(&s->wake_lock);
	for (;;) {
		if (atomic_load_explicit(stop, memory_order_acquire))
			woken = 1;
		else if (nudge && atomic_load_explicit(nudge, memory_order_acquire))
			woken = 2;
		if (woken ||
		    pthread_cond_timedwait(&s->wake_cond, &s->wake_lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->wake_lock);
	return woken;
}

static void wake(struct pyi_session *s, _Atomic int *flag)
{
	pthread_mutex_lock(&s->wake_lock);
	atomic_store_explicit(flag, 1, memory_order_release);
	pthread_cond_broadcast(&s->wake_cond);
	pthread_mutex_unlock(&s->wake_lock);
}

void pyi_session_thread_starts(struct pyi_session *s)
{
	if (!atomic_load_explicit(&s->threads_started, memory_order_relaxed))
		wake(s, &s->threads_started);
}

/* pthread_join returns once the thread's exit has cleared its tid, a little before the
 * kernel takes it off the process's thread count (it still lets go of its descriptor table,
 * among other things). Waits, briefly, until /proc no longer lists it. */
static void wait_until_gone(pid_t tid)
{
	char path[48];
	if (tid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	for (int i = 0; i < 10000 && access(path, F_OK) == 0; i++) {
		struct timespec nap = {0, 10000};
		nanosleep(&nap, NULL);
	}
}

void pyi_session_pause(struct pyi_session *s)
{
	wake(s, &s->stopping);
	if (s->sampler_started)
		pthread_join(s->sampler_thread, NULL);
	s->sampler_started = 0;
	wake(s, &s->writer_stop);
	if (s->writer_started)
		pthread_join(s->writer_thread, NULL);
	s->writer_started = 0;
	/* CPython 3.12+ counts the threads next, to warn about forking with threads. */
	wait_until_gone(atomic_load(&s->agent_tids[0]));
	wait_until_gone(atomic_load(&s->agent_tids[1]));
}

int pyi_session_resume(struct pyi_session *s)
{
	int rc;
	atomic_store(&s->stopping, 0);
	atomic_store(&s->writer_stop, 0);
	atomic_store(&s->agent_tids[0], -1);
	atomic_store(&s->agent_tids[1], -1);
	rc = start_thread(&s->writer_thread, pyi_writer_main, s);
	if (rc == 0) {
		s->writer_started = 1;
		rc = start_thread(&s->sampler_thread, pyi_sampler_main, s);
	}
	if (rc == 0)
		s->sampler_started = 1;
	return rc;
}

void pyi_session_stop(struct pyi_session *s, uint32_t reason)
{
	wake(s, &s->stopping);
	if (s->sampler_started)
		pthread_join(s->sampler_thread, NULL);
	s->sampler_started = 0;
	atomic_store(&pyi_active_session, NULL); /* seq_cst: see pyi_handler_wait_idle */
	pyi_handler_wait_idle();
	/* The writer ends the file itself: it may have opened it in a table of its own. */
	s->finish_reason = (int)reason;
	atomic_store(&s->finish_requested, 1);
	wake(s, &s->writer_stop);
	if (s->writer_started)
		pthread_join(s->writer_thread, NULL);
	s->writer_started = 0;
	if (!s->writer_finished)
		pyi_writer_end(s);
	pyi_writer_release(s);
	pyi_fdtable_say_pending();
	atomic_store(&intern.full, 0);
	for (int i = 0; i < s->slots_hi; i++) {
		struct pyi_thread_slot *slot = &s->slots[i];
		pyi_slot_buffers_free(slot);
		atomic_store(&slot->serial, 0);
	}
	if (s->handlers_installed)
		pyi_handler_uninstall(s);
	s->handlers_installed = 0;
}

void pyi_session_abandon_in_child(struct pyi_session *s)
{
	/* Only the forking thread exists now: the sampler and writer are gone, and the file
	 * belongs to the parent. Nothing is written or flushed here. */
	atomic_store_explicit(&pyi_active_session, NULL, memory_order_relaxed);
	pyi_writer_forget(s);
	s->sampler_started = s->writer_started = 0;
	/* Copies another thread had under way when the process forked never finish here. */
	for (uint32_t i = 0; atomic_load(&intern.filling) && i <= intern.mask; i++) {
		uint32_t st = atomic_load(&intern.entries[i].state);
		if (atomic_load(&intern.entries[i].code) &&
		    (st == PYI_INTERN_EMPTY || st == PYI_INTERN_FILLING))
			atomic_store(&intern.entries[i].state, PYI_INTERN_FAILED);
	}
	atomic_store(&intern.filling, 0);
	for (int i = 0; i < s->slots_hi; i++) {
		pyi_slot_buffers_free(&s->slots[i]);
		atomic_store(&s->slots[i].serial, 0);
		atomic_store(&s->slots[i].busy, 0);
		s->slots[i].timer_state = PYI_TIMER_NONE; /* timers are not inherited */
		s->slots[i].perf_fd = -1; /* nor the sampler's descriptors, events included */
	}
	s->perf = 0;
	memset(s->perf_slot, 0, sizeof(s->perf_slot));
	if (s->handlers_installed)
		pyi_handler_uninstall(s);
	s->handlers_installed = 0;
}
