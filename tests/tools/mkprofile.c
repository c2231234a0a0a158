/*
 * mkprofile: writes synthetic pyinstr profiles with common/recbuf, for tests and benchmarks.
 *
 *   mkprofile golden OUT     the fixed profile behind tests/golden/ (tests/assets/golden.bin)
 *   mkprofile hostile OUT    names with quotes, <, &, ;, newlines, NUL and invalid UTF-8
 *   mkprofile big N OUT      N samples shaped like a real program: 4 threads, each wandering
 *                            through a call tree of 3000 call sites up to 40 deep; a third
 *                            of the samples idle (REPEAT)
 *
 * Output is deterministic (fixed seeds), so fixtures can be regenerated and compared.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format.h"
#include "common/recbuf.h"

struct out {
	FILE *f;
	struct pyi_recbuf b;
};

static void die(const char *what)
{
	fprintf(stderr, "mkprofile: %s\n", what);
	exit(2);
}

static void check(int rc)
{
	if (rc)
		die(strerror(-rc));
}

/* Writes the buffer out once it is large, so a 10M-sample file needs little memory. */
static void flush(struct out *o, int force)
{
	if (!force && o->b.len < (8u << 20))
		return;
	if (o->b.len && fwrite(o->b.data, 1, o->b.len, o->f) != o->b.len)
		die("write failed");
	pyi_recbuf_reset(&o->b);
}

static void info(struct out *o, const char *key, const char *value)
{
	check(pyi_recbuf_info(&o->b, key, value, strlen(value)));
}

static void code(struct out *o, uint32_t id, int32_t line, const char *q, const char *f)
{
	check(pyi_recbuf_code(&o->b, id, line, q, strlen(q), f, strlen(f)));
}

static void thread(struct out *o, uint32_t id, uint64_t tid, const char *name)
{
	check(pyi_recbuf_thread(&o->b, id, tid, name, strlen(name)));
}

/* frames given root first as (code, line) pairs, for readability; written leaf first. */
static void sample(struct out *o, uint32_t thread_id, uint64_t t, uint64_t wall, uint64_t cpu,
		   uint16_t flags, const int32_t *root_first, uint16_t depth)
{
	struct pyi_fmt_frame fr[64];
	for (uint16_t i = 0; i < depth; i++) {
		fr[i].code_id = (uint32_t)root_first[2 * (depth - 1 - i)];
		fr[i].line = root_first[2 * (depth - 1 - i) + 1];
	}
	check(pyi_recbuf_sample(&o->b, thread_id, t, wall, cpu, flags, fr, depth));
}

#define MS 1000000ull
#define S(...) (const int32_t[]){ __VA_ARGS__ }, (uint16_t)(sizeof((int32_t[]){ __VA_ARGS__ }) / 8)

/*
 * The golden profile: a main thread calling work through user code and the standard library,
 * two named workers, recursion, a library detour back into user code, an unknown frame, a
 * truncated stack, a sample with no Python frame, idle repeats, loss counters and an END.
 */
