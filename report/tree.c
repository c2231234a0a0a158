/*
 * tree: each stack is walked from the root through a child index keyed by (parent, func, line,
 * kind); the whole path gets the stack's weight as inclusive time, the last node as self time.
 * A recursive function appears once per level, so adding along the path never counts a sample
 * twice in one node.
 */
#include "report/tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t key_hash(uint32_t parent, uint32_t func, int32_t line, uint32_t kind)
{
	uint64_t x = ((uint64_t)parent << 32 | func) ^
		     ((uint64_t)((uint32_t)line ^ (kind << 29)) * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

void pyi_tree_init(struct pyi_tree *t, int by_line)
{
	memset(t, 0, sizeof(*t));
	t->by_line = by_line;
}

void pyi_tree_release(struct pyi_tree *t)
{
	free(t->nodes);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int rehash(struct pyi_tree *t)
{
	size_t n = t->slots ? (t->mask + 1) * 2 : 256;
	uint32_t *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 1; i < t->n; i++) {
		const struct pyi_tree_node *e = &t->nodes[i];
		size_t j = key_hash(e->parent, e->func, e->line, e->kind) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = n - 1;
	return 0;
}

static int ensure_root(struct pyi_tree *t)
{
	if (t->n)
		return 0;
	t->cap = 256;
	t->nodes = calloc(t->cap, sizeof(*t->nodes));
	if (!t->nodes)
		return -ENOMEM;
	t->nodes[0].kind = PYI_TREE_ROOT;
	t->n = 1;
	return rehash(t);
}

/* The child of parent with this key, created if new; 0 when out of memory. */
static uint32_t child(struct pyi_tree *t, uint32_t parent, uint32_t func, int32_t line,
		      enum pyi_tree_kind kind)
{
	size_t j = key_hash(parent, func, line, kind) & t->mask;
	for (; t->slots[j]; j = (j + 1) & t->mask) {
		const struct pyi_tree_node *e = &t->nodes[t->slots[j]];
		if (e->parent == parent && e->func == func && e->line == line && e->kind == kind)
			return t->slots[j];
	}
	if (t->n >= UINT32_MAX - 1)
		return 0;
	if (t->n == t->cap) {
		struct pyi_tree_node *p = realloc(t->nodes, t->cap * 2 * sizeof(*p));
		if (!p)
			return 0;
		t->nodes = p;
		t->cap *= 2;
	}
	uint32_t id = (uint32_t)t->n++;
	struct pyi_tree_node *nd = &t->nodes[id];
	memset(nd, 0, sizeof(*nd));
	nd->parent = parent;
	nd->func = func;
	nd->line = line;
	nd->kind = kind;
	nd->depth = t->nodes[parent].depth + 1;
	nd->next_sibling = t->nodes[parent].first_child;
	t->nodes[parent].first_child = id;
	t->slots[j] = id;
	if (t->n * 2 > t->mask + 1 && rehash(t))
		return 0;
	return id;
}

int pyi_tree_add(struct pyi_tree *t, const struct pyi_model *m, const uint32_t *stacks, size_t n)
{
	if (ensure_root(t))
		return -ENOMEM;
	uint32_t max_depth = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t d = m->nodes[m->stacks[stacks[i]].leaf].depth;
		if (d > max_depth)
			max_depth = d;
	}
	uint32_t *path = malloc((max_depth + 1) * sizeof(*path));
	if (!path)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pyi_stack *s = &m->stacks[stacks[i]];
		if (!s->w.samples)
			continue;
		uint32_t cur = 0;
		struct pyi_weight *w = &t->nodes[0].total;
		pyi_weight_add(w, &s->w);
		if (s->truncated) {
			cur = child(t, cur, 0, 0, PYI_TREE_TRUNCATED);
			if (!cur)
				goto oom;
			pyi_weight_add(&t->nodes[cur].total, &s->w);
		}
		if (s->leaf == PYI_NODE_ROOT) {
			cur = child(t, cur, 0, 0, PYI_TREE_NO_PYTHON);
			if (!cur)
				goto oom;
			pyi_weight_add(&t->nodes[cur].total, &s->w);
		}
		size_t depth = pyi_model_path(m, s->leaf, path, max_depth + 1);
		for (size_t d = 0; d < depth; d++) {
			const struct pyi_node *nd = &m->nodes[path[d]];
			int32_t line = t->by_line ? nd->line : m->funcs[nd->func].first_line;
			cur = child(t, cur, nd->func, line, PYI_TREE_FRAME);
			if (!cur)
				goto oom;
			pyi_weight_add(&t->nodes[cur].total, &s->w);
		}
		pyi_weight_add(&t->nodes[cur].self, &s->w);
	}
	goto out;
oom:
	rc = -ENOMEM;
out:
	free(path);
	return rc;
}

struct sort_ctx {
	const struct pyi_tree *t;
	const struct pyi_model *m;
	enum pyi_metric metric;
};

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return (al > bl) - (al < bl);
}

static int cmp_nodes(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct pyi_tree_node *a = &c->t->nodes[*(const uint32_t *)pa];
	const struct pyi_tree_node *b = &c->t->nodes[*(const uint32_t *)pb];
	uint64_t wa = pyi_weight_get(&a->total, c->metric);
	uint64_t wb = pyi_weight_get(&b->total, c->metric);
	if (wa != wb)
		return wa > wb ? -1 : 1;
	if (a->total.samples != b->total.samples)
		return a->total.samples > b->total.samples ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	const struct pyi_func *fa = &c->m->funcs[a->func];
	const struct pyi_func *fb = &c->m->funcs[b->func];
	int r = cmp_bytes(fa->qualname, fa->qualname_len, fb->qualname, fb->qualname_len);
	if (!r)
		r = cmp_bytes(fa->filename, fa->filename_len, fb->filename, fb->filename_len);
	if (!r && a->line != b->line)
		r = a->line < b->line ? -1 : 1;
	if (!r && fa->first_line != fb->first_line)
		r = fa->first_line < fb->first_line ? -1 : 1;
	return r;
}

int pyi_tree_sort(struct pyi_tree *t, const struct pyi_model *m, enum pyi_metric metric)
{
	if (!t->n)
		return 0;
	uint32_t *kids = malloc(t->n * sizeof(*kids));
	if (!kids)
		return -ENOMEM;
	struct sort_ctx c = { t, m, metric };
	for (size_t i = 0; i < t->n; i++) {
		size_t k = 0;
		for (uint32_t ch = t->nodes[i].first_child; ch; ch = t->nodes[ch].next_sibling)
			kids[k++] = ch;
		if (k < 2)
			continue;
		qsort_r(kids, k, sizeof(*kids), cmp_nodes, &c);
		t->nodes[i].first_child = kids[0];
		for (size_t j = 0; j + 1 < k; j++)
			t->nodes[kids[j]].next_sibling = kids[j + 1];
		t->nodes[kids[k - 1]].next_sibling = 0;
	}
	free(kids);
	return 0;
}
