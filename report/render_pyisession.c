/*
 * render_pyisession: the JSON session that pyinstrument saves and `pyinstrument --load FILE`
 * reads (pyinstrument 4.x and 5.x, pyinstrument/session.py), so a pyinstr capture opens in
 * pyinstrument's console, HTML and other renderers.
 *
 * A session is a list of frame records, each a stack (root first) and a time in seconds.
 * pyinstrument builds its tree from them in any order, so one record per distinct stack
 * carries the summed time: the file stays small whatever the number of samples. A frame is the
 * string "function\0file\0first_line", plus "\1l<line>" for the executing line; pyinstrument
 * splits on those bytes, so they are replaced in names. Threads are merged (pyinstrument
 * shows one tree); --thread picks threads. Time is wall time, or CPU time with --metric cpu.
 *
 * sys_prefixes tell pyinstrument which files are library code: the interpreter's prefix,
 * derived from the INFO executable path (<prefix>/bin/python).
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/describe.h"
#include "report/escape.h"

static void esc_body(FILE *out, const char *s, size_t n)
{
	pyi_esc_json_body(out, s, n, 0);
}

/* Writes one frame_info string (quoted) for a model node. */
static void put_frame_info(const struct pyi_model *m, uint32_t node, FILE *out)
{
	const struct pyi_node *nd = &m->nodes[node];
	const struct pyi_func *f = &m->funcs[nd->func];
	putc_unlocked('"', out);
	pyi_esc_json_body(out, f->qualname, f->qualname_len, 1);
	fputs("\\u0000", out);
	pyi_esc_json_body(out, f->filename, f->filename_len, 1);
	fprintf(out, "\\u0000%" PRId32 "\\u0001l%" PRId32 "\"", f->first_line, nd->line);
}

static void put_seconds(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

/* The interpreter's prefix: the executable's path without "/bin/<name>". */
static void put_prefix(const struct pyi_model *m, size_t file, FILE *out, int *first)
{
	const struct pyi_kv *exe = pyi_model_info(m, file, "executable");
	if (!exe)
		return;
	size_t n = exe->value_len;
	while (n && exe->value[n - 1] != '/')
		n--;
	if (n < 5 || memcmp(exe->value + n - 5, "/bin/", 5) != 0)
		return;
	n -= 5;
	if (n == 0)
		return;
	fputs(*first ? "\"" : ", \"", out);
	*first = 0;
	pyi_esc_json_body(out, exe->value, n, 0);
	/* A trailing separator, so "/usr" does not also claim "/usr2/app.py". */
	fputs("/\"", out);
}

int pyi_render_pyisession(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	uint32_t max_depth = 0;
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].depth > max_depth)
			max_depth = m->nodes[i].depth;
	uint32_t *path = malloc((max_depth + 1) * sizeof(*path));
	if (!path)
		return -ENOMEM;
	int cpu = o->metric == PYI_METRIC_CPU;

	/* Totals over the selected threads, and the heaviest stack for start_call_stack. */
	struct pyi_weight total = { 0, 0, 0 };
	size_t heaviest = SIZE_MAX;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pyi_stack *s = &m->stacks[i];
		if (!pyi_render_thread_on(o, s->thread) || s->leaf == PYI_NODE_ROOT)
			continue;
		pyi_weight_add(&total, &s->w);
		if (heaviest == SIZE_MAX ||
		    pyi_weight_get(&s->w, o->metric) >
			    pyi_weight_get(&m->stacks[heaviest].w, o->metric))
			heaviest = i;
	}
	uint64_t duration = 0, interval = 0;
	for (size_t i = 0; i < m->nfiles; i++) {
		uint64_t e = pyi_describe_offset_ns(m, i) + pyi_describe_duration_ns(m, i);
		if (e > duration)
			duration = e;
		if (!interval)
			interval = pyi_describe_interval_ns(m, i);
	}
	if (m->has_range && duration > m->range_start_ns)
		duration -= m->range_start_ns;
	if (!interval)
		interval = 1000000;

	fputs("{\"start_time\": ", out);
	put_seconds(out, m->origin_realtime_ns + (m->has_range ? m->range_start_ns : 0));
	fputs(", \"duration\": ", out);
	put_seconds(out, duration);
	fputs(", \"min_interval\": ", out);
	put_seconds(out, interval);
	fputs(", \"max_interval\": ", out);
	put_seconds(out, interval);
	fprintf(out, ", \"sample_count\": %" PRIu64 ", \"cpu_time\": ", total.samples);
	put_seconds(out, total.cpu_ns);
	fputs(",\n \"target_description\": \"Program: ", out);
	if (!m->nfiles || !pyi_describe_argv(m, 0, out, esc_body))
		fputs("(unknown)", out);
	if (m->nfiles > 1)
		fprintf(out, " and %zu more processes", m->nfiles - 1);
	fputs(" (profiled by pyinstr)\",\n \"sys_path\": [], \"sys_prefixes\": [", out);
	int first = 1;
	for (size_t i = 0; i < m->nfiles; i++)
		put_prefix(m, i, out, &first);
	/* pyinstrument reads the first entry of start_call_stack, so it must not be empty. */
	fputs("],\n \"start_call_stack\": [", out);
	if (heaviest != SIZE_MAX && pyi_model_path(m, m->stacks[heaviest].leaf, path, 1) == 1)
		put_frame_info(m, path[0], out);
	else
		fputs("\"[root]\"", out);
	fputs("],\n \"frame_records\": [", out);
	first = 1;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pyi_stack *s = &m->stacks[i];
		if (!pyi_render_thread_on(o, s->thread) || s->leaf == PYI_NODE_ROOT)
			continue;
		uint64_t w = cpu ? s->w.cpu_ns : s->w.wall_ns;
		if (!w)
			continue;
		fputs(first ? "\n  [[" : ",\n  [[", out);
		first = 0;
		size_t depth = pyi_model_path(m, s->leaf, path, max_depth + 1);
		for (size_t d = 0; d < depth; d++) {
			if (d)
				fputs(", ", out);
			put_frame_info(m, path[d], out);
		}
		fputs("], ", out);
		put_seconds(out, w);
		putc_unlocked(']', out);
	}
	fputs("\n ]}\n", out);
	free(path);
	return 0;
}
