/*
 * tree: a call tree for display, built from some of the model's aggregated stacks.
 *
 * The model's trie keeps the executing line in every node; a tree merges what the view does not
 * distinguish: by function (default), frames of one function under one parent are one node;
 * by line, (function, line) pairs stay apart. Stacks that were cut at the depth cap hang under
 * a "[truncated]" marker, samples with no Python frame under a "[no Python frame]" marker, so
 * every sample is shown somewhere. Each node has inclusive and self weights.
 *
 * Normal context; the tree owns its memory and refers into the model (which must outlive it).
 */
#ifndef PYI_TREE_H
#define PYI_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "report/model.h"

enum pyi_tree_kind {
	PYI_TREE_ROOT,
	PYI_TREE_FRAME,
	PYI_TREE_TRUNCATED, /* marker: the stacks below lost their root end */
	PYI_TREE_NO_PYTHON, /* marker: samples taken while the thread ran no Python code */
};

enum pyi_metric {
	PYI_METRIC_WALL,
	PYI_METRIC_CPU,
	PYI_METRIC_SAMPLES,
};

struct pyi_tree_node {
	uint32_t parent;
	uint32_t first_child; /* 0: none (node 0 is the root, never a child) */
	uint32_t next_sibling;
	uint32_t func;
	int32_t line; /* executing line when built by line, else the function's first line */
	uint32_t depth;
	enum pyi_tree_kind kind;
	struct pyi_weight total; /* inclusive */
	struct pyi_weight self;
};

struct pyi_tree {
	struct pyi_tree_node *nodes;
	size_t n, cap;
	int by_line;
	/* Lookup index: (parent, func, line, kind) -> node. */
	uint32_t *slots;
	size_t mask;
};

void pyi_tree_init(struct pyi_tree *t, int by_line);
void pyi_tree_release(struct pyi_tree *t);
/* Adds the given model stacks (indexes into m->stacks). Returns 0 or -ENOMEM. */
int pyi_tree_add(struct pyi_tree *t, const struct pyi_model *m, const uint32_t *stacks,
		 size_t n);
/* Orders every node's children heaviest first by metric (ties by name, so output is stable). */
int pyi_tree_sort(struct pyi_tree *t, const struct pyi_model *m, enum pyi_metric metric);

/* A weight's value in a metric. */
static inline uint64_t pyi_weight_get(const struct pyi_weight *w, enum pyi_metric metric)
{
	switch (metric) {
	case PYI_METRIC_CPU:
		return w->cpu_ns;
	case PYI_METRIC_SAMPLES:
		return w->samples;
	case PYI_METRIC_WALL:
		break;
	}
	return w->wall_ns;
}

static inline void pyi_weight_add(struct pyi_weight *to, const struct pyi_weight *w)
{
	to->samples += w->samples;
	to->wall_ns += w->wall_ns;
	to->cpu_ns += w->cpu_ns;
}

#endif
