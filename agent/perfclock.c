/* perfclock: see perfclock.h. */
#include "agent/perfclock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int pyi_perfclock_open(pid_t tid, int signo, uint64_t period_ns)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.sample_period = period_ns;
	attr.wakeup_events = 1; /* a signal for every overflow */
	attr.disabled = 1;
	attr.exclude_hv = 1;
	/* Kernel time counts as the thread's CPU, as it does for a CPU-time timer; where
	 * perf_event_paranoid allows only user time, no event at all (an event that skipped
	 * every overflow in a system call would leave system time unsampled). */
	int fd = (int)syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct f_owner_ex owner = {F_OWNER_TID, tid};
	if (fcntl(fd, F_SETOWN_EX, &owner) != 0 || fcntl(fd, F_SETSIG, signo) != 0 ||
	    fcntl(fd, F_SETFL, O_ASYNC) != 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int pyi_perfclock_set_period(int fd, uint64_t period_ns)
{
	return ioctl(fd, PERF_EVENT_IOC_PERIOD, &period_ns) == 0 ? 0 : -1;
}

int pyi_perfclock_start(int fd, uint64_t period_ns)
{
	if (pyi_perfclock_set_period(fd, period_ns) != 0)
		return -1;
	return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) == 0 ? 0 : -1;
}

int pyi_perfclock_stop(int fd)
{
	return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0) == 0 ? 0 : -1;
}
