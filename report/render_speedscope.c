/*
 * render_speedscope: the file format of https://www.speedscope.app
 * (schema: https://www.speedscope.app/file-format-schema.json).
 *
 * One "sampled" profile per thread, samples in time order so speedscope's time-order view is
 * the real timeline. The profiles are built by replaying the files; consecutive samples of a
 * thread with the same stack are merged into one weighted sample, so memory follows the number
 * of stack changes rather than the number of samples (an idle thread costs one entry).
 * Weights are nanoseconds of wall time, or of CPU time with --metric cpu.
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/describe.h"
#include "report/escape.h"
#include "report/frames.h"

struct run {
	uint32_t leaf;
	uint32_t truncated;
	uint64_t weight;
};

struct track {
	struct run *runs;
	size_t n, cap;
	uint64_t total;
};

struct ctx {
	struct pyi_model *m;
	const struct pyi_render_options *o;
	struct track *tracks; /* per model thread */
};

static int on_sample(void *arg, const struct pyi_replay_sample *s)
{
	struct ctx *c = arg;
	if (!pyi_render_thread_on(c->o, s->thread))
		return 0;
	uint64_t w = c->o->metric == PYI_METRIC_CPU ? s->cpu_ns : s->wall_ns;
	if (!w)
		return 0;
	struct track *t = &c->tracks[s->thread];
	t->total += w;
	if (t->n && t->runs[t->n - 1].leaf == s->leaf && t->runs[t->n - 1].truncated == s->truncated) {
		t->runs[t->n - 1].weight += w;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct run *p = realloc(t->runs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->runs = p;
		t->cap = cap;
	}
	t->runs[t->n++] = (struct run){ s->leaf, s->truncated, w };
	return 0;
}

static void esc_body(FILE *out, const char *s, size_t n)
{
	pyi_esc_json_body(out, s, n, 0);
}

/* Numbers every frame of a track's stacks (the frame table is written before the samples). */
static int number_frames(struct ctx *c, struct pyi_frames *fr, size_t t, uint32_t *path,
			 size_t path_cap)
{
	const struct track *tr = &c->tracks[t];
	for (size_t i = 0; i < tr->n; i++) {
		const struct run *r = &tr->runs[i];
		if (r->truncated && pyi_frames_marker(fr, PYI_FRAME_TRUNCATED) == UINT32_MAX)
			return -ENOMEM;
		if (r->leaf == PYI_NODE_ROOT &&
		    pyi_frames_marker(fr, PYI_FRAME_NO_PYTHON) == UINT32_MAX)
			return -ENOMEM;
		size_t depth = pyi_model_path(c->m, r->leaf, path, path_cap);
		for (size_t d = 0; d < depth; d++)
			if (pyi_frames_of_node(fr, c->m, path[d]) == UINT32_MAX)
				return -ENOMEM;
	}
	return 0;
}

/* Writes a track; every frame it uses is numbered already. */
static void put_profile(struct ctx *c, struct pyi_frames *fr, size_t t, uint32_t *path,
			size_t path_cap, FILE *out)
{
	const struct pyi_model *m = c->m;
	const struct pyi_thread *th = &m->threads[t];
	const struct track *tr = &c->tracks[t];
	fputs("\n    {\"type\": \"sampled\", \"name\": \"", out);
	pyi_describe_thread(th, out, esc_body);
	if (m->nfiles > 1)
		fprintf(out, " (pid %" PRIu32 ")", m->files[th->file].header.pid);
	fprintf(out, "\", \"unit\": \"nanoseconds\", \"startValue\": 0, \"endValue\": %" PRIu64
		",\n     \"samples\": [", tr->total);
	for (size_t i = 0; i < tr->n; i++) {
		const struct run *r = &tr->runs[i];
		fputs(i ? ",[" : "[", out);
		int sep = 0;
		if (r->truncated) {
			pyi_put_uint(out, pyi_frames_marker(fr, PYI_FRAME_TRUNCATED));
			sep = 1;
		}
		if (r->leaf == PYI_NODE_ROOT) {
			if (sep)
				putc_unlocked(',', out);
			pyi_put_uint(out, pyi_frames_marker(fr, PYI_FRAME_NO_PYTHON));
		}
		size_t depth = pyi_model_path(m, r->leaf, path, path_cap);
		for (size_t d = 0; d < depth; d++) {
			if (sep)
				putc_unlocked(',', out);
			pyi_put_uint(out, pyi_frames_of_node(fr, m, path[d]));
			sep = 1;
		}
		putc_unlocked(']', out);
	}
	fputs("],\n     \"weights\": [", out);
	for (size_t i = 0; i < tr->n; i++) {
		if (i)
			putc_unlocked(',', out);
		pyi_put_uint(out, tr->runs[i].weight);
	}
	fputs("]}", out);
}

static void put_frames(const struct pyi_model *m, const struct pyi_frames *fr, FILE *out)
{
	fputs("  \"shared\": {\"frames\": [", out);
	for (size_t i = 0; i < fr->n; i++) {
		const struct pyi_frame_key *k = &fr->list[i];
		fputs(i ? ",\n    " : "\n    ", out);
		if (k->func == PYI_FRAME_TRUNCATED || k->func == PYI_FRAME_NO_PYTHON) {
			fprintf(out, "{\"name\": \"%s\"}", pyi_frames_marker_name(k->func));
			continue;
		}
		const struct pyi_func *f = &m->funcs[k->func];
		fputs("{\"name\": ", out);
		pyi_esc_json(out, f->qualname, f->qualname_len);
		fputs(", \"file\": ", out);
		pyi_esc_json(out, f->filename, f->filename_len);
		fprintf(out, ", \"line\": %" PRId32 "}", k->line);
	}
	fputs("\n  ]},\n", out);
}

int pyi_render_speedscope(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	struct ctx c = { m, o, calloc(m->nthreads ? m->nthreads : 1, sizeof(*c.tracks)) };
	struct pyi_frames fr;
	uint32_t *path = NULL;
	int rc = -ENOMEM;
	memset(&fr, 0, sizeof(fr));
	if (!c.tracks || pyi_frames_init(&fr, m, o->by_line))
		goto out;
	rc = pyi_model_replay(m, on_sample, &c);
	if (rc)
		goto out;
	uint32_t max_depth = 0;
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].depth > max_depth)
			max_depth = m->nodes[i].depth;
	path = malloc((max_depth + 1) * sizeof(*path));
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t t = 0; t < m->nthreads && !rc; t++)
		rc = number_frames(&c, &fr, t, path, max_depth + 1);
	if (rc)
		goto out;
	fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n", out);
	fputs("  \"name\": \"", out);
	if (!m->nfiles || !pyi_describe_argv(m, 0, out, esc_body))
		fputs("pyinstr profile", out);
	fputs("\",\n  \"exporter\": \"pyinstr-report " PYI_VERSION "\",\n", out);
	fputs("  \"activeProfileIndex\": 0,\n", out);
	put_frames(m, &fr, out);
	fputs("  \"profiles\": [", out);
	int nprofiles = 0;
	for (size_t t = 0; t < m->nthreads; t++) {
		if (!c.tracks[t].n)
			continue;
		if (nprofiles++)
			putc_unlocked(',', out);
		put_profile(&c, &fr, t, path, max_depth + 1, out);
	}
	fputs("\n  ]\n}\n", out);
out:
	if (c.tracks)
		for (size_t t = 0; t < m->nthreads; t++)
			free(c.tracks[t].runs);
	free(c.tracks);
	free(path);
	pyi_frames_release(&fr);
	return rc;
}
