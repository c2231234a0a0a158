/*
 * fdtable: a descriptor table of its own for each agent thread (agent/fdtable.h).
 *
 * close_range(CLOSE_RANGE_UNSHARE) (Linux 5.9) unshares and closes in one call, and copies
 * only the descriptors below the range, so the thread never holds references to the
 * program's files. Older kernels get unshare(CLONE_FILES) and a close of every copy; the copy
 * holds the program's files open for that moment only. Closing a copy releases none of the
 * program's record locks: Linux ties those to the table they were taken from.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/fdtable.h"
#include "agent/proclist.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static char pending[2048];
static size_t pending_len;

static long close_range_call(unsigned first, unsigned last, unsigned flags)
{
#ifdef SYS_close_range
	return syscall(SYS_close_range, first, last, flags);
#else
	(void)first, (void)last, (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

struct copies {
	int keep_fd, dir;
};

static void close_copy(long fd, void *ctx)
{
	const struct copies *c = ctx;
	if (fd != c->keep_fd && fd != c->dir)
		close((int)fd);
}

/* After unshare(CLONE_FILES): closes every copy but keep_fd, listing the thread's own table
 * (/proc/self/fd lists the program's). */
static void close_copies(int keep_fd)
{
	struct copies c = {keep_fd, open("/proc/thread-self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
	if (c.dir < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = 0; fd < (max > 0 ? max : 1024); fd++)
			if (fd != keep_fd)
				close((int)fd);
		return;
	}
	pyi_proc_numbers(c.dir, close_copy, &c);
	close(c.dir);
}

int pyi_fdtable_go_private(int keep_fd)
{
	unsigned first = keep_fd >= 0 ? (unsigned)keep_fd + 1 : 0;
	if (close_range_call(first, ~0U, CLOSE_RANGE_UNSHARE) == 0) {
		if (keep_fd > 0)
			close_range_call(0, (unsigned)keep_fd - 1, 0);
		return 0;
	}
	if (errno != ENOSYS && errno != EINVAL)
		return -errno;
	if (unshare(CLONE_FILES) != 0)
		return -errno;
	close_copies(keep_fd);
	return 0;
}

static void write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

/* A copy of the program's descriptor 2 in this thread's table: the fd, -EBADF when the
 * program has none, another -errno when the kernel cannot give it (before Linux 5.6). */
static int program_stderr(void)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		return -errno;
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, 2, 0);
	int err = errno;
	close(pidfd);
	return fd >= 0 ? fd : -err;
#else
	return -ENOSYS;
#endif
}

void pyi_fdtable_say(int private_table, const char *text)
{
	size_t len = strlen(text);
	if (!private_table) {
		write_all(2, text, len);
		return;
	}
	int fd = program_stderr();
	if (fd >= 0) {
		write_all(fd, text, len);
		close(fd);
		return;
	}
	if (fd == -EBADF)
		return; /* the program closed its standard error: nowhere to say it */
	pthread_mutex_lock(&pending_lock);
	if (pending_len + len <= sizeof(pending)) {
		memcpy(pending + pending_len, text, len);
		pending_len += len;
	}
	pthread_mutex_unlock(&pending_lock);
}

void pyi_fdtable_say_pending(void)
{
	/* Held only by a fork child that inherited it from a thread it does not have. */
	if (pthread_mutex_trylock(&pending_lock) != 0)
		return;
	write_all(2, pending, pending_len);
	pending_len = 0;
	pthread_mutex_unlock(&pending_lock);
}
