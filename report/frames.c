/*
 * frames: a per-node cache in front of a (func, line) -> frame map, so numbering every frame
 * of every sample costs one array load once the node has been seen.
 */
#include "report/frames.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pyi_frames_init(struct pyi_frames *f, const struct pyi_model *m, int by_line)
{
	memset(f, 0, sizeof(*f));
	f->by_line = by_line;
	pyi_u64map_init(&f->index);
	f->of_node = calloc(m->nnodes ? m->nnodes : 1, sizeof(*f->of_node));
	return f->of_node ? 0 : -ENOMEM;
}

void pyi_frames_release(struct pyi_frames *f)
{
	free(f->of_node);
	free(f->list);
	pyi_u64map_release(&f->index);
	memset(f, 0, sizeof(*f));
}

static uint32_t frame_of(struct pyi_frames *f, uint32_t func, int32_t line)
{
	uint64_t key = (uint64_t)func << 32 | (uint32_t)line;
	uint32_t id = pyi_u64map_get(&f->index, key);
	if (id != PYI_U32MAP_NONE)
		return id;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		struct pyi_frame_key *p = realloc(f->list, cap * sizeof(*p));
		if (!p)
			return UINT32_MAX;
		f->list = p;
		f->cap = cap;
	}
	id = (uint32_t)f->n;
	if (pyi_u64map_put(&f->index, key, id))
		return UINT32_MAX;
	f->list[f->n++] = (struct pyi_frame_key){ func, line };
	return id;
}

uint32_t pyi_frames_of_node(struct pyi_frames *f, const struct pyi_model *m, uint32_t node)
{
	if (f->of_node[node])
		return f->of_node[node] - 1;
	const struct pyi_node *n = &m->nodes[node];
	int32_t line = f->by_line ? n->line : m->funcs[n->func].first_line;
	uint32_t id = frame_of(f, n->func, line);
	if (id != UINT32_MAX)
		f->of_node[node] = id + 1;
	return id;
}

uint32_t pyi_frames_marker(struct pyi_frames *f, uint32_t marker)
{
	return frame_of(f, marker, 0);
}

const char *pyi_frames_marker_name(uint32_t marker)
{
	return marker == PYI_FRAME_TRUNCATED ? "[truncated: root end of the stack missing]"
					     : "[no Python frame]";
}
