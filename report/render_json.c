/*
 * render_json: pyinstr's own JSON, for scripts (specified in docs/JSON.md).
 *
 * Processes, their threads, and per thread a call tree as a flat list of nodes in pre-order,
 * each naming its parent: a tree thousands of levels deep (recursion) stays a flat array, so
 * parsers with a nesting limit (Python's json, for one) read it. Times are integer
 * nanoseconds. The same views as the text output apply: --by-line, --merge-threads,
 * --thread, --time-range, and --metric orders children.
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/describe.h"
#include "report/escape.h"

#define JSON_VERSION 1

static void esc_body(FILE *out, const char *s, size_t n)
{
	pyi_esc_json_body(out, s, n, 0);
}

static void put_weight(FILE *out, const char *prefix, const struct pyi_weight *w)
{
	fprintf(out, "\"%ssamples\": %" PRIu64 ", \"%swall_ns\": %" PRIu64 ", \"%scpu_ns\": %" PRIu64,
		prefix, w->samples, prefix, w->wall_ns, prefix, w->cpu_ns);
}

static const char *kind_name(const struct pyi_tree_node *n)
{
	switch (n->kind) {
	case PYI_TREE_ROOT:
		return "root";
	case PYI_TREE_TRUNCATED:
		return "truncated";
	case PYI_TREE_NO_PYTHON:
		return "no_python";
	case PYI_TREE_FRAME:
		break;
	}
	return n->func == PYI_FUNC_UNKNOWN ? "unknown" : "frame";
}

/* Writes the nodes of a tree in pre-order; ids are positions in that order. */
static int put_nodes(const struct pyi_model *m, const struct pyi_tree *t, FILE *out)
{
	uint32_t *stack = malloc(t->n * sizeof(*stack));
	uint32_t *id = malloc(t->n * sizeof(*id));
	if (!stack || !id) {
		free(stack);
		free(id);
		return -ENOMEM;
	}
	size_t sp = 0, next = 0;
	stack[sp++] = 0;
	fputs("\"nodes\": [", out);
	while (sp) {
		uint32_t v = stack[--sp];
		const struct pyi_tree_node *n = &t->nodes[v];
		id[v] = (uint32_t)next;
		fprintf(out, "%s\n        {\"id\": %zu, \"parent\": ", next ? "," : "", next);
		next++;
		if (v)
			fprintf(out, "%" PRIu32, id[n->parent]);
		else
			fputs("null", out);
		fprintf(out, ", \"kind\": \"%s\"", kind_name(n));
		if (n->kind == PYI_TREE_FRAME) {
			const struct pyi_func *f = &m->funcs[n->func];
			fputs(", \"function\": ", out);
			pyi_esc_json(out, f->qualname, f->qualname_len);
			fputs(", \"file\": ", out);
			pyi_esc_json(out, f->filename, f->filename_len);
			fprintf(out, ", \"line\": %" PRId32 ", \"first_line\": %" PRId32, n->line,
				f->first_line);
		}
		fputs(", ", out);
		put_weight(out, "", &n->total);
		fputs(", ", out);
		put_weight(out, "self_", &n->self);
		putc_unlocked('}', out);
		/* Children go on the stack last first, so they come out heaviest first. */
		size_t first = sp;
		for (uint32_t c = n->first_child; c; c = t->nodes[c].next_sibling)
			stack[sp++] = c;
		for (size_t a = first, b = sp; b > a + 1; a++, b--) {
			uint32_t tmp = stack[a];
			stack[a] = stack[b - 1];
			stack[b - 1] = tmp;
		}
	}
	fputs("\n      ]", out);
	free(stack);
	free(id);
	return 0;
}

static int put_tree(const struct pyi_model *m, const struct pyi_render_options *o,
		    const uint32_t *stacks, size_t n, FILE *out)
{
	struct pyi_tree t;
	pyi_tree_init(&t, o->by_line);
	int rc = pyi_tree_add(&t, m, stacks, n);
	if (!rc)
		rc = pyi_tree_sort(&t, m, o->metric);
	if (!rc)
		rc = put_nodes(m, &t, out);
	pyi_tree_release(&t);
	return rc;
}

static void put_info(const struct pyi_model *m, size_t i, FILE *out)
{
	const struct pyi_file *f = &m->files[i];
	fputs("\"info\": {", out);
	for (size_t k = 0; k < f->ninfo; k++) {
		const struct pyi_kv *kv = &f->info[k];
		fputs(k ? ", " : "", out);
		pyi_esc_json(out, kv->key, kv->key_len);
		fputs(": ", out);
		if (strcmp(kv->key, "argv") != 0) {
			pyi_esc_json(out, kv->value, kv->value_len);
			continue;
		}
		/* argv is a list: NUL-separated in the file. */
		size_t len = kv->value_len;
		if (len && kv->value[len - 1] == '\0')
			len--;
		putc_unlocked('[', out);
		for (size_t a = 0, start = 0; a <= len; a++) {
			if (a < len && kv->value[a] != '\0')
				continue;
			fputs(start ? ", " : "", out);
			pyi_esc_json(out, kv->value + start, a - start);
			start = a + 1;
		}
		putc_unlocked(']', out);
	}
	fputs("}", out);
}

