/*
 * model: the reader's callbacks feed three interning tables (funcs, trie nodes, aggregated
 * stacks), each an array plus an open-addressing index of array positions.
 *
 * The hot path is one SAMPLE: the reader says how many root-end frames equal the thread's
 * previous stack, and each thread keeps the trie nodes of its previous stack by depth, so only
 * the frames that changed (usually one or two at the leaf) are looked up. A thread's last
 * aggregated stack is cached too, which makes idle (REPEAT) samples almost free.
 */
#include "report/model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/format.h"
#include "report/u32map.h"

struct source {
	int fd; /* -1: memory */
	const void *mem;
	size_t len;
};

/* Per file, kept between load and replay. */
struct file_state {
	struct source src;
	struct pyi_u32map codes;   /* code id -> func, for ids past dense_codes */
	uint32_t *dense_codes;     /* code id -> func + 1 (0: undefined), for small ids */
	size_t ndense;
	struct pyi_u32map threads; /* thread id -> model thread */
	uint32_t last_thread_id, last_thread; /* one-entry cache of threads */
	int have_last_thread;
	uint64_t offset_ns;        /* session start - origin */
};

/* Code ids the agent hands out are small and dense; these go through an array. */
#define DENSE_CODES (1u << 20)

#define STACK_CACHE 64

/* Per model thread, reset before each pass. */
struct thread_state {
	uint32_t *path; /* path[d] = node of the previous stack's first d + 1 root-end frames */
	uint32_t path_cap;
	uint32_t path_len; /* entries of path valid for the reader's previous stack */
	/* Recent (leaf, truncated) -> stack, direct-mapped by leaf: threads revisit a few. */
	struct {
		uint32_t leaf, truncated, stack;
	} cache[STACK_CACHE];
};

/* An open-addressing set of array positions; slots hold position + 1, 0 is free. */
struct table {
	uint32_t *slots;
	size_t mask;
	size_t used;
};

struct pyi_model_index {
	struct file_state *files;
	struct thread_state *threads;
	struct table funcs, nodes, stacks;
	size_t funcs_cap, nodes_cap, threads_cap, stacks_cap, files_cap;

	/* The pass in progress. */
	size_t file;
	int (*replay)(void *ctx, const struct pyi_replay_sample *s);
	void *replay_ctx;
};

static int oom(struct pyi_model *m)
{
	snprintf(m->error, sizeof(m->error), "out of memory");
	return -ENOMEM;
}

/* Grows *arr (of elem-size items, *cap of them) to hold at least n. */
static int grow_array(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < n)
		c *= 2;
	void *p = realloc(*arr, c * elem);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
	*arr = p;
	*cap = c;
	return 0;
}

