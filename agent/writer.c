/*
 * writer: the thread that drains the ring into the profile file (docs/FORMAT.md).
 *
 * It turns each ring sample into file records: a THREAD record the first time a thread
 * appears, a CODE record the first time a code object does (from the interned copy), and the
 * SAMPLE itself with each frame's instruction offset decoded to a line through the copied
 * line table (cached per (code, offset): stacks repeat, so decoding is rare). It flushes
 * every FLUSH_NS, so a killed process leaves a file that reads up to the last flush.
 * Runs with every signal blocked, in a descriptor table of its own (agent/fdtable.h) where
 * the kernel allows: it writes through its own copy of the profile's descriptor, which the
 * program cannot close, and ends the file itself when the session stops, so that a file it
 * opened in that table (a fork child's, or one that waited for an interpreter) is ended too.
 * pyi_writer_open runs on the thread that starts the session, or on the writer thread for a
 * file opened late (file_due); pyi_writer_end runs on the stopping thread when the writer
 * thread never ran; neither while the writer thread runs elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/fdtable.h"
#include "agent/session.h"
#include "common/format.h"
#include "common/recbuf.h"
#include "loader/linetable.h"

#define FLUSH_NS 100000000u  /* DESIGN asks for at most 250 ms */
/* The sleep between drains. Each wake-up of this thread costs a CPU about 100 us on a
 * virtual machine (docs/PERFORMANCE.md): at 50 a second, half a percent of a CPU beside one
 * busy thread. So the sleep is as long as the producers allow: by the next wake they should
 * have used no more than a quarter of the pages made present ahead (and of the ring), at the
 * fastest rate seen lately; never shorter than POLL_MIN_NS, never longer than POLL_MAX_NS
 * (records reach the file at most that late, within DESIGN's 250 ms). */
#define POLL_MIN_NS 20000000u
#define POLL_MAX_NS 160000000u
/* Ring pages made present ahead of the producers: far more than a poll's worth of records
 * (16 KiB a sample at the deepest stacks, 250 samples a second a thread). */
#define PREPARE_AHEAD ((size_t)1 << 20)
/* The intern arena made present ahead of use: names and line tables take a few hundred bytes
 * a code object, so even a start-up's burst of new code between two polls fits. */
#define INTERN_AHEAD ((size_t)256 << 10)
#define FLUSH_BYTES (256u << 10)
#define LINE_CACHE_SIZE 65536u

/* Consecutive REPEAT records of a thread are written as one: a thread that stays off the CPU
 * gets one at each of the sampler's looks (idle50 made 34,000 records and 1.8 MB a second),
 * and the report needs only their sum. They are held until the thread's next sample, until
 * they stand for HOLD_MAX_NS of wall time, or until the next flush, so a killed process
 * loses no more of them than of anything else. */
#define HOLD_MAX_NS 100000000u

enum { THREAD_DEFINED = 1, THREAD_HAS_SAMPLE = 2, THREAD_LISTED = 4 };

/* What the writer knows of a thread, by serial. */
struct writer_thread {
	unsigned char flags;
	uint32_t held;        /* repeats held, merged into the three fields below */
	uint64_t held_time_ns, held_wall_ns, held_cpu_ns;
};

struct line_cache_entry {
	uint64_t key;
	int32_t line;
};

static struct {
	struct pyi_recbuf buf;
	struct writer_thread *per_thread; /* by serial */
	uint32_t *held_list;              /* serials that may hold repeats (THREAD_LISTED) */
	size_t per_thread_cap, held_n;
	struct line_cache_entry *lines;
	struct pyi_fmt_frame *frames;
	uint64_t last_flush_ns;
	uint64_t rate; /* bytes a second the producers reserved, the fastest lately */
	uint64_t head_seen, head_seen_at;
	uint64_t threads;
	uint64_t repeats_without_stack;
	int write_errno;
	int signal_noted;
	dev_t dev; /* identity of the profile file, checked before every write */
	ino_t ino;
	int private_table; /* the writer thread runs, in a descriptor table of its own */
	char reopen_path[PATH_MAX]; /* the profile's absolute path, or "" */
} w;

