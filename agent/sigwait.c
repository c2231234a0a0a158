/*
 * sigwait: the program's waits for signals (sigwait, sigwaitinfo, sigtimedwait, signalfd)
 * never take the sampling signal.
 *
 * A thread that blocks every signal keeps ours pending until it unblocks it, and a wait for
 * "every signal" would take it. The sampler drops the timer or event of a thread it sees
 * blocking ours, and the kernel drops a deleted timer's pending signal, but a task-clock
 * event's signals stay queued (agent/perfclock.h), and older kernels keep a timer's too. So
 * while our handler holds the signal, it is taken out of the set these functions are given:
 * the program waits for exactly the signals it waits for now, less one it never sent or
 * handled. Interposed by LD_PRELOAD (agent/exports.map); each calls libc's own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/signalfd.h>

#include "agent/session.h"

#define PUBLIC __attribute__((visibility("default")))

/* The set to hand libc: set itself, or a copy in *copy without our signal. */
static const sigset_t *without_ours(const sigset_t *set, sigset_t *copy)
{
	int signo = set ? pyi_handler_signal_held() : 0;
	if (!signo || sigismember(set, signo) != 1)
		return set;
	*copy = *set;
	sigdelset(copy, signo);
	return copy;
}

/* libc's own function of that name (resolved once; NULL only if libc lacks it). */
static void *next_fn(_Atomic(void *) *cache, const char *name)
{
	void *fn = atomic_load_explicit(cache, memory_order_acquire);
	if (!fn) {
		fn = dlsym(RTLD_NEXT, name);
		atomic_store_explicit(cache, fn, memory_order_release);
	}
	return fn;
}

PUBLIC int sigwait(const sigset_t *set, int *sig)
{
	static _Atomic(void *) cache;
	int (*fn)(const sigset_t *, int *) = (int (*)(const sigset_t *, int *))next_fn(&cache,
										      "sigwait");
	sigset_t copy;
	return fn ? fn(without_ours(set, &copy), sig) : ENOSYS;
}

PUBLIC int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	static _Atomic(void *) cache;
	int (*fn)(const sigset_t *, siginfo_t *) =
		(int (*)(const sigset_t *, siginfo_t *))next_fn(&cache, "sigwaitinfo");
	sigset_t copy;
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(without_ours(set, &copy), info);
}

PUBLIC int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
	static _Atomic(void *) cache;
	int (*fn)(const sigset_t *, siginfo_t *, const struct timespec *) =
		(int (*)(const sigset_t *, siginfo_t *, const struct timespec *))next_fn(
			&cache, "sigtimedwait");
	sigset_t copy;
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(without_ours(set, &copy), info, timeout);
}

PUBLIC int signalfd(int fd, const sigset_t *mask, int flags)
{
	static _Atomic(void *) cache;
	int (*fn)(int, const sigset_t *, int) =
		(int (*)(int, const sigset_t *, int))next_fn(&cache, "signalfd");
	sigset_t copy;
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(fd, without_ours(mask, &copy), flags);
}
