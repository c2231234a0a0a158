/*
 * probe: a test-only shared library that runs the loader inside a real interpreter, called
 * from Python through ctypes (tests/integration/test_walk.py).
 *
 * It is not a signal handler: the loader's *_sigsafe functions run on the calling thread in
 * normal context, which exercises the same reads and the same decisions. The first call
 * runs pyi_loader_detect(); later calls reuse its result.
 *
 * Built with: gcc -std=c11 -D_GNU_SOURCE -I. -fPIC -shared -o libpyiprobe.so
 *             tests/probe/probe.c loader/(*).c -ldl -lpthread
 */
#include "loader/layout.h"
#include "loader/linetable.h"
#include "loader/loader.h"
#include "loader/tls.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PROBE_API __attribute__((visibility("default")))
#define PROBE_MAX_FRAMES 4096

int pyi_probe_stack(char *buf, size_t cap);
int pyi_probe_stack_max(char *buf, size_t cap, int max);
int pyi_probe_info(char *buf, size_t cap);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct pyi_python py;
static int status;
static char why[512];

static void detect_once(void)
{
	status = pyi_loader_detect(&py, why, sizeof(why));
}

/* A bounded appender: remembers overflow instead of writing past cap. */
struct out {
	char *buf;
	size_t cap, len;
	int overflow;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = 1;
	else
		o->len += (size_t)n;
}

/* Error results write their reason into buf and return a negative code. */
static int fail(char *buf, size_t cap, int code, const char *msg)
{
	if (cap)
		snprintf(buf, cap, "%s", msg);
	return code;
}

static void put_str(struct out *o, uintptr_t s)
{
	char name[1024];
	int n = pyi_loader_str_sigsafe(&py, s, name, sizeof(name) - 1);

	if (n < 0) {
		put(o, "?");
		return;
	}
	name[n] = '\0';
	put(o, "%s", name);
}

/*
 * Walks the calling thread's Python stack (at most max frames) and writes
 *   #tstate=0x... gil=G flags=F live=L
 * then "qualname|file|line" per frame, leaf first; a frame that failed validation is
 * "?|?|-1". Returns the number of frames, or: -1 not a supported CPython (buf says why),
 * -2 runtime not live, -3 no thread state, -4 buf too small.
 */
PROBE_API int pyi_probe_stack_max(char *buf, size_t cap, int max)
{
	static struct pyi_raw_frame frames[PROBE_MAX_FRAMES], plain[PROBE_MAX_FRAMES];
	/* Shared by every thread that calls in: entries are keyed by frame address. */
	static struct pyi_frame_memo_entry memo_entries[4096];
	static struct pyi_frame_memo memo = { memo_entries, 4095, 0 };
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct out o = { .buf = buf, .cap = cap };
	unsigned flags, plain_flags;
	int n;

	pthread_once(&once, detect_once);
	if (status == PYI_LOADER_NOT_PYTHON)
		return fail(buf, cap, -1, "not python");
	if (status != PYI_LOADER_OK) {
		char msg[600];

		snprintf(msg, sizeof(msg), "unsupported: %s", why);
		return fail(buf, cap, -1, msg);
	}
	if (!pyi_loader_runtime_live_sigsafe(&py))
		return fail(buf, cap, -2, "runtime not live");
	uintptr_t ts = pyi_loader_tstate_sigsafe(&py, 0);
	if (!ts)
		return fail(buf, cap, -3, "no thread state");
	if (max < 0 || max > PROBE_MAX_FRAMES)
		max = PROBE_MAX_FRAMES;

	pthread_mutex_lock(&lock); /* frames[] is shared by the threads that call in */
	/* Every walk goes twice, with the memo the agent keeps (whatever earlier calls left in
	 * it) and without: a memo must never change what a walk finds. */
	n = pyi_loader_walk_sigsafe(&py, ts, frames, max, &memo, &flags);
	/* Without ids (the probe sets none) every walk reports new frames: not a finding. */
	flags &= ~(unsigned)PYI_WALK_NEW;
	if (pyi_loader_walk_sigsafe(&py, ts, plain, max, NULL, &plain_flags) != n ||
	    (plain_flags & ~(unsigned)PYI_WALK_NEW) != flags) {
		pthread_mutex_unlock(&lock);
		return fail(buf, cap, -5, "the walk with a frame memo differs from the walk without");
	}
	for (int i = 0; i < n; i++) {
		if (frames[i].code != plain[i].code || frames[i].frame != plain[i].frame ||
		    frames[i].instr != plain[i].instr) {
			pthread_mutex_unlock(&lock);
			return fail(buf, cap, -5, "a frame memo changed a frame the walk found");
		}
	}
	put(&o, "#tstate=%#lx gil=%d flags=%u live=1\n", (unsigned long)ts,
	    pyi_loader_holds_gil_sigsafe(&py, ts), flags);
	for (int i = 0; i < n; i++) {
		struct pyi_code_ident id;
		const unsigned char *table = NULL;
		size_t table_len = 0;

		if (!frames[i].code || pyi_loader_code_ident_sigsafe(&py, frames[i].code, &id)) {
			put(&o, "?|?|-1\n");
			continue;
		}
		put_str(&o, id.qualname);
		put(&o, "|");
		put_str(&o, id.filename);
		if (pyi_loader_bytes_sigsafe(&py, id.linetable, &table, &table_len))
			table = NULL;
		put(&o, "|%d\n", table ? pyi_linetable_line(py.linetable_kind, table, table_len,
							    id.first_line, frames[i].instr)
					: -1);
	}
	pthread_mutex_unlock(&lock);
	if (o.overflow)
		return fail(buf, cap, -4, "buffer too small");
	return n;
}