static void say(const char *text)
{
	pyi_fdtable_say(w.private_table, text);
}

static struct writer_thread *writer_thread(uint32_t serial)
{
	if (serial >= w.per_thread_cap) {
		size_t cap = w.per_thread_cap ? w.per_thread_cap : 256;
		while (cap <= serial)
			cap *= 2;
		uint32_t *list = realloc(w.held_list, cap * sizeof(*list));
		if (!list)
			return NULL;
		w.held_list = list;
		struct writer_thread *p = realloc(w.per_thread, cap * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + w.per_thread_cap, 0, (cap - w.per_thread_cap) * sizeof(*p));
		w.per_thread = p;
		w.per_thread_cap = cap;
	}
	return &w.per_thread[serial];
}

static void write_held(uint32_t serial)
{
	struct writer_thread *t = &w.per_thread[serial];
	if (!t->held)
		return;
	pyi_recbuf_sample(&w.buf, serial, t->held_time_ns, t->held_wall_ns, t->held_cpu_ns,
			  PYI_SAMPLE_REPEAT, NULL, 0);
	t->held = 0;
}

static void write_all_held(void)
{
	for (size_t i = 0; i < w.held_n; i++) {
		write_held(w.held_list[i]);
		w.per_thread[w.held_list[i]].flags &= (unsigned char)~THREAD_LISTED;
	}
	w.held_n = 0;
}

static void hold_repeat(struct writer_thread *t, const struct pyi_ring_sample *r)
{
	if (t->held && t->held_wall_ns + r->wall_ns > HOLD_MAX_NS)
		write_held(r->serial);
	if (!t->held) {
		t->held_wall_ns = t->held_cpu_ns = 0;
		if (!(t->flags & THREAD_LISTED)) {
			t->flags |= THREAD_LISTED;
			w.held_list[w.held_n++] = r->serial;
		}
	}
	t->held++;
	t->held_time_ns = r->time_ns;
	t->held_wall_ns += r->wall_ns;
	t->held_cpu_ns += r->cpu_ns;
}

/* A new file, or a fork child's: no thread defined, nothing held. */
static void forget_threads(void)
{
	if (w.per_thread)
		memset(w.per_thread, 0, w.per_thread_cap * sizeof(*w.per_thread));
	w.held_n = 0;
}

/* Never holds the profile at 0, 1 or 2: the program may reopen them and expect them free,
 * and in the writer's own table whatever writes to standard error would land in it. */
static int above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int err = errno;
	close(fd);
	errno = err;
	return moved;
}

static int is_profile(int fd)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == w.dev && st.st_ino == w.ino;
}

/* Is s->fd still the profile we opened? Where the writer shares the program's table, the
 * program may close every descriptor it did not open and reuse the numbers: then the agent
 * must never write to that number again, nor close it. */
static int fd_is_ours(struct pyi_session *s)
{
	if (is_profile(s->fd))
		return 1;
	if (!w.write_errno) {
		w.write_errno = EBADF;
		say("pyinstr: the program closed the profile file; profiling stopped\n");
	}
	if (w.private_table)
		close(s->fd); /* a copy in the writer's own table: nothing of the program's */
	else
		s->program_fd = -1;
	s->fd = -1;
	return 0;
}

/* Closes the descriptor written to (the program's too, where the writer shares its table). */
static void close_profile(struct pyi_session *s)
{
	if (s->fd < 0)
		return;
	close(s->fd);
	if (!w.private_table && s->fd == s->program_fd)
		s->program_fd = -1;
	s->fd = -1;
}

/* Called once the writer thread is gone; a program closing and reopening descriptors at this
 * very moment is the one case the check below cannot rule out. */