static char *dup_bytes(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_bytes(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Rebuilds a table at twice the size; hash_of gives the hash of the item at a position. */
static int table_grow(struct table *t, uint64_t (*hash_of)(const struct pyi_model *, uint32_t),
		      const struct pyi_model *m)
{
	size_t n = t->slots ? (t->mask + 1) * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	if (t->slots) {
		for (size_t i = 0; i <= t->mask; i++) {
			uint32_t v = t->slots[i];
			if (!v)
				continue;
			size_t j = hash_of(m, v - 1) & (n - 1);
			while (slots[j])
				j = (j + 1) & (n - 1);
			slots[j] = v;
		}
		free(t->slots);
	}
	t->slots = slots;
	t->mask = n - 1;
	return 0;
}

/* Makes sure one more item fits at load factor 1/2. */
static int table_reserve(struct table *t, uint64_t (*hash_of)(const struct pyi_model *, uint32_t),
			 const struct pyi_model *m)
{
	if (t->slots && (t->used + 1) * 2 <= t->mask + 1)
		return 0;
	return table_grow(t, hash_of, m);
}

static uint64_t func_hash(const char *q, size_t ql, const char *f, size_t fl, int32_t line)
{
	uint64_t h = hash_bytes(0xcbf29ce484222325ULL, q, ql);
	h = hash_bytes(h ^ 0xff, f, fl);
	return mix64(h ^ (uint32_t)line);
}

static uint64_t func_hash_at(const struct pyi_model *m, uint32_t i)
{
	const struct pyi_func *f = &m->funcs[i];
	return func_hash(f->qualname, f->qualname_len, f->filename, f->filename_len,
			 f->first_line);
}

static uint64_t node_hash(uint32_t parent, uint32_t func, int32_t line)
{
	return mix64(((uint64_t)parent << 32 | func) ^ ((uint64_t)(uint32_t)line * 0x9e3779b97f4a7c15ULL));
}

static uint64_t node_hash_at(const struct pyi_model *m, uint32_t i)
{
	const struct pyi_node *n = &m->nodes[i];
	return node_hash(n->parent, n->func, n->line);
}

static uint64_t stack_hash(uint32_t thread, uint32_t leaf, uint32_t truncated)
{
	return mix64(((uint64_t)thread << 32 | leaf) + truncated * 0x9e3779b97f4a7c15ULL);
}

static uint64_t stack_hash_at(const struct pyi_model *m, uint32_t i)
{
	const struct pyi_stack *s = &m->stacks[i];
	return stack_hash(s->thread, s->leaf, s->truncated);
}

/* The func id for these names, added if new; UINT32_MAX when out of memory. */
static uint32_t intern_func(struct pyi_model *m, const char *q, size_t ql, const char *f,
			    size_t fl, int32_t first_line)
{
	struct pyi_model_index *ix = m->ix;
	if (table_reserve(&ix->funcs, func_hash_at, m))
		return UINT32_MAX;
	uint64_t h = func_hash(q, ql, f, fl, first_line);
	size_t j = h & ix->funcs.mask;
	for (; ix->funcs.slots[j]; j = (j + 1) & ix->funcs.mask) {
		const struct pyi_func *e = &m->funcs[ix->funcs.slots[j] - 1];
		if (e->first_line == first_line && e->qualname_len == ql && e->filename_len == fl &&
		    memcmp(e->qualname, q, ql) == 0 && memcmp(e->filename, f, fl) == 0)
			return ix->funcs.slots[j] - 1;
	}
	if (m->nfuncs >= UINT32_MAX - 1 ||
	    grow_array((void **)&m->funcs, &ix->funcs_cap, m->nfuncs + 1, sizeof(*m->funcs)))
		return UINT32_MAX;
	char *qc = dup_bytes(q, ql);
	char *fc = dup_bytes(f, fl);
	if (!qc || !fc) {
		free(qc);
		free(fc);
		return UINT32_MAX;
	}
	uint32_t id = (uint32_t)m->nfuncs++;
	m->funcs[id] = (struct pyi_func){ qc, fc, (uint32_t)ql, (uint32_t)fl, first_line };
	ix->funcs.slots[j] = id + 1;
	ix->funcs.used++;
	return id;
}

/* The child of parent for (func, line), added if new; UINT32_MAX when out of memory. */
static uint32_t intern_node(struct pyi_model *m, uint32_t parent, uint32_t func, int32_t line)
{
	struct pyi_model_index *ix = m->ix;
	if (table_reserve(&ix->nodes, node_hash_at, m))
		return UINT32_MAX;
	size_t j = node_hash(parent, func, line) & ix->nodes.mask;
	for (; ix->nodes.slots[j]; j = (j + 1) & ix->nodes.mask) {
		const struct pyi_node *e = &m->nodes[ix->nodes.slots[j] - 1];
		if (e->parent == parent && e->func == func && e->line == line)
			return ix->nodes.slots[j] - 1;
	}
	if (m->nnodes >= UINT32_MAX - 1 ||
	    grow_array((void **)&m->nodes, &ix->nodes_cap, m->nnodes + 1, sizeof(*m->nodes)))
		return UINT32_MAX;
	uint32_t id = (uint32_t)m->nnodes++;
	m->nodes[id] = (struct pyi_node){ parent, func, line, m->nodes[parent].depth + 1 };
	ix->nodes.slots[j] = id + 1;
	ix->nodes.used++;
	return id;
}

static uint32_t intern_stack(struct pyi_model *m, uint32_t thread, uint32_t leaf,
			     uint32_t truncated)
{
	struct pyi_model_index *ix = m->ix;
	if (table_reserve(&ix->stacks, stack_hash_at, m))
		return UINT32_MAX;
	size_t j = stack_hash(thread, leaf, truncated) & ix->stacks.mask;
	for (; ix->stacks.slots[j]; j = (j + 1) & ix->stacks.mask) {
		const struct pyi_stack *e = &m->stacks[ix->stacks.slots[j] - 1];
		if (e->thread == thread && e->leaf == leaf && e->truncated == truncated)
			return ix->stacks.slots[j] - 1;
	}
	if (m->nstacks >= UINT32_MAX - 1 ||
	    grow_array((void **)&m->stacks, &ix->stacks_cap, m->nstacks + 1, sizeof(*m->stacks)))
		return UINT32_MAX;
	uint32_t id = (uint32_t)m->nstacks++;
	m->stacks[id] = (struct pyi_stack){ thread, leaf, truncated, { 0, 0, 0 } };
	ix->stacks.slots[j] = id + 1;
	ix->stacks.used++;
	return id;
}

struct pyi_model *pyi_model_new(void)
{
	struct pyi_model *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->ix = calloc(1, sizeof(*m->ix));
	if (!m->ix)
		goto fail;
	/* The reserved func and the root node exist from the start. */
	if (intern_func(m, "<unknown>", 9, "<unknown>", 9, 0) != PYI_FUNC_UNKNOWN)
		goto fail;
	if (grow_array((void **)&m->nodes, &m->ix->nodes_cap, 1, sizeof(*m->nodes)))
		goto fail;
	m->nodes[0] = (struct pyi_node){ 0, PYI_FUNC_UNKNOWN, 0, 0 };
	m->nnodes = 1;
	return m;
fail:
	pyi_model_free(m);
	return NULL;
}

void pyi_model_free(struct pyi_model *m)
{
	if (!m)
		return;
	struct pyi_model_index *ix = m->ix;
	for (size_t i = 0; i < m->nfiles; i++) {
		struct pyi_file *f = &m->files[i];
		free(f->name);
		for (size_t j = 0; j < f->ninfo; j++) {
			free(f->info[j].key);
			free(f->info[j].value);
		}
		free(f->info);
		for (size_t j = 0; j < f->ncounters; j++)
			free(f->counters[j].key);
		free(f->counters);
		if (ix) {
			if (ix->files[i].src.fd >= 0)
				close(ix->files[i].src.fd);
			pyi_u32map_release(&ix->files[i].codes);
			free(ix->files[i].dense_codes);
			pyi_u32map_release(&ix->files[i].threads);
		}
	}
	for (size_t i = 0; i < m->nfuncs; i++) {
		free((char *)m->funcs[i].qualname);
		free((char *)m->funcs[i].filename);
	}
	for (size_t i = 0; i < m->nthreads; i++) {
		free(m->threads[i].name);
		if (ix)
			free(ix->threads[i].path);
	}
	if (ix) {
		free(ix->files);
		free(ix->threads);
		free(ix->funcs.slots);
		free(ix->nodes.slots);
		free(ix->stacks.slots);
		free(ix);
	}
	free(m->files);
	free(m->funcs);
	free(m->nodes);
	free(m->threads);
	free(m->stacks);
	free(m);
}

static int add_source(struct pyi_model *m, struct source src, const char *name)
{
	struct pyi_model_index *ix = m->ix;
	size_t cap = ix->files_cap;
	if (grow_array((void **)&m->files, &cap, m->nfiles + 1, sizeof(*m->files)) ||
	    grow_array((void **)&ix->files, &ix->files_cap, m->nfiles + 1, sizeof(*ix->files)))
		return oom(m);
	struct pyi_file *f = &m->files[m->nfiles];
	memset(f, 0, sizeof(*f));
	f->name = dup_bytes(name, strlen(name));
	if (!f->name)
		return oom(m);
	struct file_state *fs = &ix->files[m->nfiles];
	memset(fs, 0, sizeof(*fs));
	fs->src = src;
	pyi_u32map_init(&fs->codes);
	pyi_u32map_init(&fs->threads);
	m->nfiles++;
	return 0;
}

int pyi_model_add_fd(struct pyi_model *m, int fd, const char *name)
{
	int rc = add_source(m, (struct source){ fd, NULL, 0 }, name);
	if (rc)
		close(fd);
	return rc;
}

int pyi_model_add_mem(struct pyi_model *m, const void *data, size_t len, const char *name)
{
	return add_source(m, (struct source){ -1, data, len }, name);
}

void pyi_model_set_range(struct pyi_model *m, uint64_t start_ns, uint64_t end_ns)
{
	m->has_range = 1;
	m->range_start_ns = start_ns;
	m->range_end_ns = end_ns;
}

static void reset_thread(struct thread_state *ts)
{
	ts->path_len = 0;
	for (size_t c = 0; c < STACK_CACHE; c++)
		ts->cache[c].stack = UINT32_MAX;
}

static struct pyi_model *ctx_model(void *ctx)
{
	return ctx;
}

static int on_header(void *ctx, const struct pyi_rd_header *h)
{
	struct pyi_model *m = ctx_model(ctx);
	m->files[m->ix->file].header = *h;
	return 0;
}

static int on_info(void *ctx, const char *key, size_t key_len, const char *value,
		   size_t value_len)
{
	struct pyi_model *m = ctx_model(ctx);
	if (m->ix->replay)
		return 0;
	struct pyi_file *f = &m->files[m->ix->file];
	char *v = dup_bytes(value, value_len);
	if (!v)
		return oom(m);
	for (size_t i = 0; i < f->ninfo; i++) {
		if (f->info[i].key_len == key_len && memcmp(f->info[i].key, key, key_len) == 0) {
			free(f->info[i].value);
			f->info[i].value = v;
			f->info[i].value_len = value_len;
			return 0;
		}
	}
	char *k = dup_bytes(key, key_len);
	struct pyi_kv *arr = realloc(f->info, (f->ninfo + 1) * sizeof(*arr));
	if (!k || !arr) {
		free(k);
		free(v);
		if (arr)
			f->info = arr;
		return oom(m);
	}
	f->info = arr;
	f->info[f->ninfo++] = (struct pyi_kv){ k, v, key_len, value_len };
	return 0;
}

static int on_code(void *ctx, uint32_t code_id, int32_t first_line, const char *q, size_t ql,
		   const char *fn, size_t fl)
{
	struct pyi_model *m = ctx_model(ctx);
	if (m->ix->replay)
		return 0;
	struct file_state *fs = &m->ix->files[m->ix->file];
	uint32_t func = intern_func(m, q, ql, fn, fl, first_line);
	if (func == UINT32_MAX)
		return oom(m);
	if (code_id >= DENSE_CODES)
		return pyi_u32map_put(&fs->codes, code_id, func) ? oom(m) : 0;
	if (code_id >= fs->ndense &&
	    grow_array((void **)&fs->dense_codes, &fs->ndense, (size_t)code_id + 1,
		       sizeof(*fs->dense_codes)))
		return oom(m);
	fs->dense_codes[code_id] = func + 1;
	return 0;
}

static int on_thread(void *ctx, uint32_t thread_id, uint64_t native_tid, const char *name,
		     size_t name_len)
{
	struct pyi_model *m = ctx_model(ctx);
	struct pyi_model_index *ix = m->ix;
	if (ix->replay)
		return 0;
	struct file_state *fs = &ix->files[ix->file];
	uint32_t t = pyi_u32map_get(&fs->threads, thread_id);
	if (t == PYI_U32MAP_NONE) {
		size_t cap = ix->threads_cap;
		if (grow_array((void **)&m->threads, &cap, m->nthreads + 1, sizeof(*m->threads)) ||
		    grow_array((void **)&ix->threads, &ix->threads_cap, m->nthreads + 1,
			       sizeof(*ix->threads)))
			return oom(m);
		t = (uint32_t)m->nthreads;
		if (pyi_u32map_put(&fs->threads, thread_id, t))
			return oom(m);
		struct pyi_thread *th = &m->threads[t];
		memset(th, 0, sizeof(*th));
		memset(&ix->threads[t], 0, sizeof(ix->threads[t]));
		reset_thread(&ix->threads[t]);
		th->file = (uint32_t)ix->file;
		th->thread_id = thread_id;
		th->name = dup_bytes("", 0);
		if (!th->name)
			return oom(m);
		m->nthreads++;
	}
	struct pyi_thread *th = &m->threads[t];
	th->native_tid = native_tid;
	th->is_main = native_tid == m->files[ix->file].header.pid;
	if (name_len) {
		char *n = dup_bytes(name, name_len);
		if (!n)
			return oom(m);
		free(th->name);
		th->name = n;
		th->name_len = name_len;
	}
	return 0;
}

static int on_counters(void *ctx, const struct pyi_rd_counter *c, size_t n)
{
	struct pyi_model *m = ctx_model(ctx);
	if (m->ix->replay)
		return 0;
	struct pyi_file *f = &m->files[m->ix->file];
	struct pyi_counter *arr = calloc(n ? n : 1, sizeof(*arr));
	if (!arr)
		return oom(m);
	for (size_t i = 0; i < n; i++) {
		arr[i].key = dup_bytes(c[i].key, c[i].key_len);
		arr[i].value = c[i].value;
		if (!arr[i].key) {
			for (size_t j = 0; j < i; j++)
				free(arr[j].key);
			free(arr);
			return oom(m);
		}
	}
	for (size_t j = 0; j < f->ncounters; j++)
		free(f->counters[j].key);
	free(f->counters);
	f->counters = arr;
	f->ncounters = n;
	return 0;
}

static int on_end(void *ctx, uint64_t time_ns, uint32_t reason)
{
	struct pyi_model *m = ctx_model(ctx);
	struct pyi_file *f = &m->files[m->ix->file];
	f->ended = 1;
	f->end_ns = time_ns;
	f->end_reason = reason;
	return 0;
}

static void add_weight(struct pyi_weight *w, uint64_t wall, uint64_t cpu)
{
	w->samples++;
	w->wall_ns += wall;
	w->cpu_ns += cpu;
}

static int on_sample(void *ctx, const struct pyi_rd_sample *s)
{
	struct pyi_model *m = ctx_model(ctx);
	struct pyi_model_index *ix = m->ix;
	struct file_state *fs = &ix->files[ix->file];
	struct pyi_file *f = &m->files[ix->file];
	uint32_t t;
	if (fs->have_last_thread && fs->last_thread_id == s->thread_id) {
		t = fs->last_thread;
	} else {
		t = pyi_u32map_get(&fs->threads, s->thread_id);
		fs->last_thread_id = s->thread_id;
		fs->last_thread = t;
		fs->have_last_thread = 1;
	}
	struct thread_state *ts = &ix->threads[t];
	uint64_t time = fs->offset_ns + s->time_ns;
	if (time < s->time_ns)
		time = UINT64_MAX;
	uint32_t same = s->same_root < ts->path_len ? s->same_root : ts->path_len;

	if (!ix->replay) {
		f->samples_read++;
		if (s->time_ns > f->last_sample_ns)
			f->last_sample_ns = s->time_ns;
		f->truncated_samples += (s->flags & PYI_SAMPLE_TRUNCATED) != 0;
		f->partial_samples += (s->flags & PYI_SAMPLE_PARTIAL) != 0;
	}
	if (m->has_range && (time < m->range_start_ns || time >= m->range_end_ns)) {
		/* The cached path still describes the root end this stack shares with it. */
		ts->path_len = same;
		return 0;
	}

	if (s->depth > ts->path_cap) {
		uint32_t cap = ts->path_cap ? ts->path_cap : 64;
		while (cap < s->depth)
			cap *= 2;
		uint32_t *p = realloc(ts->path, cap * sizeof(*p));
		if (!p)
			return oom(m);
		ts->path = p;
		ts->path_cap = cap;
	}
	uint32_t node = same ? ts->path[same - 1] : PYI_NODE_ROOT;
	for (uint32_t d = same; d < s->depth; d++) {
		const struct pyi_fmt_frame *fr = &s->frames[d];
		uint32_t func = PYI_FUNC_UNKNOWN;
		if (fr->code_id >= DENSE_CODES)
			func = pyi_u32map_get(&fs->codes, fr->code_id);
		else if (fr->code_id)
			func = fs->dense_codes[fr->code_id] - 1;
		node = intern_node(m, node, func, fr->line);
		if (node == UINT32_MAX) {
			ts->path_len = d;
			return oom(m);
		}
		ts->path[d] = node;
	}
	ts->path_len = s->depth;
	uint32_t truncated = (s->flags & PYI_SAMPLE_TRUNCATED) ? 1 : 0;

	if (ix->replay) {
		struct pyi_replay_sample r = { t, node, truncated, time, s->wall_ns, s->cpu_ns };
		return ix->replay(ix->replay_ctx, &r);
	}

	uint32_t st;
	size_t c = node % STACK_CACHE;
	if (ts->cache[c].leaf == node && ts->cache[c].truncated == truncated &&
	    ts->cache[c].stack != UINT32_MAX) {
		st = ts->cache[c].stack;
	} else {
		st = intern_stack(m, t, node, truncated);
		if (st == UINT32_MAX)
			return oom(m);
		ts->cache[c].leaf = node;
		ts->cache[c].truncated = truncated;
		ts->cache[c].stack = st;
	}
	add_weight(&m->stacks[st].w, s->wall_ns, s->cpu_ns);
	struct pyi_thread *th = &m->threads[t];
	if (!th->total.samples || time < th->first_ns)
		th->first_ns = time;
	if (time > th->last_ns)
		th->last_ns = time;
	add_weight(&th->total, s->wall_ns, s->cpu_ns);
	add_weight(&f->total, s->wall_ns, s->cpu_ns);
	add_weight(&m->total, s->wall_ns, s->cpu_ns);
	return 0;
}

static const struct pyi_rd_callbacks callbacks = {
	.header = on_header,
	.info = on_info,
	.code = on_code,
	.thread = on_thread,
	.sample = on_sample,
	.counters = on_counters,
	.end = on_end,
};

/* Reads just the start time of a file, to place it on the common time line. */
static int peek_start(const struct source *src, uint64_t *start)
{
	unsigned char h[PYI_FMT_HEADER_SIZE];
	if (src->fd >= 0) {
		ssize_t got = pread(src->fd, h, sizeof(h), 0);
		if (got != (ssize_t)sizeof(h))
			return -1;
	} else {
		if (src->len < sizeof(h))
			return -1;
		memcpy(h, src->mem, sizeof(h));
	}
	if (memcmp(h, PYI_FMT_MAGIC, PYI_FMT_MAGIC_LEN) != 0 || pyi_get_u16(h + 8) != PYI_FMT_MAJOR)
		return -1;
	*start = pyi_get_u64(h + 24);
	return 0;
}

/* One pass over file i, loading or replaying. */
static int pass(struct pyi_model *m, size_t i)
{
	struct pyi_model_index *ix = m->ix;
	struct file_state *fs = &ix->files[i];
	struct pyi_file *f = &m->files[i];
	struct pyi_rd_callbacks cb = callbacks;
	cb.ctx = m;
	ix->file = i;
	fs->have_last_thread = 0;
	for (size_t t = 0; t < m->nthreads; t++)
		reset_thread(&ix->threads[t]);
	struct pyi_rd_result res;
	int rc;
	if (fs->src.fd >= 0) {
		if (lseek(fs->src.fd, 0, SEEK_SET) < 0) {
			rc = -errno;
			snprintf(m->error, sizeof(m->error), "%s: %s", f->name, strerror(errno));
			return rc;
		}
		rc = pyi_reader_read_fd(fs->src.fd, f->name, &cb, &res);
	} else {
		rc = pyi_reader_read_mem(fs->src.mem, fs->src.len, f->name, &cb, &res);
	}
	if (rc && res.error[0] && rc != -ENOMEM)
		snprintf(m->error, sizeof(m->error), "%s", res.error);
	else if (rc == -ENOMEM)
		oom(m);
	if (!ix->replay) {
		f->result = res;
		f->loaded = rc == 0;
	}
	return rc;
}

int pyi_model_load(struct pyi_model *m)
{
	struct pyi_model_index *ix = m->ix;
	int have_origin = 0;
	for (size_t i = 0; i < m->nfiles; i++) {
		uint64_t start;
		if (peek_start(&ix->files[i].src, &start) == 0 &&
		    (!have_origin || start < m->origin_realtime_ns)) {
			m->origin_realtime_ns = start;
			have_origin = 1;
		}
	}
	for (size_t i = 0; i < m->nfiles; i++) {
		uint64_t start;
		if (peek_start(&ix->files[i].src, &start) == 0)
			ix->files[i].offset_ns = start - m->origin_realtime_ns;
		int rc = pass(m, i);
		if (rc)
			return rc;
	}
	return 0;
}

int pyi_model_replay(struct pyi_model *m,
		     int (*cb)(void *ctx, const struct pyi_replay_sample *s), void *ctx)
{
	struct pyi_model_index *ix = m->ix;
	ix->replay = cb;
	ix->replay_ctx = ctx;
	int rc = 0;
	for (size_t i = 0; i < m->nfiles && !rc; i++)
		rc = pass(m, i);
	ix->replay = NULL;
	ix->replay_ctx = NULL;
	return rc;
}

const struct pyi_kv *pyi_model_info(const struct pyi_model *m, size_t file, const char *key)
{
	const struct pyi_file *f = &m->files[file];
	size_t len = strlen(key);
	for (size_t i = 0; i < f->ninfo; i++)
		if (f->info[i].key_len == len && memcmp(f->info[i].key, key, len) == 0)
			return &f->info[i];
	return NULL;
}

uint64_t pyi_model_counter(const struct pyi_model *m, size_t file, const char *key)
{
	const struct pyi_file *f = &m->files[file];
	for (size_t i = 0; i < f->ncounters; i++)
		if (strcmp(f->counters[i].key, key) == 0)
			return f->counters[i].value;
	return 0;
}

uint64_t pyi_model_counter_sum(const struct pyi_model *m, const char *key)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < m->nfiles; i++)
		sum += pyi_model_counter(m, i, key);
	return sum;
}