static void golden(struct out *o)
{
	check(pyi_recbuf_file_header(&o->b, 4242, 1700000000000000000ull));
	static const char argv[] = "python3\0app.py\0--fast";
	check(pyi_recbuf_info(&o->b, "argv", argv, sizeof(argv)));
	info(o, "executable", "/usr/bin/python3.12");
	info(o, "python_version", "3.12.1");
	info(o, "python_build", "shared");
	info(o, "interval_ns", "1000000");
	info(o, "max_depth", "2048");
	info(o, "agent_version", "0.1.0");
	thread(o, 1, 4242, "MainThread");
	code(o, 1, 1, "<module>", "/home/u/app.py");
	code(o, 2, 10, "main", "/home/u/app.py");
	code(o, 3, 20, "compute", "/home/u/app.py");
	code(o, 4, 30, "fib", "/home/u/app.py");
	code(o, 5, 40, "load", "/home/u/app.py");
	code(o, 6, 300, "Thread.run", "/usr/lib/python3.12/threading.py");
	code(o, 7, 100, "Session.get", "/srv/venv/lib/python3.12/site-packages/requests/api.py");
	code(o, 8, 50, "on_reply", "/home/u/app.py");
	code(o, 9, 60, "worker", "/home/u/jobs.py");
	code(o, 10, 1000, "Thread._bootstrap", "/usr/lib/python3.12/threading.py");
	code(o, 11, 70, "sleepy", "/home/u/jobs.py");
	uint64_t t = 0;
	/* main: compute (fib recursion) 6 samples, load 3 (2 in requests calling back), self 1 */
	for (int i = 0; i < 3; i++) {
		t += MS;
		sample(o, 1, t, MS, MS, 0, S(1, 5, 2, 12, 3, 22, 4, 31));
	}
	for (int i = 0; i < 3; i++) {
		t += MS;
		sample(o, 1, t, MS, MS, 0, S(1, 5, 2, 12, 3, 22, 4, 32, 4, 33));
	}
	t += MS;
	sample(o, 1, t, MS, MS / 2, 0, S(1, 5, 2, 13, 5, 41));
	t += MS;
	sample(o, 1, t, MS, MS / 2, 0, S(1, 5, 2, 13, 5, 42, 7, 110, 8, 51));
	t += MS;
	sample(o, 1, t, MS, 0, PYI_SAMPLE_REPEAT, NULL, 0);
	t += MS;
	sample(o, 1, t, MS, MS, 0, S(1, 5, 2, 14));
	/* An unknown frame and a truncated stack. */
	t += MS;
	sample(o, 1, t, MS, MS, PYI_SAMPLE_PARTIAL, S(1, 5, 2, 14, 0, 0));
	t += MS;
	sample(o, 1, t, MS, MS, PYI_SAMPLE_TRUNCATED, S(4, 33, 4, 33, 4, 31));
	/* worker-1 (named late), mostly idle in sleepy. */
	thread(o, 2, 4243, "");
	for (int i = 0; i < 4; i++) {
		t += MS;
		uint16_t flags = i ? PYI_SAMPLE_REPEAT : 0;
		if (i == 0)
			sample(o, 2, t, 2 * MS, MS / 10, flags, S(10, 1010, 6, 305, 9, 62, 11, 71));
		else
			sample(o, 2, t, 2 * MS, 0, flags, NULL, 0);
	}
	thread(o, 2, 4243, "worker-1");
	/* worker-2: no Python frame, then work */
	thread(o, 3, 4244, "worker-2");
	t += MS;
	sample(o, 3, t, MS, MS, 0, NULL, 0);
	t += MS;
	sample(o, 3, t, MS, MS, 0, S(10, 1010, 6, 305, 9, 64, 3, 22));
	/* An unknown record type, which readers skip: written raw, recbuf has no encoder. */
	flush(o, 1);
	unsigned char rec[12];
	pyi_fmt_record_header(rec, 99, 4);
	memcpy(rec + 8, "new!", 4);
	if (fwrite(rec, 1, sizeof(rec), o->f) != sizeof(rec))
		die("write failed");
	struct pyi_fmt_counter c[] = {
		{ "samples", 20 },	   { "dropped_ring_full", 3 }, { "truncated", 1 },
		{ "abandoned_fault", 2 }, { "unknown_frames", 1 },     { "intern_full", 0 },
		{ "signals_sent", 17 },   { "repeats", 4 },
	};
	check(pyi_recbuf_counters(&o->b, c, sizeof(c) / sizeof(c[0])));
	check(pyi_recbuf_end(&o->b, t + MS, PYI_END_EXIT));
}