void pyi_writer_release(struct pyi_session *s)
{
	if (is_profile(s->program_fd))
		close(s->program_fd);
	s->program_fd = -1;
	w.reopen_path[0] = '\0';
}

void pyi_writer_forget(struct pyi_session *s)
{
	/* The parent's writer thread is gone, and with it any table of its own. */
	w.private_table = 0;
	s->fd = -1;
	pyi_writer_release(s);
	pyi_recbuf_reset(&w.buf);
	forget_threads();
}

/* On the writer thread, just given a table of its own: keeps the profile's descriptor copied
 * from the program's table if it is still the profile; otherwise (the program closed it, or
 * the writer last ran in a table that went away with its thread, before a fork) opens the
 * file again by its path. */
static void adopt_profile(struct pyi_session *s)
{
	char msg[PATH_MAX + 200];
	if (is_profile(s->fd))
		return;
	if (s->fd >= 0)
		close(s->fd); /* the program's file under that number, copied: ours to close */
	s->fd = -1;
	if (!w.reopen_path[0] || w.write_errno)
		return; /* nothing opened yet (a fork child's file waits for samples) */
	int fd = above_stdio(open(w.reopen_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
	if (is_profile(fd)) {
		s->fd = fd;
		return;
	}
	if (fd >= 0)
		close(fd);
	w.write_errno = EBADF;
	snprintf(msg, sizeof(msg),
		 "pyinstr: the program closed the profile file and '%s' is no longer it; "
		 "profiling stopped\n", w.reopen_path);
	say(msg);
}

static void remember_path(const char *path)
{
	char cwd[PATH_MAX];
	size_t dir_len = 0, len = strlen(path);
	w.reopen_path[0] = '\0';
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return;
		dir_len = strlen(cwd) + 1;
		cwd[dir_len - 1] = '/';
	}
	if (dir_len + len >= sizeof(w.reopen_path))
		return;
	memcpy(w.reopen_path, cwd, dir_len);
	memcpy(w.reopen_path + dir_len, path, len + 1);
}

static int flush(struct pyi_session *s)
{
	size_t off = 0;
	write_all_held();
	if (s->fd < 0 || w.write_errno || !fd_is_ours(s)) {
		pyi_recbuf_reset(&w.buf);
		return -1;
	}
	while (off < w.buf.len) {
		ssize_t n = write(s->fd, w.buf.data + off, w.buf.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w.write_errno = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	pyi_recbuf_reset(&w.buf);
	w.last_flush_ns = pyi_now_ns(CLOCK_MONOTONIC);
	return w.write_errno ? -1 : 0;
}

/* Inserts ".N" before the extension of path (or at its end) into out. */
static void numbered_path(const char *path, int n, char *out, size_t out_len)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(path, '.');
	if (!dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
		snprintf(out, out_len, "%s.%d", path, n);
	else
		snprintf(out, out_len, "%.*s.%d%s", (int)(dot - path), path, n, dot);
}

/* Was path written by an earlier program image of this very process (before an exec)? */
static int written_by_this_pid(const char *path, pid_t pid)
{
	unsigned char h[PYI_FMT_HEADER_SIZE];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, h, sizeof(h));
	close(fd);
	return n == (ssize_t)sizeof(h) && memcmp(h, PYI_FMT_MAGIC, PYI_FMT_MAGIC_LEN) == 0 &&
	       pyi_get_u32(h + 16) == (uint32_t)pid;
}

static int open_profile(struct pyi_session *s, const char *path)
{
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
	int exclusive = s->fork_child || written_by_this_pid(path, s->pid);
	int fd = -1;

	if (!exclusive) {
		fd = open(path, flags | O_TRUNC, 0666);
		snprintf(s->path, sizeof(s->path), "%s", path);
	} else {
		/* A child (fork, or this pid's next image after exec) never overwrites. */
		for (int n = 0; n < 1000; n++) {
			if (n == 0)
				snprintf(s->path, sizeof(s->path), "%s", path);
			else
				numbered_path(path, n, s->path, sizeof(s->path));
			fd = open(s->path, flags | O_EXCL, 0666);
			if (fd >= 0 || errno != EEXIST)
				break;
		}
	}
	fd = above_stdio(fd);
	return fd < 0 ? -errno : fd;
}

static void add_info(const char *key, const void *value, size_t len)
{
	pyi_recbuf_info(&w.buf, key, value, len);
}

static void add_info_text(const char *key, const char *value)
{
	add_info(key, value, strlen(value));
}

static void add_info_number(const char *key, unsigned long long value)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", value);
	add_info_text(key, text);
}

static void add_process_info(struct pyi_session *s)
{
	char buf[8192];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n > 0) {
			if (buf[n - 1] == '\0')
				n--; /* the last argument's terminator is not a separator */
			add_info("argv", buf, (size_t)n);
		}
	}
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
	if (n > 0)
		add_info("executable", buf, (size_t)n);
	add_info_text("python_version", s->py->version);
	add_info_text("python_build", s->py->static_libpython ? "static" : "shared");
	add_info_number("interval_ns", s->cfg.interval_ns);
	add_info_number("max_depth", s->cfg.max_depth);
	add_info_text("agent_version", PYI_VERSION);
	add_info_number("ppid", (unsigned long long)getppid());
	if (s->fork_of)
		add_info_number("fork_of", (unsigned long long)s->fork_of);
}