PROBE_API int pyi_probe_stack(char *buf, size_t cap)
{
	return pyi_probe_stack_max(buf, cap, PROBE_MAX_FRAMES);
}

/* Reports how detection went and, for 3.12+, where each TLS method puts the thread-locals
 * (both methods, so the test can compare them). One "key=value" per line. */
PROBE_API int pyi_probe_info(char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };
	const struct pyi_layout *l = &py.layout;

	pthread_once(&once, detect_once);
	put(&o, "status=%d\nwhy=%s\nversion=%s\nhexversion=%#lx\nstatic_libpython=%d\n",
	    status, why, py.version, py.hexversion, py.static_libpython);
	put(&o, "linetable_kind=%d\ntstate_source=%d\n", (int)py.linetable_kind,
	    (int)l->tstate_source);
	put(&o, "tls_tstate=%s%ld\ntls_gilstate=%s%ld\n", l->have_tls_tstate ? "" : "none:",
	    (long)l->tls_tstate, l->have_tls_gilstate ? "" : "none:", (long)l->tls_gilstate);
	if (status == PYI_LOADER_OK && py.minor >= 12) {
		static const char *const names[][2] = {
			{ "_Py_tss_tstate", "_PyThreadState_GetCurrent" },
			{ "_Py_tss_gilstate", "PyGILState_GetThisThreadState" },
		};
		uintptr_t code = (uintptr_t)dlsym(RTLD_DEFAULT, "Py_GetVersion");

		for (size_t i = 0; i < 2; i++) {
			struct pyi_tls_module m;
			char reason[400];
			intptr_t off;
			uintptr_t acc = (uintptr_t)dlsym(RTLD_DEFAULT, names[i][1]);

			if (pyi_tls_find_module(acc ? acc : code, &m) != 0)
				continue;
			if (pyi_tls_from_accessor(&m, acc, &off, reason, sizeof(reason)) == 0)
				put(&o, "%s.accessor=%ld\n", names[i][0], (long)off);
			else
				put(&o, "%s.accessor=none:%s\n", names[i][0], reason);
			if (pyi_tls_from_symtab(&m, names[i][0], &off, reason, sizeof(reason)) == 0)
				put(&o, "%s.symtab=%ld\n", names[i][0], (long)off);
			else
				put(&o, "%s.symtab=none:%s\n", names[i][0], reason);
		}
	}
	if (o.overflow)
		return fail(buf, cap, -4, "buffer too small");
	return status;
}