/* Names that try to break every text format. */
static void hostile(struct out *o)
{
#define NAME(s) { s, sizeof(s) - 1 }
	static const struct {
		const char *s;
		size_t len;
	} names[] = {
		NAME("say \"hi\""),
		NAME("<script>alert(1)</script>"),
		NAME("a & b"),
		NAME("semi;colon"),
		NAME("new\nline"),
		NAME("tab\there"),
		NAME("bad \xff\xfe utf8"),
		NAME("back\\slash"),
		NAME("nul\0inside"),
		NAME("\xe2\x80\xa8line sep"),
		NAME("'single' `tick`"),
		NAME("}]),{[\""),
		NAME("\x1b[31mred\x1b[0m"),
		NAME("\xc2\x85" "c1 control"),
	};
#undef NAME
	check(pyi_recbuf_file_header(&o->b, 7, 1700000000000000000ull));
	static const char argv[] = "python3\0<evil>\n\"arg\"\0\xff";
	check(pyi_recbuf_info(&o->b, "argv", argv, sizeof(argv) - 1));
	info(o, "python_version", "3.12.1\"<&");
	check(pyi_recbuf_thread(&o->b, 1, 7, "Main\"<&>\n\xff", 10));
	size_t n = sizeof(names) / sizeof(names[0]);
	for (size_t i = 0; i < n; i++) {
		/* The file name is another hostile name, so both fields get tested. */
		size_t j = (i + 3) % n;
		check(pyi_recbuf_code(&o->b, (uint32_t)i + 1, (int32_t)i, names[i].s, names[i].len,
				      names[j].s, names[j].len));
	}
	uint64_t t = 0;
	for (size_t i = 0; i < n; i++) {
		struct pyi_fmt_frame fr[3] = { { (uint32_t)i + 1, 7 },
					       { (uint32_t)((i + 1) % n) + 1, 8 },
					       { 1, 9 } };
		t += MS;
		check(pyi_recbuf_sample(&o->b, 1, t, MS, MS, 0, fr, 3));
	}
	check(pyi_recbuf_end(&o->b, t, PYI_END_EXIT));
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/*
 * A realistic large profile. Each thread runs a fixed program: a call tree of a few thousand
 * call sites (function, line) up to 40 deep. A thread wanders through it the way a program
 * does: it stays in one place for a while (the leaf line moving), returns to its caller, or
 * calls into a child; a third of its samples are idle repeats. So consecutive samples share
 * most of their stack, and distinct stacks number in the thousands, as in real profiles.
 */
enum { BIG_FUNCS = 400, BIG_THREADS = 4, BIG_NODES = 3000, BIG_MAXD = 40 };

struct big_node {
	uint32_t parent; /* index, root's parent is itself */
	uint32_t func;
	int32_t line;
	uint16_t depth;
	uint32_t kids[4];
	uint32_t nkids;
};

static void big(struct out *o, uint64_t n)
{
	static struct big_node tree[BIG_THREADS][BIG_NODES];
	check(pyi_recbuf_file_header(&o->b, 1000, 1700000000000000000ull));
	info(o, "python_version", "3.12.1");
	info(o, "interval_ns", "1000000");
	char q[64], f[64];
	for (uint32_t i = 1; i <= BIG_FUNCS; i++) {
		snprintf(q, sizeof(q), "Module%u.function_%u", i % 17, i);
		snprintf(f, sizeof(f), "/srv/app/package%u/module%u.py", i % 7, i % 17);
		code(o, i, (int32_t)(i * 10), q, f);
	}
	uint32_t cur[BIG_THREADS];
	for (uint32_t t = 0; t < BIG_THREADS; t++) {
		snprintf(q, sizeof(q), t ? "worker-%u" : "MainThread", t);
		thread(o, t + 1, 1000 + t, q);
		struct big_node *tr = tree[t];
		tr[0] = (struct big_node){ 0, 1 + t, 1, 1, { 0 }, 0 };
		for (uint32_t i = 1; i < BIG_NODES; i++) {
			uint32_t parent;
			/* Mostly extend recent call sites, so the tree grows deep like real ones. */
			do
				parent = rnd(4) ? i - 1 - rnd(i < 16 ? i : 16) : rnd(i);
			while (tr[parent].nkids == 4 || tr[parent].depth >= BIG_MAXD);
			uint32_t func = 1 + rnd(BIG_FUNCS);
			tr[i] = (struct big_node){ parent, func, (int32_t)(func * 10 + 1 + rnd(20)),
						   (uint16_t)(tr[parent].depth + 1), { 0 }, 0 };
			tr[parent].kids[tr[parent].nkids++] = i;
		}
		cur[t] = 0;
	}
	struct pyi_fmt_frame st[BIG_MAXD];
	uint64_t now = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t t = (uint32_t)(i % BIG_THREADS);
		struct big_node *tr = tree[t];
		now += 1000000 / BIG_THREADS;
		uint32_t r = rnd(12);
		if (r < 4) {
			check(pyi_recbuf_sample(&o->b, t + 1, now, 1000000, 0, PYI_SAMPLE_REPEAT,
						NULL, 0));
			flush(o, 0);
			continue;
		}
		int32_t leaf_line_shift = 0;
		if (r < 7) {
			leaf_line_shift = (int32_t)rnd(3); /* same place, the line moves a little */
		} else if (r < 9 || !tr[cur[t]].nkids) {
			cur[t] = tr[cur[t]].parent;
		} else {
			cur[t] = tr[cur[t]].kids[rnd(tr[cur[t]].nkids)];
		}
		uint16_t d = 0;
		for (uint32_t k = cur[t];; k = tr[k].parent) {
			st[d++] = (struct pyi_fmt_frame){ tr[k].func, tr[k].line };
			if (k == 0)
				break;
		}
		st[0].line += leaf_line_shift;
		check(pyi_recbuf_sample(&o->b, t + 1, now, 1000000, 1000000 - rnd(1000), 0, st, d));
		flush(o, 0);
	}
	struct pyi_fmt_counter c[] = { { "samples", n } };
	check(pyi_recbuf_counters(&o->b, c, 1));
	check(pyi_recbuf_end(&o->b, now, PYI_END_EXIT));
}

int main(int argc, char **argv)
{
	struct out o;
	pyi_recbuf_init(&o.b);
	const char *path;
	if (argc == 3 && (strcmp(argv[1], "golden") == 0 || strcmp(argv[1], "hostile") == 0)) {
		path = argv[2];
	} else if (argc == 4 && strcmp(argv[1], "big") == 0) {
		path = argv[3];
	} else {
		fputs("usage: mkprofile golden|hostile OUT | mkprofile big SAMPLES OUT\n", stderr);
		return 1;
	}
	o.f = fopen(path, "wb");
	if (!o.f)
		die(strerror(errno));
	if (strcmp(argv[1], "golden") == 0)
		golden(&o);
	else if (strcmp(argv[1], "hostile") == 0)
		hostile(&o);
	else
		big(&o, strtoull(argv[2], NULL, 10));
	flush(&o, 1);
	if (fclose(o.f))
		die("write failed");
	pyi_recbuf_release(&o.b);
	return 0;
}
