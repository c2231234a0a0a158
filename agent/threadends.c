/*
 * threadends: a thread's last CPU time is credited as the thread ends, from its own clock.
 *
 * The sampler reads a thread's CPU clock at its looks, up to 20 ms apart while threads run
 * steadily, and once the thread has exited its clock is gone: whatever it used since the
 * last look went into no sample (ten threads of 60 ms each, one after another, read 1.6 to
 * 13.4 ms short each, once their time before registration was kept). So a thread the
 * program makes while a session runs starts in a trampoline that, when the thread's function
 * returns or the thread calls pthread_exit, credits that time first
 * (pyi_handler_thread_ends). A thread made otherwise (before the session, or not through
 * these functions) keeps the sampler's last look. A thread of the program's Python (its
 * start routine is libpython's) also tells the sampler as it starts, so that the sampler
 * lists it at once (pyi_session_thread_starts).
 * Interposed by LD_PRELOAD (agent/exports.map); each calls libc's own. Without a session
 * they pass straight through: the program's threads start as they would.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "agent/session.h"

#define PUBLIC __attribute__((visibility("default")))
#define TLS __attribute__((tls_model("initial-exec"))) __thread

/* Tries at most this many times while the thread's slot is busy (the sampler reads it for
 * microseconds). */
#define BUSY_TRIES 100

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef void (*exit_fn)(void *);

struct thread_start {
	void *(*routine)(void *);
	void *arg;
};

static _Atomic(create_fn) real_create;
static _Atomic(exit_fn) real_exit;

TLS int pyi_python_thread;

static void credit_last_time(void)
{
	int saved_errno = errno;
	for (int i = 0; i < BUSY_TRIES && pyi_handler_thread_ends() != 0; i++)
		sched_yield();
	errno = saved_errno;
}

static void *run_thread(void *p)
{
	struct thread_start start = *(struct thread_start *)p;
	free(p);
	pyi_python_thread = pyi_agent_in_python(start.routine);
	struct pyi_session *s = atomic_load(&pyi_active_session);
	if (pyi_python_thread && s)
		pyi_session_thread_starts(s);
	void *result = start.routine(start.arg);
	credit_last_time();
	return result;
}

PUBLIC int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*routine)(void *), void *arg)
{
	create_fn create = atomic_load_explicit(&real_create, memory_order_acquire);
	if (!create) {
		create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
		if (!create)
			return EAGAIN;
		atomic_store_explicit(&real_create, create, memory_order_release);
	}
	struct thread_start *start;
	if (!atomic_load(&pyi_active_session) || !(start = malloc(sizeof(*start))))
		return create(thread, attr, routine, arg);
	start->routine = routine;
	start->arg = arg;
	int rc = create(thread, attr, run_thread, start);
	if (rc != 0)
		free(start);
	return rc;
}

PUBLIC void pthread_exit(void *result)
{
	exit_fn leave = atomic_load_explicit(&real_exit, memory_order_acquire);
	if (!leave) {
		leave = (exit_fn)dlsym(RTLD_NEXT, "pthread_exit");
		atomic_store_explicit(&real_exit, leave, memory_order_release);
	}
	credit_last_time();
	if (leave)
		leave(result);
	abort(); /* libc without pthread_exit: nothing else can end the thread alone */
}