int pyi_writer_open(struct pyi_session *s)
{
	char path[PYI_CONFIG_PATH_MAX];
	char msg[PYI_CONFIG_PATH_MAX + 200];
	char full[PYI_CONFIG_PATH_MAX];
	int rc = pyi_config_expand_output(s->cfg.output, (long)s->pid, path, sizeof(path));
	if (rc == 0 && path[0] != '/' && s->open_deferred && s->start_cwd[0]) {
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", s->start_cwd, path) >=
		    sizeof(full))
			rc = -ENAMETOOLONG;
		else
			memcpy(path, full, sizeof(path));
	}
	if (rc == 0) {
		rc = open_profile(s, path);
		if (rc >= 0) {
			s->fd = rc;
			if (!w.private_table)
				s->program_fd = rc;
			remember_path(s->path);
			rc = 0;
		}
	} else {
		snprintf(path, sizeof(path), "%s", s->cfg.output);
	}
	if (rc == 0) {
		struct stat st;
		if (fstat(s->fd, &st) == 0) {
			w.dev = st.st_dev;
			w.ino = st.st_ino;
		}
	}
	if (rc < 0) {
		s->open_failed = 1;
		snprintf(msg, sizeof(msg),
			 "pyinstr: cannot create the profile '%s': %s; set PYINSTR_OUTPUT to a "
			 "writable path (the program runs unprofiled)\n",
			 path, strerror(-rc));
		say(msg);
		return rc;
	}
	if (!w.lines) {
		w.lines = calloc(LINE_CACHE_SIZE, sizeof(*w.lines));
		w.frames = calloc(65536, sizeof(*w.frames));
		if (!w.lines || !w.frames) {
			close_profile(s);
			return -ENOMEM;
		}
	}
	memset(w.lines, 0, LINE_CACHE_SIZE * sizeof(*w.lines));
	w.threads = 0;
	w.repeats_without_stack = 0;
	w.write_errno = 0;
	w.signal_noted = 0;
	forget_threads();
	pyi_recbuf_reset(&w.buf);
	pyi_recbuf_file_header(&w.buf, (uint32_t)s->pid, s->start_real_ns);
	add_process_info(s);
	return flush(s);
}

static size_t read_comm(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, cap);
	close(fd);
	if (n <= 0)
		return 0;
	if (buf[n - 1] == '\n')
		n--;
	return (size_t)n;
}

