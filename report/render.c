/*
 * render: the table of formats and the default options; the renderers live in render_*.c.
 */
#include "report/render.h"

#include <string.h>

void pyi_render_options_init(struct pyi_render_options *o)
{
	memset(o, 0, sizeof(*o));
	o->metric = PYI_METRIC_WALL;
}

static const struct {
	const char *name;
	pyi_render_fn fn;
} formats[] = {
	{ "text", pyi_render_text },
	{ "collapsed", pyi_render_collapsed },
	{ "json", pyi_render_json },
	{ "speedscope", pyi_render_speedscope },
	{ "chrome", pyi_render_chrome },
	{ "pprof", pyi_render_pprof },
	{ "pyisession", pyi_render_pyisession },
};

const char *const pyi_render_names[] = { "text", "collapsed", "json", "speedscope", "chrome",
					 "pprof", "pyisession", NULL };

pyi_render_fn pyi_render_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i].name, name) == 0)
			return formats[i].fn;
	return NULL;
}
