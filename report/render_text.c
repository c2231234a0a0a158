/*
 * render_text: the default view, a call tree per thread in the manner of pyinstrument.
 *
 * Per process: a header (program, Python, duration, samples, interval, wall and CPU totals,
 * and every loss counter that is not zero), then one tree per thread (or one for all threads
 * with --merge-threads), or with --flat a table of functions by self time.
 *
 * Library frames (standard library, site-packages, <frozen ...>, --hide) are collapsed: the
 * first library frame entered from user code is shown, the library frames below it are counted
 * in one "[N frames hidden]" line, and the user code they call back into is shown under it.
 * Their own time is added to the shown frame's self time, so no time disappears.
 *
 * Trees can be thousands of levels deep (recursion), so they are walked with an explicit stack.
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/describe.h"
#include "report/escape.h"

enum item_type { ITEM_NODE, ITEM_SELF };

struct item {
	uint32_t node;
	uint32_t depth;
	uint8_t type;
	uint8_t is_last;
	struct pyi_weight self; /* ITEM_SELF: the weight; ITEM_NODE: hidden frames' own time */
};

struct vec {
	struct item *v;
	size_t n, cap;
};

struct text {
	struct pyi_model *m;
	const struct pyi_render_options *o;
	FILE *out;
	unsigned char *library; /* per func: collapsed unless --show-all */
	/* Per tree being drawn. */
	const struct pyi_tree *t;
	struct pyi_weight root;
	struct vec stack, kids;
	unsigned char *last; /* per depth: the item drawn there was its parent's last child */
	size_t last_cap;
};

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"

static int push(struct vec *v, const struct item *it)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct item *p = realloc(v->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n++] = *it;
	return 0;
}

static void color(struct text *x, const char *code)
{
	if (x->o->color)
		fputs(code, x->out);
}

static void put_seconds(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03" PRIu64, ns / 1000000000u, ns / 1000000u % 1000u);
}

