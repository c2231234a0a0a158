/*
 * frames: numbers the distinct frames an output format lists (speedscope's frame table,
 * pprof's locations): one per function, or per (function, line) when the view is by line.
 * Two markers stand for what is not a Python frame: the missing root end of a truncated stack
 * and a sample with no Python frame. Normal context.
 */
#ifndef PYI_FRAMES_H
#define PYI_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "report/model.h"
#include "report/u32map.h"

/* Pseudo func ids for the markers. */
#define PYI_FRAME_TRUNCATED (UINT32_MAX - 1)
#define PYI_FRAME_NO_PYTHON (UINT32_MAX - 2)

struct pyi_frame_key {
	uint32_t func; /* a model func, or a PYI_FRAME_* marker */
	int32_t line;  /* executing line by line, else the function's first line */
};

struct pyi_frames {
	int by_line;
	uint32_t *of_node; /* per model node: its frame + 1, 0 until asked */
	struct pyi_u64map index;
	struct pyi_frame_key *list;
	size_t n, cap;
};

int pyi_frames_init(struct pyi_frames *f, const struct pyi_model *m, int by_line);
void pyi_frames_release(struct pyi_frames *f);
/* The frame of a model node (not the root); UINT32_MAX when out of memory. */
uint32_t pyi_frames_of_node(struct pyi_frames *f, const struct pyi_model *m, uint32_t node);
/* The frame of a marker; UINT32_MAX when out of memory. */
uint32_t pyi_frames_marker(struct pyi_frames *f, uint32_t marker);
/* A marker's display name. */
const char *pyi_frames_marker_name(uint32_t marker);

#endif
