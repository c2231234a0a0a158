#include "agent/proclist.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int pyi_proc_numbers(int dir, void (*each)(long number, void *ctx), void *ctx)
{
	char buf[8192];
	long n;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] >= '0' && d->d_name[0] <= '9')
				each(atol(d->d_name), ctx);
		}
	}
	return n < 0 ? -1 : 0;
}
