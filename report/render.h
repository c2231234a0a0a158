/*
 * render: the output formats of pyinstr-report, one file each (render_<name>.c), all reading a
 * loaded model and writing to a stdio stream. Renderers never print to stderr: what the user
 * must be warned about is the CLI's job (report/main.c). Normal context.
 *
 * Each renderer returns 0, or a negative errno (out of memory). Write errors are left in the
 * stream's error flag for the caller to check.
 */
#ifndef PYI_RENDER_H
#define PYI_RENDER_H

#include <regex.h>
#include <stdio.h>

#include "report/model.h"
#include "report/tree.h"

/* The Makefile defines it; formats that name their exporter use it. */
#ifndef PYI_VERSION
#define PYI_VERSION "unknown"
#endif

struct pyi_render_options {
	enum pyi_metric metric;       /* wall (default) or cpu */
	int both_metrics;             /* text: wall and cpu side by side */
	int by_line;                  /* nodes are (function, executing line) */
	int flat;                     /* text: functions by self time */
	int merge_threads;            /* one tree for all threads of a process */
	int show_all;                 /* text: do not collapse library frames */
	int ascii;                    /* text: no box-drawing characters */
	int color;                    /* text: ANSI colours */
	double min_percent;           /* text: hide nodes under this share of their tree */
	unsigned max_depth;           /* text: levels shown, 0 = all */
	const unsigned char *thread_selected; /* per model thread; NULL = all */
	const regex_t *hide;          /* text: file names matching any are library frames */
	size_t nhide;
	const regex_t *show;          /* text: file names matching any are never library */
	size_t nshow;
};

void pyi_render_options_init(struct pyi_render_options *o);

/* Whether thread t takes part in the output. */
static inline int pyi_render_thread_on(const struct pyi_render_options *o, size_t t)
{
	return !o->thread_selected || o->thread_selected[t];
}

int pyi_render_text(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);
int pyi_render_collapsed(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);
int pyi_render_json(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);
int pyi_render_speedscope(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);
int pyi_render_chrome(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);
int pyi_render_pprof(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);
int pyi_render_pyisession(struct pyi_model *m, const struct pyi_render_options *o, FILE *out);

/* The renderer for a --format name, or NULL. */
typedef int (*pyi_render_fn)(struct pyi_model *m, const struct pyi_render_options *o,
			     FILE *out);
pyi_render_fn pyi_render_lookup(const char *name);
/* The format names, for --help; NULL-terminated. */
extern const char *const pyi_render_names[];

#endif
