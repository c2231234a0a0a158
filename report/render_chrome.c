/*
 * render_chrome: Chrome trace-event JSON ("JSON Object Format"), which Perfetto and
 * chrome://tracing open: a track per thread (pid = the process, tid = the native thread id),
 * and on it one complete ("X") event per stretch of time a frame stayed on the stack.
 *
 * Built by replaying the files in time order. A sample stands for the span of wall time
 * before it, so at each sample the frames it no longer shares with the thread's open stack
 * end where that span begins, and its new frames begin there. Frames are told apart by
 * function (by function and line with --by-line); the stack at a thread's last sample ends at
 * that sample. Memory is one open stack per thread.
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/describe.h"
#include "report/escape.h"

struct open_frame {
	uint32_t func; /* model func, or a marker below */
	int32_t line;
	uint64_t start_ns;
};

#define MARK_TRUNCATED (UINT32_MAX - 1)
#define MARK_NO_PYTHON (UINT32_MAX - 2)

struct lane {
	struct open_frame *open;
	size_t n, cap;
	uint64_t end_ns; /* end of the last sample's span */
	uint32_t leaf, truncated; /* the last sample's stack */
	int started;
};

struct ctx {
	struct pyi_model *m;
	const struct pyi_render_options *o;
	FILE *out;
	struct lane *lanes;
	uint32_t *path;
	size_t path_cap;
	struct open_frame *want; /* the new sample's stack */
	uint64_t events;
};

static void esc_body(FILE *out, const char *s, size_t n)
{
	pyi_esc_json_body(out, s, n, 0);
}

static void put_ts(FILE *out, const char *key, uint64_t ns)
{
	/* Trace timestamps are microseconds; keep nanosecond precision in the fraction. */
	fprintf(out, "\"%s\": %" PRIu64 ".%03" PRIu64, key, ns / 1000, ns % 1000);
}

static void close_frame(struct ctx *c, size_t t, const struct open_frame *f, uint64_t end)
{
	const struct pyi_model *m = c->m;
	const struct pyi_thread *th = &m->threads[t];
	FILE *out = c->out;
	fputs(c->events++ ? ",\n" : "\n", out);
	fputs("{\"ph\": \"X\", \"name\": ", out);
	if (f->func == MARK_TRUNCATED) {
		fputs("\"[truncated: root end of the stack missing]\", \"cat\": \"pyinstr\"", out);
	} else if (f->func == MARK_NO_PYTHON) {
		fputs("\"[no Python frame]\", \"cat\": \"pyinstr\"", out);
	} else {
		const struct pyi_func *fn = &m->funcs[f->func];
		pyi_esc_json(out, fn->qualname, fn->qualname_len);
		fputs(", \"cat\": \"python\", \"args\": {\"file\": ", out);
		pyi_esc_json(out, fn->filename, fn->filename_len);
		fprintf(out, ", \"line\": %" PRId32 "}", f->line);
	}
	fprintf(out, ", \"pid\": %" PRIu32 ", \"tid\": %" PRIu64 ", ", m->files[th->file].header.pid,
		th->native_tid);
	put_ts(out, "ts", f->start_ns);
	fputs(", ", out);
	put_ts(out, "dur", end > f->start_ns ? end - f->start_ns : 0);
	putc_unlocked('}', out);
}