size_t pyi_model_path(const struct pyi_model *m, uint32_t leaf, uint32_t *out, size_t cap)
{
	size_t n = m->nodes[leaf].depth;
	if (n > cap)
		n = cap;
	/* Walk up from the leaf, dropping frames that do not fit at the leaf end. */
	uint32_t node = leaf;
	for (size_t skip = m->nodes[leaf].depth - n; skip; skip--)
		node = m->nodes[node].parent;
	for (size_t i = n; i > 0; i--) {
		out[i - 1] = node;
		node = m->nodes[node].parent;
	}
	return n;
}

int pyi_model_stacks_by_thread(const struct pyi_model *m, uint32_t **order, size_t **start)
{
	size_t *st = calloc(m->nthreads + 2, sizeof(*st));
	uint32_t *ord = malloc((m->nstacks ? m->nstacks : 1) * sizeof(*ord));
	if (!st || !ord) {
		free(st);
		free(ord);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->nstacks; i++)
		st[m->stacks[i].thread + 2]++;
	for (size_t t = 2; t < m->nthreads + 2; t++)
		st[t] += st[t - 1];
	/* st[t + 1] is now where thread t's stacks go; filling shifts it to st[t]'s role. */
	for (size_t i = 0; i < m->nstacks; i++)
		ord[st[m->stacks[i].thread + 1]++] = (uint32_t)i;
	*order = ord;
	*start = st;
	return 0;
}