static void put_counters(const struct pyi_model *m, size_t i, FILE *out)
{
	const struct pyi_file *f = &m->files[i];
	fputs("\"counters\": {", out);
	for (size_t k = 0; k < f->ncounters; k++) {
		fputs(k ? ", " : "", out);
		pyi_esc_json(out, f->counters[k].key, strlen(f->counters[k].key));
		fprintf(out, ": %" PRIu64, f->counters[k].value);
	}
	fputs("}", out);
}

static void put_thread_head(const struct pyi_thread *th, FILE *out)
{
	fprintf(out, "\"id\": %" PRIu32 ", \"native_id\": %" PRIu64 ", \"name\": ", th->thread_id,
		th->native_tid);
	if (th->name_len)
		pyi_esc_json(out, th->name, th->name_len);
	else
		fputs("null", out);
	fputs(", \"display_name\": \"", out);
	pyi_describe_thread(th, out, esc_body);
	fprintf(out, "\", \"main\": %s, ", th->is_main ? "true" : "false");
	put_weight(out, "", &th->total);
}

int pyi_render_json(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	uint32_t *grouped = NULL, *sel = NULL;
	size_t *start = NULL;
	int rc = pyi_model_stacks_by_thread(m, &grouped, &start);
	if (rc)
		return rc;
	sel = malloc((m->nstacks ? m->nstacks : 1) * sizeof(*sel));
	if (!sel) {
		rc = -ENOMEM;
		goto out;
	}
	static const char *const metrics[] = { "wall", "cpu", "samples" };
	fprintf(out, "{\n  \"format\": \"pyinstr-report-json\", \"version\": %d,\n", JSON_VERSION);
	fprintf(out, "  \"generator\": \"pyinstr-report %s\",\n", PYI_VERSION);
	fprintf(out, "  \"order\": \"%s\", \"by_line\": %s, \"merged_threads\": %s,\n",
		metrics[o->metric], o->by_line ? "true" : "false",
		o->merge_threads ? "true" : "false");
	if (m->has_range) {
		fprintf(out, "  \"time_range_ns\": [%" PRIu64 ", ", m->range_start_ns);
		if (m->range_end_ns == UINT64_MAX)
			fputs("null],\n", out);
		else
			fprintf(out, "%" PRIu64 "],\n", m->range_end_ns);
	} else {
		fputs("  \"time_range_ns\": null,\n", out);
	}
	fputs("  \"processes\": [", out);
	for (size_t i = 0; i < m->nfiles && !rc; i++) {
		const struct pyi_file *f = &m->files[i];
		fprintf(out, "%s\n    {\"file\": ", i ? "," : "");
		pyi_esc_json(out, f->name, strlen(f->name));
		fprintf(out, ", \"pid\": %" PRIu32 ", \"start_realtime_ns\": %" PRIu64
			", \"duration_ns\": %" PRIu64 ", \"interval_ns\": %" PRIu64
			", \"complete\": %s, \"truncated\": %s,\n     ",
			f->header.pid, f->header.start_realtime_ns, pyi_describe_duration_ns(m, i),
			pyi_describe_interval_ns(m, i), f->ended ? "true" : "false",
			f->result.truncated ? "true" : "false");
		put_weight(out, "", &f->total);
		fputs(",\n     ", out);
		put_info(m, i, out);
		fputs(",\n     ", out);
		put_counters(m, i, out);
		fputs(",\n     \"threads\": [", out);
		if (o->merge_threads) {
			size_t n = 0;
			for (size_t s = 0; s < m->nstacks; s++) {
				uint32_t t = m->stacks[s].thread;
				if (m->threads[t].file == i && pyi_render_thread_on(o, t))
					sel[n++] = (uint32_t)s;
			}
			fputs("\n      {\"id\": null, \"display_name\": \"all threads\", ", out);
			put_weight(out, "", &f->total);
			fputs(",\n      ", out);
			rc = put_tree(m, o, sel, n, out);
			fputs("}", out);
		} else {
			int first = 1;
			for (size_t t = 0; t < m->nthreads && !rc; t++) {
				const struct pyi_thread *th = &m->threads[t];
				if (th->file != i || !pyi_render_thread_on(o, t))
					continue;
				fprintf(out, "%s\n      {", first ? "" : ",");
				first = 0;
				put_thread_head(th, out);
				fputs(",\n      ", out);
				rc = put_tree(m, o, grouped + start[t], start[t + 1] - start[t], out);
				fputs("}", out);
			}
		}
		fputs("\n     ]}", out);
	}
	fputs("\n  ]\n}\n", out);
out:
	free(grouped);
	free(start);
	free(sel);
	return rc;
}