/* The thread's OS name, where the program gave it one (it differs from the process's). */
static void define_thread(uint32_t serial, uint32_t tid)
{
	char path[64], name[64], process[64];
	size_t n, pn;
	snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
	n = read_comm(path, name, sizeof(name));
	pn = read_comm("/proc/self/comm", process, sizeof(process));
	if (n == pn && memcmp(name, process, n) == 0)
		n = 0;
	pyi_recbuf_thread(&w.buf, serial, tid, name, n);
}

static int32_t frame_line(struct pyi_session *s, const struct pyi_code_entry *e,
			  uint32_t code_id, int32_t instr)
{
	uint64_t key = ((uint64_t)code_id << 32) | (uint32_t)instr;
	struct line_cache_entry *c = &w.lines[(key * 0x9e3779b97f4a7c15ULL) >> 48];
	if (c->key == key)
		return c->line;
	int line = e->linetable ? pyi_linetable_line(s->py->linetable_kind, e->linetable,
						     e->linetable_len, e->first_line, instr)
				: -1;
	if (line < 0)
		line = e->first_line;
	c->key = key;
	c->line = line;
	return line;
}

/* Encodes one ring record; returns 0, or 1 when a code entry is still being copied. */
static int encode(struct pyi_session *s, const struct pyi_ring_sample *r, int final)
{
	const struct pyi_ring_frame *f = (const struct pyi_ring_frame *)(r + 1);
	struct writer_thread *t = writer_thread(r->serial);
	if (!t)
		return 0;
	for (int i = 0; i < r->depth; i++) {
		struct pyi_code_entry *e = pyi_intern_entry(s->intern, f[i].code_id);
		if (!e)
			continue;
		/* acquire: the entry's fields are read only after its READY store */
		uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
		if ((st == PYI_INTERN_EMPTY || st == PYI_INTERN_FILLING) && !final)
			return 1;
	}
	if (!(t->flags & THREAD_DEFINED)) {
		define_thread(r->serial, r->tid);
		t->flags |= THREAD_DEFINED;
		w.threads++;
	}
	if (r->flags & PYI_SAMPLE_REPEAT) {
		if (!(t->flags & THREAD_HAS_SAMPLE)) {
			w.repeats_without_stack++; /* its stack was dropped: nothing to repeat */
			return 0;
		}
		hold_repeat(t, r);
		return 0;
	}
	write_held(r->serial); /* before the new stack: they repeat the one before it */
	uint16_t flags = r->flags;
	for (int i = 0; i < r->depth; i++) {
		uint32_t id = f[i].code_id;
		struct pyi_code_entry *e = pyi_intern_entry(s->intern, id);
		if (e && atomic_load_explicit(&e->state, memory_order_acquire) != PYI_INTERN_READY)
			e = NULL;
		if (!e) {
			w.frames[i].code_id = 0;
			w.frames[i].line = 0;
			flags |= PYI_SAMPLE_PARTIAL;
			continue;
		}
		if (e->written != s->tag) {
			pyi_recbuf_code(&w.buf, id, e->first_line, e->qualname, e->qualname_len,
					e->filename, e->filename_len);
			e->written = s->tag;
		}
		w.frames[i].code_id = id;
		w.frames[i].line = frame_line(s, e, id, f[i].instr);
	}
	pyi_recbuf_sample(&w.buf, r->serial, r->time_ns, r->wall_ns, r->cpu_ns, flags, w.frames,
			  r->depth);
	t->flags |= THREAD_HAS_SAMPLE;
	return 0;
}

/* Moves ring records into the buffer; returns how many. */
static size_t drain(struct pyi_session *s, int final)
{
	const void *rec;
	uint32_t len;
	size_t n = 0;
	while ((rec = pyi_ring_peek(s->ring, &len))) {
		if (len >= sizeof(struct pyi_ring_sample) && encode(s, rec, final))
			break;
		pyi_ring_pop(s->ring);
		n++;
		if (w.buf.len >= FLUSH_BYTES)
			flush(s);
	}
	return n;
}