static int on_sample(void *arg, const struct pyi_replay_sample *s)
{
	struct ctx *c = arg;
	const struct pyi_model *m = c->m;
	if (!pyi_render_thread_on(c->o, s->thread))
		return 0;
	struct lane *l = &c->lanes[s->thread];
	uint64_t start = s->time_ns > s->wall_ns ? s->time_ns - s->wall_ns : 0;
	if (start < l->end_ns)
		start = l->end_ns;
	/* The same stack as before (an idle thread, a long loop): the open frames just go on. */
	if (l->started && l->leaf == s->leaf && l->truncated == s->truncated) {
		l->end_ns = s->time_ns > start ? s->time_ns : start;
		return 0;
	}
	l->started = 1;
	l->leaf = s->leaf;
	l->truncated = s->truncated;

	size_t n = 0;
	if (s->truncated)
		c->want[n++] = (struct open_frame){ MARK_TRUNCATED, 0, 0 };
	if (s->leaf == PYI_NODE_ROOT)
		c->want[n++] = (struct open_frame){ MARK_NO_PYTHON, 0, 0 };
	size_t depth = pyi_model_path(m, s->leaf, c->path, c->path_cap);
	for (size_t d = 0; d < depth; d++) {
		const struct pyi_node *nd = &m->nodes[c->path[d]];
		int32_t line = c->o->by_line ? nd->line : m->funcs[nd->func].first_line;
		c->want[n++] = (struct open_frame){ nd->func, line, 0 };
	}

	size_t same = 0;
	while (same < n && same < l->n && l->open[same].func == c->want[same].func &&
	       l->open[same].line == c->want[same].line)
		same++;
	while (l->n > same)
		close_frame(c, s->thread, &l->open[--l->n], start);
	if (n > l->cap) {
		size_t cap = l->cap ? l->cap : 32;
		while (cap < n)
			cap *= 2;
		struct open_frame *p = realloc(l->open, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->open = p;
		l->cap = cap;
	}
	for (; l->n < n; l->n++) {
		l->open[l->n] = c->want[l->n];
		l->open[l->n].start_ns = start;
	}
	l->end_ns = s->time_ns > start ? s->time_ns : start;
	return 0;
}

static void put_metadata(struct ctx *c)
{
	const struct pyi_model *m = c->m;
	FILE *out = c->out;
	for (size_t i = 0; i < m->nfiles; i++) {
		fputs(c->events++ ? ",\n" : "\n", out);
		fprintf(out, "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": %" PRIu32
			", \"tid\": 0, \"args\": {\"name\": \"", m->files[i].header.pid);
		if (!pyi_describe_argv(m, i, out, esc_body))
			fputs("python", out);
		fprintf(out, " (pid %" PRIu32 ")\"}}", m->files[i].header.pid);
	}
	for (size_t t = 0; t < m->nthreads; t++) {
		const struct pyi_thread *th = &m->threads[t];
		if (!pyi_render_thread_on(c->o, t))
			continue;
		fputs(",\n", out);
		fprintf(out, "{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %" PRIu32
			", \"tid\": %" PRIu64 ", \"args\": {\"name\": \"",
			m->files[th->file].header.pid, th->native_tid);
		pyi_describe_thread(th, out, esc_body);
		fputs("\"}}", out);
		/* The main thread first, the others in the order they were seen. */
		fprintf(out, ",\n{\"ph\": \"M\", \"name\": \"thread_sort_index\", \"pid\": %" PRIu32
			", \"tid\": %" PRIu64 ", \"args\": {\"sort_index\": %zu}}",
			m->files[th->file].header.pid, th->native_tid, th->is_main ? 0 : t + 1);
	}
}

int pyi_render_chrome(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	struct ctx c = { .m = m, .o = o, .out = out };
	uint32_t max_depth = 0;
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].depth > max_depth)
			max_depth = m->nodes[i].depth;
	c.path_cap = max_depth + 1;
	c.lanes = calloc(m->nthreads ? m->nthreads : 1, sizeof(*c.lanes));
	c.path = malloc(c.path_cap * sizeof(*c.path));
	c.want = malloc((c.path_cap + 2) * sizeof(*c.want));
	int rc = -ENOMEM;
	if (!c.lanes || !c.path || !c.want)
		goto out;
	fputs("{\"displayTimeUnit\": \"ms\",\n \"otherData\": {\"exporter\": \"pyinstr-report "
	      PYI_VERSION "\"},\n \"traceEvents\": [", out);
	put_metadata(&c);
	rc = pyi_model_replay(m, on_sample, &c);
	if (rc)
		goto out;
	for (size_t t = 0; t < m->nthreads; t++) {
		struct lane *l = &c.lanes[t];
		while (l->n)
			close_frame(&c, t, &l->open[--l->n], l->end_ns);
	}
	fputs("\n]}\n", out);
out:
	if (c.lanes)
		for (size_t t = 0; t < m->nthreads; t++)
			free(c.lanes[t].open);
	free(c.lanes);
	free(c.path);
	free(c.want);
	return rc;
}
