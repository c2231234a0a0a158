/*
 * render_collapsed: the "folded stacks" format of flame-graph tools. One line per distinct
 * stack, root first, frames joined by ';', each frame "qualname (file:line)" with the line
 * executing in that frame, then a space and the weight: the wall time in microseconds, or with
 * --metric cpu the CPU time in microseconds (samples carry unequal weights: a thread off the
 * CPU is credited in long stretches, a running one at each of its samples). Threads (and processes) are merged. Samples with
 * no Python frame are left out: a line needs at least one frame.
 *
 * Names come from the profiled program, so ';' in them becomes ':' and control characters
 * become '?': a line is always exactly one stack.
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "report/escape.h"

static void put_frame(FILE *out, const struct pyi_model *m, const struct pyi_node *nd)
{
	const struct pyi_func *f = &m->funcs[nd->func];
	pyi_esc_collapsed(out, f->qualname, f->qualname_len);
	fputs(" (", out);
	pyi_esc_collapsed(out, f->filename, f->filename_len);
	fprintf(out, ":%" PRId32 ")", nd->line);
}

int pyi_render_collapsed(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	/* Weight per leaf node, all selected threads together. */
	uint64_t *weight = calloc(m->nnodes, sizeof(*weight));
	uint32_t *path = NULL;
	uint32_t max_depth = 0;
	if (!weight)
		return -ENOMEM;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pyi_stack *s = &m->stacks[i];
		if (s->leaf == PYI_NODE_ROOT || !pyi_render_thread_on(o, s->thread))
			continue;
		weight[s->leaf] += o->metric == PYI_METRIC_CPU ? s->w.cpu_ns : s->w.wall_ns;
		if (m->nodes[s->leaf].depth > max_depth)
			max_depth = m->nodes[s->leaf].depth;
	}
	path = malloc((max_depth + 1) * sizeof(*path));
	if (!path) {
		free(weight);
		return -ENOMEM;
	}
	for (size_t leaf = 1; leaf < m->nnodes; leaf++) {
		uint64_t w = (weight[leaf] + 500) / 1000;
		if (!w)
			continue;
		size_t depth = pyi_model_path(m, (uint32_t)leaf, path, max_depth + 1);
		for (size_t d = 0; d < depth; d++) {
			if (d)
				putc_unlocked(';', out);
			put_frame(out, m, &m->nodes[path[d]]);
		}
		fprintf(out, " %" PRIu64 "\n", w);
	}
	free(path);
	free(weight);
	return 0;
}