static uint64_t load(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void add_counters(struct pyi_session *s)
{
	struct pyi_counters *c = &s->counters;
	struct pyi_fmt_counter list[] = {
		{"samples", load(&c->samples) + load(&c->repeats)},
		{"dropped_ring_full", pyi_ring_dropped(s->ring) + w.repeats_without_stack},
		{"truncated", load(&c->truncated)},
		{"abandoned_fault", load(&c->abandoned_fault)},
		{"unknown_frames", load(&c->unknown_frames)},
		{"intern_full", load(&s->intern->full)},
		{"timer_signals", load(&c->timer_signals)},
		{"repeats", load(&c->repeats)},
		{"blocked_walks", load(&c->remote_walks)},
		{"handler_ns", load(&c->handler_ns)},
		{"signals_late", load(&c->signals_late)},
		{"threads_unsampled", load(&c->threads_unsampled)},
		{"threads_unseen", load(&c->threads_unseen)},
		{"threads_unseen_cpu_ns", load(&c->threads_unseen_cpu_ns)},
		{"period_caps", load(&c->period_caps)},
		{"preempted_unseen", load(&c->preempted_unseen)},
		{"handler_runs", load(&c->handler_runs)},
		{"no_thread_state", load(&c->no_tstate)},
		{"timer_failures", load(&c->timer_failures)},
		{"busy_skips", load(&c->busy_skips)},
		{"stale_signals", load(&c->stale_signals)},
		{"waking_passes", load(&c->waking_passes)},
		{"signals_sent", load(&c->signals_sent)},
		{"contended", load(&c->contended)},
		{"timers_for_idle", load(&c->timers_for_idle)},
		{"wake_cpu_ns", load(&c->wake_cpu_ns)},
		{"wake_ticks_early", load(&c->wake_ticks_early)},
		{"wake_ticks_later", load(&c->wake_ticks_later)},
	};
	pyi_recbuf_counters(&w.buf, list, sizeof(list) / sizeof(list[0]));
}

/* Drains everything, writes counters and END (if reason >= 0), closes, says where. */
static void finish_file(struct pyi_session *s, int reason)
{
	char msg[PYI_CONFIG_PATH_MAX + 400];
	if (s->fd < 0)
		return;
	drain(s, 1);
	write_all_held(); /* before END, which ends the file */
	add_counters(s);
	if (reason >= 0)
		pyi_recbuf_end(&w.buf, pyi_now_ns(CLOCK_MONOTONIC) - s->start_mono_ns,
			       (uint32_t)reason);
	flush(s);
	close_profile(s);
	if (s->cfg.quiet && !w.write_errno)
		return;
	uint64_t samples = load(&s->counters.samples) + load(&s->counters.repeats);
	uint64_t dropped = pyi_ring_dropped(s->ring) + w.repeats_without_stack;
	int n = snprintf(msg, sizeof(msg), "pyinstr: %llu samples of %llu threads written to %s",
			 (unsigned long long)samples, (unsigned long long)w.threads, s->path);
	if (dropped)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n,
			      "; %llu dropped (buffer full: raise PYINSTR_BUFFER)",
			      (unsigned long long)dropped);
	if (load(&s->counters.abandoned_fault))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "; %llu walks abandoned",
			      (unsigned long long)load(&s->counters.abandoned_fault));
	if (load(&s->counters.truncated))
		n += snprintf(msg + n, sizeof(msg) - (size_t)n,
			      "; %llu stacks truncated (PYINSTR_MAX_DEPTH)",
			      (unsigned long long)load(&s->counters.truncated));
	if (w.write_errno)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "; writing failed: %s",
			      strerror(w.write_errno));
	snprintf(msg + n, sizeof(msg) - (size_t)n, "\n");
	say(msg);
}

/*
 * Whether the file, not opened yet, is due now. A fork child's once it has something to say,
 * so a child that execs at once leaves no file behind. One deferred until an interpreter
 * exists once there is one: a program that links libpython but never starts it (perf, for its
 * scripts) gets no file. At the end, the interpreter is asked once more: a program that ran
 * and ended between two of the sampler's looks still gets its file.
 */