/* A duration for the header: "2.013 s", "250 ms", "100 us". */
static void put_duration(FILE *out, uint64_t ns)
{
	if (ns >= 1000000000u)
		fprintf(out, "%.3f s", (double)ns / 1e9);
	else if (ns >= 1000000u)
		fprintf(out, "%.3g ms", (double)ns / 1e6);
	else
		fprintf(out, "%.3g us", (double)ns / 1e3);
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* --- library frames ------------------------------------------------------------------- */

static int contains(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

/* The standard library: ".../lib/pythonX.Y/..." outside site-packages. */
static int is_stdlib(const char *s, size_t n)
{
	static const char *const dirs[] = { "/lib/python", "/lib64/python" };
	for (size_t d = 0; d < 2; d++) {
		size_t k = strlen(dirs[d]);
		for (size_t i = 0; i + k < n; i++) {
			if (memcmp(s + i, dirs[d], k) != 0)
				continue;
			size_t j = i + k;
			while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.'))
				j++;
			if (j > i + k && j < n && s[j] == '/')
				return 1;
		}
	}
	return 0;
}

static int matches_any(const regex_t *re, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (regexec(&re[i], s, 0, NULL, 0) == 0)
			return 1;
	return 0;
}

static int classify_library(struct text *x)
{
	const struct pyi_model *m = x->m;
	x->library = calloc(m->nfuncs ? m->nfuncs : 1, 1);
	if (!x->library)
		return -ENOMEM;
	if (x->o->show_all)
		return 0;
	for (size_t i = 1; i < m->nfuncs; i++) {
		const struct pyi_func *f = &m->funcs[i];
		const char *s = f->filename;
		size_t n = f->filename_len;
		int lib;
		if (matches_any(x->o->show, x->o->nshow, s))
			lib = 0;
		else if (matches_any(x->o->hide, x->o->nhide, s))
			lib = 1;
		else
			lib = (n >= 7 && memcmp(s, "<frozen", 7) == 0) ||
			      (n >= 9 && memcmp(s, "<built-in", 9) == 0) ||
			      contains(s, n, "/site-packages/") || contains(s, n, "/dist-packages/") ||
			      is_stdlib(s, n);
		x->library[i] = (unsigned char)lib;
	}
	return 0;
}

/* A short name for a library file: "threading", "requests", "<frozen runpy>". */
static void library_name(const struct pyi_func *f, const char **s, size_t *n)
{
	const char *p = f->filename;
	size_t len = f->filename_len;
	if (len && p[0] == '<') {
		*s = p;
		*n = len;
		return;
	}
	static const char *const pkgs[] = { "/site-packages/", "/dist-packages/" };
	for (size_t k = 0; k < 2; k++) {
		size_t kl = strlen(pkgs[k]);
		for (size_t i = 0; i + kl <= len; i++) {
			if (memcmp(p + i, pkgs[k], kl) != 0)
				continue;
			const char *top = p + i + kl;
			size_t rest = len - i - kl, j = 0;
			while (j < rest && top[j] != '/' && top[j] != '.')
				j++;
			*s = top;
			*n = j;
			return;
		}
	}
	size_t b = len;
	while (b > 0 && p[b - 1] != '/')
		b--;
	size_t e = len;
	/* A package's __init__.py is named after its directory. */
	if (len - b == 11 && memcmp(p + b, "__init__.py", 11) == 0 && b > 1) {
		e = b - 1;
		b = e;
		while (b > 0 && p[b - 1] != '/')
			b--;
		*s = p + b;
		*n = e - b;
		return;
	}
	if (e - b > 3 && memcmp(p + e - 3, ".py", 3) == 0)
		e -= 3;
	*s = p + b;
	*n = e - b;
}

/* --- one line of the tree ------------------------------------------------------------- */

/* A time and its share of the tree; width > 0 right-aligns the time (tables). */
static void put_metric_w(struct text *x, const struct pyi_weight *w, enum pyi_metric metric,
			 int width)
{
	uint64_t v = pyi_weight_get(w, metric);
	double pct = share(v, pyi_weight_get(&x->root, metric));
	if (x->o->color) {
		const char *c = pct >= 60 ? C_RED : pct >= 30 ? C_YELLOW : pct >= 10 ? C_GREEN
										    : C_DIM;
		fputs(c, x->out);
	}
	char t[32];
	snprintf(t, sizeof(t), "%" PRIu64 ".%03" PRIu64, v / 1000000000u, v / 1000000u % 1000u);
	fprintf(x->out, "%*s %5.1f%%", width, t, pct);
	color(x, C_RESET);
}

static void put_metric(struct text *x, const struct pyi_weight *w, enum pyi_metric metric)
{
	put_metric_w(x, w, metric, 0);
}

static void put_weights(struct text *x, const struct pyi_weight *w)
{
	if (x->o->both_metrics) {
		put_metric(x, w, PYI_METRIC_WALL);
		fputs("  ", x->out);
		put_metric(x, w, PYI_METRIC_CPU);
	} else {
		put_metric(x, w, x->o->metric);
	}
	fputs("  ", x->out);
}

static void put_prefix(struct text *x, const struct item *it)
{
	const char *bar = x->o->ascii ? "|  " : "\u2502  ";
	const char *tee = x->o->ascii ? "|- " : "\u251c\u2500 ";
	const char *elbow = x->o->ascii ? "`- " : "\u2514\u2500 ";
	if (it->depth == 0)
		return;
	color(x, C_DIM);
	for (uint32_t d = 1; d < it->depth; d++)
		fputs(x->last[d] ? "   " : bar, x->out);
	fputs(it->is_last ? elbow : tee, x->out);
	color(x, C_RESET);
}

/* The prefix of a line under item it that is not itself a branch (the hidden-frames note). */
static void put_continuation(struct text *x, const struct item *it, int has_kids)
{
	const char *bar = x->o->ascii ? "|  " : "\u2502  ";
	color(x, C_DIM);
	for (uint32_t d = 1; d <= it->depth; d++)
		fputs(x->last[d] ? "   " : bar, x->out);
	fputs(has_kids ? bar : "   ", x->out);
	color(x, C_RESET);
}

static void put_frame_name(struct text *x, uint32_t node)
{
	const struct pyi_tree_node *tn = &x->t->nodes[node];
	switch (tn->kind) {
	case PYI_TREE_TRUNCATED:
		color(x, C_YELLOW);
		fputs("[truncated: stacks deeper than the depth cap, root end missing]", x->out);
		color(x, C_RESET);
		return;
	case PYI_TREE_NO_PYTHON:
		color(x, C_DIM);
		fputs("[no Python frame]", x->out);
		color(x, C_RESET);
		return;
	case PYI_TREE_ROOT:
	case PYI_TREE_FRAME:
		break;
	}
	if (tn->func == PYI_FUNC_UNKNOWN) {
		color(x, C_YELLOW);
		fputs("[unknown frame: the agent could not read it]", x->out);
		color(x, C_RESET);
		return;
	}
	const struct pyi_func *f = &x->m->funcs[tn->func];
	int lib = x->library[tn->func];
	color(x, lib ? C_DIM : C_BOLD);
	pyi_esc_text(x->out, f->qualname, f->qualname_len);
	color(x, C_RESET);
	fputs("  ", x->out);
	color(x, C_DIM);
	pyi_esc_text(x->out, f->filename, f->filename_len);
	fprintf(x->out, ":%" PRId32, tn->line);
	color(x, C_RESET);
}

/* --- building what is shown under a node ---------------------------------------------- */

static int shown(struct text *x, const struct pyi_weight *w)
{
	uint64_t v = pyi_weight_get(w, x->o->metric);
	uint64_t whole = pyi_weight_get(&x->root, x->o->metric);
	if (!w->samples)
		return 0;
	if (x->o->min_percent <= 0)
		return 1;
	return share(v, whole) >= x->o->min_percent;
}

struct hidden {
	uint64_t frames;
	const char *names[5];
	size_t lens[5];
	size_t nnames;
	int more;
};

static void note_hidden(struct hidden *h, const struct pyi_func *f)
{
	const char *s;
	size_t n;
	library_name(f, &s, &n);
	h->frames++;
	for (size_t i = 0; i < h->nnames; i++)
		if (h->lens[i] == n && memcmp(h->names[i], s, n) == 0)
			return;
	if (h->nnames == 5) {
		h->more = 1;
		return;
	}
	h->names[h->nnames] = s;
	h->lens[h->nnames++] = n;
}

/*
 * Fills x->kids with what is drawn under node (children, and a [self] line), heaviest first,
 * and h with the library frames folded into it. *self gets node's own time, hidden frames'
 * included.
 */
static int expand(struct text *x, uint32_t node, struct hidden *h, struct pyi_weight *self)
{
	const struct pyi_tree *t = x->t;
	const struct pyi_tree_node *tn = &t->nodes[node];
	int fold = tn->kind == PYI_TREE_FRAME && x->library[tn->func];
	*self = tn->self;
	memset(h, 0, sizeof(*h));
	x->kids.n = 0;
	/* Tree nodes still to place: the children, then what folded library frames call. */
	struct vec work = { 0 };
	int rc = 0;
	for (uint32_t c = tn->first_child; c; c = t->nodes[c].next_sibling) {
		struct item it = { .node = c, .type = ITEM_NODE };
		if ((rc = push(&work, &it)))
			goto out;
	}
	for (size_t i = 0; i < work.n; i++) {
		uint32_t c = work.v[i].node;
		const struct pyi_tree_node *cn = &t->nodes[c];
		if (fold && cn->kind == PYI_TREE_FRAME && x->library[cn->func]) {
			note_hidden(h, &x->m->funcs[cn->func]);
			pyi_weight_add(self, &cn->self);
			for (uint32_t g = cn->first_child; g; g = t->nodes[g].next_sibling) {
				struct item it = { .node = g, .type = ITEM_NODE };
				if ((rc = push(&work, &it)))
					goto out;
			}
			continue;
		}
		if (!shown(x, &cn->total))
			continue;
		struct item it = { .node = c, .type = ITEM_NODE, .depth = tn->depth + 1 };
		if ((rc = push(&x->kids, &it)))
			goto out;
	}
	if (x->kids.n && shown(x, self)) {
		struct item it = { .node = node, .type = ITEM_SELF, .self = *self };
		if ((rc = push(&x->kids, &it)))
			goto out;
	}
	/* Children came sorted from the tree; folded ones and [self] need a merge by weight. */
	enum pyi_metric metric = x->o->metric;
	for (size_t i = 1; i < x->kids.n; i++) {
		struct item cur = x->kids.v[i];
		const struct pyi_weight *cw = cur.type == ITEM_SELF ? &cur.self
								    : &t->nodes[cur.node].total;
		uint64_t v = pyi_weight_get(cw, metric);
		size_t j = i;
		while (j > 0) {
			const struct item *p = &x->kids.v[j - 1];
			const struct pyi_weight *pw = p->type == ITEM_SELF ? &p->self
									   : &t->nodes[p->node].total;
			if (pyi_weight_get(pw, metric) >= v)
				break;
			x->kids.v[j] = *p;
			j--;
		}
		x->kids.v[j] = cur;
	}
out:
	free(work.v);
	return rc;
}

static int set_last(struct text *x, uint32_t depth, int is_last)
{
	if (depth >= x->last_cap) {
		size_t cap = x->last_cap ? x->last_cap : 64;
		while (cap <= depth)
			cap *= 2;
		unsigned char *p = realloc(x->last, cap);
		if (!p)
			return -ENOMEM;
		x->last = p;
		x->last_cap = cap;
	}
	x->last[depth] = (unsigned char)is_last;
	return 0;
}

static int draw_tree(struct text *x, const struct pyi_tree *t)
{
	x->t = t;
	x->root = t->nodes[0].total;
	x->stack.n = 0;
	struct hidden h;
	struct pyi_weight self;
	int rc = expand(x, 0, &h, &self);
	if (rc)
		return rc;
	/* Top-level frames have no branch; their depth is 0. */
	for (size_t i = x->kids.n; i > 0; i--) {
		struct item it = x->kids.v[i - 1];
		if (it.type == ITEM_SELF)
			continue;
		it.depth = 0;
		it.is_last = 1;
		if ((rc = push(&x->stack, &it)))
			return rc;
	}
	while (x->stack.n) {
		struct item it = x->stack.v[--x->stack.n];
		if ((rc = set_last(x, it.depth, it.is_last)))
			return rc;
		put_prefix(x, &it);
		if (it.type == ITEM_SELF) {
			put_weights(x, &it.self);
			color(x, C_DIM);
			fputs("[self]", x->out);
			color(x, C_RESET);
			putc_unlocked('\n', x->out);
			continue;
		}
		put_weights(x, &x->t->nodes[it.node].total);
		put_frame_name(x, it.node);
		putc_unlocked('\n', x->out);
		if (x->o->max_depth && it.depth + 1 >= x->o->max_depth)
			continue;
		if ((rc = expand(x, it.node, &h, &self)))
			return rc;
		if (h.frames) {
			put_continuation(x, &it, x->kids.n > 0);
			color(x, C_DIM);
			fprintf(x->out, "[%" PRIu64 " frame%s hidden]  ", h.frames,
				h.frames == 1 ? "" : "s");
			for (size_t i = 0; i < h.nnames; i++) {
				if (i)
					fputs(", ", x->out);
				pyi_esc_text(x->out, h.names[i], h.lens[i]);
			}
			if (h.more)
				fputs(", ...", x->out);
			color(x, C_RESET);
			putc_unlocked('\n', x->out);
		}
		for (size_t i = x->kids.n; i > 0; i--) {
			struct item k = x->kids.v[i - 1];
			k.depth = it.depth + 1;
			k.is_last = i == x->kids.n;
			if ((rc = push(&x->stack, &k)))
				return rc;
		}
	}
	return 0;
}

/* --- flat view ------------------------------------------------------------------------ */

struct flat_entry {
	uint32_t func;
	int32_t line;
	struct pyi_weight self, total;
};

struct flat {
	struct flat_entry *e;
	size_t n, cap;
	uint32_t *slots; /* entry + 1 */
	size_t mask;
};

static uint64_t flat_hash(uint32_t func, int32_t line)
{
	uint64_t v = ((uint64_t)func << 32 | (uint32_t)line) * 0x9e3779b97f4a7c15ULL;
	return v ^ (v >> 29);
}

static int flat_rehash(struct flat *f)
{
	size_t n = f->slots ? (f->mask + 1) * 2 : 256;
	uint32_t *s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++) {
		size_t j = flat_hash(f->e[i].func, f->e[i].line) & (n - 1);
		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = (uint32_t)i + 1;
	}
	free(f->slots);
	f->slots = s;
	f->mask = n - 1;
	return 0;
}

/* Index of the entry for (func, line), created if new; -1 when out of memory. */
static long flat_entry(struct flat *f, uint32_t func, int32_t line)
{
	if ((!f->slots || (f->n + 1) * 2 > f->mask + 1) && flat_rehash(f))
		return -1;
	size_t j = flat_hash(func, line) & f->mask;
	for (; f->slots[j]; j = (j + 1) & f->mask) {
		struct flat_entry *e = &f->e[f->slots[j] - 1];
		if (e->func == func && e->line == line)
			return (long)f->slots[j] - 1;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct flat_entry *p = realloc(f->e, cap * sizeof(*p));
		if (!p)
			return -1;
		f->e = p;
		f->cap = cap;
	}
	memset(&f->e[f->n], 0, sizeof(f->e[0]));
	f->e[f->n].func = func;
	f->e[f->n].line = line;
	f->slots[j] = (uint32_t)f->n + 1;
	return (long)f->n++;
}

static int cmp_flat(const void *pa, const void *pb, void *arg)
{
	const struct flat_entry *a = pa, *b = pb;
	enum pyi_metric metric = *(const enum pyi_metric *)arg;
	uint64_t x = pyi_weight_get(&a->self, metric), y = pyi_weight_get(&b->self, metric);
	if (x != y)
		return x > y ? -1 : 1;
	x = pyi_weight_get(&a->total, metric);
	y = pyi_weight_get(&b->total, metric);
	if (x != y)
		return x > y ? -1 : 1;
	if (a->func != b->func)
		return a->func < b->func ? -1 : 1;
	return (a->line > b->line) - (a->line < b->line);
}

/*
 * Self time per function is the sum of its nodes' self time; total time counts a sample once
 * even when the function is on the stack several times (recursion), so a node adds to total
 * only when no ancestor has the same key. A depth-first walk keeps a count per key on the path.
 */
static int draw_flat(struct text *x, const struct pyi_tree *t)
{
	struct flat f = { 0 };
	long *key = malloc(t->n * sizeof(*key));
	uint32_t *on_path = NULL, *stack = NULL;
	int rc = -ENOMEM;
	if (!key)
		goto out;
	for (size_t i = 1; i < t->n; i++) {
		const struct pyi_tree_node *tn = &t->nodes[i];
		key[i] = -1;
		if (tn->kind != PYI_TREE_FRAME)
			continue;
		key[i] = flat_entry(&f, tn->func, t->by_line ? tn->line : x->m->funcs[tn->func].first_line);
		if (key[i] < 0)
			goto out;
		pyi_weight_add(&f.e[key[i]].self, &tn->self);
	}
	on_path = calloc(f.n ? f.n : 1, sizeof(*on_path));
	/* Entries are pushed as node ids; a node pushed a second time (with bit 31) is an exit. */
	stack = malloc(2 * t->n * sizeof(*stack));
	if (!on_path || !stack)
		goto out;
	size_t sp = 0;
	for (uint32_t c = t->nodes[0].first_child; c; c = t->nodes[c].next_sibling)
		stack[sp++] = c;
	while (sp) {
		uint32_t v = stack[--sp];
		if (v & 0x80000000u) {
			v &= 0x7fffffffu;
			if (key[v] >= 0)
				on_path[key[v]]--;
			continue;
		}
		if (key[v] >= 0) {
			if (!on_path[key[v]])
				pyi_weight_add(&f.e[key[v]].total, &t->nodes[v].total);
			on_path[key[v]]++;
		}
		stack[sp++] = v | 0x80000000u;
		for (uint32_t c = t->nodes[v].first_child; c; c = t->nodes[c].next_sibling)
			stack[sp++] = c;
	}
	enum pyi_metric metric = x->o->metric;
	if (f.n)
		qsort_r(f.e, f.n, sizeof(*f.e), cmp_flat, &metric);
	x->root = t->nodes[0].total;
	fputs(x->o->both_metrics ? "     wall self         cpu self       wall total        cpu total"
				    "   function\n"
				  : "          self            total   function\n", x->out);
	for (size_t i = 0; i < f.n; i++) {
		const struct flat_entry *e = &f.e[i];
		if (!shown(x, &e->self) && !shown(x, &e->total))
			continue;
		if (x->o->both_metrics) {
			put_metric_w(x, &e->self, PYI_METRIC_WALL, 10);
			put_metric_w(x, &e->self, PYI_METRIC_CPU, 10);
			put_metric_w(x, &e->total, PYI_METRIC_WALL, 10);
			put_metric_w(x, &e->total, PYI_METRIC_CPU, 10);
		} else {
			put_metric_w(x, &e->self, x->o->metric, 10);
			put_metric_w(x, &e->total, x->o->metric, 10);
		}
		fputs("   ", x->out);
		const struct pyi_func *fn = &x->m->funcs[e->func];
		color(x, x->library[e->func] ? C_DIM : C_BOLD);
		pyi_esc_text(x->out, fn->qualname, fn->qualname_len);
		color(x, C_RESET);
		fputs("  ", x->out);
		color(x, C_DIM);
		pyi_esc_text(x->out, fn->filename, fn->filename_len);
		fprintf(x->out, ":%" PRId32, e->line);
		color(x, C_RESET);
		putc_unlocked('\n', x->out);
	}
	rc = 0;
out:
	free(key);
	free(on_path);
	free(stack);
	free(f.e);
	free(f.slots);
	return rc;
}

/* --- headers -------------------------------------------------------------------------- */

static void put_info(struct text *x, size_t file, const char *key, const char *label)
{
	const struct pyi_kv *kv = pyi_model_info(x->m, file, key);
	if (!kv)
		return;
	fprintf(x->out, "  %-10s ", label);
	pyi_esc_text(x->out, kv->value, kv->value_len);
	putc_unlocked('\n', x->out);
}

static void put_argv(struct text *x, size_t file)
{
	if (!pyi_model_info(x->m, file, "argv"))
		return;
	fprintf(x->out, "  %-10s ", "Program:");
	pyi_describe_argv(x->m, file, x->out, pyi_esc_text);
	putc_unlocked('\n', x->out);
}

static void put_header(struct text *x, size_t i)
{
	struct pyi_model *m = x->m;
	const struct pyi_file *f = &m->files[i];
	color(x, C_BOLD);
	fputs("pyinstr-report: ", x->out);
	pyi_esc_text(x->out, f->name, strlen(f->name));
	color(x, C_RESET);
	fprintf(x->out, "  (pid %" PRIu32 ")\n", f->header.pid);
	put_argv(x, i);
	const struct pyi_kv *ver = pyi_model_info(m, i, "python_version");
	const struct pyi_kv *build = pyi_model_info(m, i, "python_build");
	if (ver) {
		fprintf(x->out, "  %-10s ", "Python:");
		pyi_esc_text(x->out, ver->value, ver->value_len);
		if (build) {
			fputs(" (", x->out);
			pyi_esc_text(x->out, build->value, build->value_len);
			fputs(" libpython)", x->out);
		}
		putc_unlocked('\n', x->out);
	}
	put_info(x, i, "fork_of", "Forked of:");
	fprintf(x->out, "  %-10s ", "Duration:");
	put_duration(x->out, pyi_describe_duration_ns(m, i));
	fprintf(x->out, "   Samples: %" PRIu64, f->total.samples);
	uint64_t interval = pyi_describe_interval_ns(m, i);
	if (interval) {
		fputs("   Interval: ", x->out);
		put_duration(x->out, interval);
	}
	/* What signalled running threads: perf events (random CPU times) or the tick. */
	const struct pyi_kv *timer = pyi_model_info(m, i, "timer");
	if (timer) {
		fputs("   Timer: ", x->out);
		pyi_esc_text(x->out, timer->value, timer->value_len);
	}
	size_t nthreads = 0;
	for (size_t t = 0; t < m->nthreads; t++)
		if (m->threads[t].file == i && m->threads[t].total.samples)
			nthreads++;
	fprintf(x->out, "   Threads: %zu\n", nthreads);
	fprintf(x->out, "  %-10s ", "Wall time:");
	put_seconds(x->out, f->total.wall_ns);
	fputs(" s (all threads)   CPU time: ", x->out);
	put_seconds(x->out, f->total.cpu_ns);
	fputs(" s\n", x->out);
	if (m->has_range) {
		fprintf(x->out, "  %-10s ", "Range:");
		put_seconds(x->out, m->range_start_ns);
		fputs(" s to ", x->out);
		if (m->range_end_ns == UINT64_MAX)
			fputs("the end", x->out);
		else {
			put_seconds(x->out, m->range_end_ns);
			fputs(" s", x->out);
		}
		fputs(" of the run\n", x->out);
	}
	/* Nothing is lost silently: every non-zero loss counter is listed. */
	for (size_t k = 0; k < pyi_nlosses; k++) {
		uint64_t v = pyi_describe_loss(m, i, pyi_losses[k].key);
		if (!v)
			continue;
		color(x, C_YELLOW);
		fprintf(x->out, "  %-10s %" PRIu64 " %s\n", "Warning:", v, pyi_losses[k].what);
		color(x, C_RESET);
	}
	if (f->result.truncated) {
		color(x, C_YELLOW);
		fprintf(x->out, "  %-10s the file is truncated after %" PRIu64
			" records (the process was killed?)\n", "Warning:", f->result.records);
		color(x, C_RESET);
	} else if (!f->ended) {
		color(x, C_YELLOW);
		fprintf(x->out, "  %-10s no end record: the process did not exit normally\n",
			"Warning:");
		color(x, C_RESET);
	}
	if (f->result.skipped)
		fprintf(x->out, "  %-10s %" PRIu64 " records of a newer format were skipped\n",
			"Note:", f->result.skipped);
}

static void put_thread_title(struct text *x, const struct pyi_thread *th)
{
	putc_unlocked('\n', x->out);
	color(x, C_CYAN);
	if (th->name_len) {
		fputs("Thread ", x->out);
		pyi_esc_text(x->out, th->name, th->name_len);
		color(x, C_RESET);
		fprintf(x->out, "  (tid %" PRIu64 "%s)", th->native_tid,
			th->is_main ? ", main thread" : "");
	} else {
		fprintf(x->out, "Thread %" PRIu64, th->native_tid);
		color(x, C_RESET);
		if (th->is_main)
			fputs("  (main thread)", x->out);
	}
	fprintf(x->out, "  %" PRIu64 " samples, wall ", th->total.samples);
	put_seconds(x->out, th->total.wall_ns);
	fputs(" s, cpu ", x->out);
	put_seconds(x->out, th->total.cpu_ns);
	fputs(" s\n", x->out);
}

/* Thread order in a process: the main thread first, then as they appear in the file. */
static int thread_before(const struct pyi_thread *a, size_t ia, const struct pyi_thread *b,
			 size_t ib)
{
	if (a->is_main != b->is_main)
		return a->is_main;
	return ia < ib;
}

static int draw(struct text *x, const uint32_t *stacks, size_t n)
{
	struct pyi_tree t;
	pyi_tree_init(&t, x->o->by_line);
	int rc = pyi_tree_add(&t, x->m, stacks, n);
	if (!rc)
		rc = pyi_tree_sort(&t, x->m, x->o->metric);
	if (!rc) {
		putc_unlocked('\n', x->out);
		if (!t.n || !t.nodes[0].total.samples)
			fputs("  (no samples)\n", x->out);
		else
			rc = x->o->flat ? draw_flat(x, &t) : draw_tree(x, &t);
	}
	pyi_tree_release(&t);
	return rc;
}

int pyi_render_text(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	struct text x = { .m = m, .o = o, .out = out };
	uint32_t *sel = malloc((m->nstacks ? m->nstacks : 1) * sizeof(*sel));
	size_t *order = malloc((m->nthreads ? m->nthreads : 1) * sizeof(*order));
	uint32_t *grouped = NULL;
	size_t *start = NULL;
	int rc = -ENOMEM;
	if (!sel || !order || classify_library(&x) ||
	    pyi_model_stacks_by_thread(m, &grouped, &start))
		goto out;
	rc = 0;
	for (size_t i = 0; i < m->nfiles && !rc; i++) {
		if (i)
			putc_unlocked('\n', out);
		put_header(&x, i);
		if (o->merge_threads) {
			size_t n = 0;
			for (size_t s = 0; s < m->nstacks; s++) {
				uint32_t t = m->stacks[s].thread;
				if (m->threads[t].file == i && pyi_render_thread_on(o, t))
					sel[n++] = (uint32_t)s;
			}
			rc = draw(&x, sel, n);
			continue;
		}
		size_t nt = 0;
		for (size_t t = 0; t < m->nthreads; t++) {
			if (m->threads[t].file != i || !m->threads[t].total.samples ||
			    !pyi_render_thread_on(o, t))
				continue;
			size_t j = nt++;
			while (j > 0 && thread_before(&m->threads[t], t, &m->threads[order[j - 1]],
						      order[j - 1])) {
				order[j] = order[j - 1];
				j--;
			}
			order[j] = t;
		}
		for (size_t k = 0; k < nt && !rc; k++) {
			size_t t = order[k];
			put_thread_title(&x, &m->threads[t]);
			rc = draw(&x, grouped + start[t], start[t + 1] - start[t]);
		}
		if (!nt)
			fputs("\n  (no samples)\n", out);
	}
out:
	free(sel);
	free(order);
	free(grouped);
	free(start);
	free(x.library);
	free(x.stack.v);
	free(x.kids.v);
	free(x.last);
	return rc;
}