static int file_due(struct pyi_session *s, int ending)
{
	if (s->fd >= 0 || atomic_load(&s->open_failed))
		return 0;
	if (s->fork_child)
		return ending ? load(&s->counters.samples) > 0
			      : pyi_ring_peek(s->ring, &(uint32_t){0}) != NULL;
	return s->open_deferred && (atomic_load(&s->interpreter_seen) ||
				    (ending && pyi_loader_interpreter_started_sigsafe(s->py)));
}

void pyi_writer_end(struct pyi_session *s)
{
	if (file_due(s, 1))
		pyi_writer_open(s);
	finish_file(s, s->finish_reason);
	s->writer_finished = 1;
}

/* How long to sleep before the next drain, from how fast the ring filled since the last. */
static uint64_t next_poll_ns(struct pyi_session *s, uint64_t now)
{
	uint64_t head = atomic_load_explicit(&s->ring->head, memory_order_relaxed);
	int known = w.head_seen_at && now > w.head_seen_at && head >= w.head_seen;
	if (known) {
		uint64_t bytes = head - w.head_seen;
		uint64_t rate = bytes < UINT64_MAX / 1000000000u
					? bytes * 1000000000u / (now - w.head_seen_at)
					: UINT64_MAX / 1000000000u;
		/* Halves each poll once the producers slow down: a burst keeps polls short for a
		 * while after it. */
		w.rate = rate > w.rate / 2 ? rate : w.rate / 2;
	}
	w.head_seen = head;
	w.head_seen_at = now;
	if (!known)
		return POLL_MIN_NS; /* the first poll, or the ring was started again */
	size_t budget = s->ring->capacity < PREPARE_AHEAD ? s->ring->capacity : PREPARE_AHEAD;
	uint64_t sleep = w.rate ? (uint64_t)(budget / 4) * 1000000000u / w.rate : POLL_MAX_NS;
	return sleep < POLL_MIN_NS ? POLL_MIN_NS : sleep > POLL_MAX_NS ? POLL_MAX_NS : sleep;
}

void *pyi_writer_main(void *arg)
{
	struct pyi_session *s = arg;
	s->agent_tids[1] = (pid_t)syscall(SYS_gettid);
	if (pyi_fdtable_go_private(s->fd) == 0) {
		w.private_table = 1;
		adopt_profile(s);
	}
	while (!atomic_load_explicit(&s->writer_stop, memory_order_acquire)) {
		pyi_ring_prepare(s->ring, PREPARE_AHEAD);
		pyi_intern_prepare(s->intern, INTERN_AHEAD);
		uint64_t now = pyi_now_ns(CLOCK_MONOTONIC);
		if (pyi_session_sleep_until(s, now + next_poll_ns(s, now), &s->writer_stop, NULL))
			break;
		if (file_due(s, 0) && pyi_writer_open(s) != 0)
			continue;
		if (s->fd < 0)
			continue;
		if (!w.signal_noted && atomic_load(&s->signo_chosen) > 0) {
			/* The signal is chosen only once the interpreter is initialised. */
			add_info_number("signal", (unsigned long long)atomic_load(&s->signo_chosen));
			/* What signalled running threads (set before the signal was published). */
			add_info_text("timer", s->perf ? "perf" : "tick");
			w.signal_noted = 1;
		}
		drain(s, 0);
		now = pyi_now_ns(CLOCK_MONOTONIC);
		if (now - w.last_flush_ns >= FLUSH_NS) {
			add_counters(s);
			flush(s);
		}
	}
	if (atomic_load(&s->finish_requested))
		pyi_writer_end(s);
	if (w.private_table) {
		/* A copy still open goes with this thread's table; the next writer thread (after
		 * a fork) starts from the program's descriptor again. */
		s->fd = s->writer_finished ? -1 : s->program_fd;
		w.private_table = 0;
	}
	return NULL;
}
