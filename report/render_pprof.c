/*
 * render_pprof: a gzipped protocol-buffer Profile (github.com/google/pprof, proto/profile.proto),
 * which `go tool pprof`, Grafana Pyroscope and Parca read.
 *
 * Three sample types per sample: samples (count), wall (nanoseconds), cpu (nanoseconds); the
 * default is the --metric one. One pprof sample per distinct (thread, stack), labelled with the
 * thread's name, native id and the process id, so `-tagfocus` can pick threads. Locations are
 * (function, executing line) pairs, so `-lines` works; functions carry the file and first line.
 * Strings are made valid UTF-8 (other bytes become U+FFFD), as protobuf readers may insist.
 *
 * The message is encoded into memory (its size follows the number of distinct stacks, not of
 * samples), then deflated with zlib into the gzip container pprof expects.
 */
#include "report/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "report/describe.h"
#include "report/escape.h"
#include "report/frames.h"
#include "report/u32map.h"

/* A growable byte buffer; after an allocation failure it stays failed and writes are no-ops. */
struct pb {
	unsigned char *data;
	size_t len, cap;
	int failed;
};

static void pb_bytes(struct pb *b, const void *p, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = 1;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;
	do {
		tmp[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	pb_bytes(b, tmp, n);
}

enum { WIRE_VARINT = 0, WIRE_BYTES = 2 };

static void pb_tag(struct pb *b, unsigned field, unsigned wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

/* An int64/uint64 field; zero is the default and is left out, as encoders do. */
static void pb_int(struct pb *b, unsigned field, int64_t v)
{
	if (!v)
		return;
	pb_tag(b, field, WIRE_VARINT);
	pb_varint(b, (uint64_t)v);
}

/* An embedded message or bytes, from another buffer. */
static void pb_sub(struct pb *b, unsigned field, const struct pb *sub)
{
	if (sub->failed)
		b->failed = 1;
	pb_tag(b, field, WIRE_BYTES);
	pb_varint(b, sub->len);
	pb_bytes(b, sub->data, sub->len);
}

/* --- the string table ------------------------------------------------------------------ */

struct strings {
	struct pb table; /* the encoded string_table fields */
	struct pyi_u64map index; /* FNV hash -> id; collisions checked against saved */
	struct {
		char *s;
		size_t n;
	} *saved;
	size_t count, cap;
	int failed;
};

/* Appends s as valid UTF-8 to b: each byte outside a valid sequence becomes U+FFFD. */
static void utf8_clean(struct pb *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	while (i + run < n) {
		size_t len = pyi_utf8_seq(p + i + run, n - i - run);
		if (len) {
			run += len;
			continue;
		}
		pb_bytes(b, p + i, run);
		pb_bytes(b, "\xef\xbf\xbd", 3);
		i += run + 1;
		run = 0;
	}
	pb_bytes(b, p + i, run);
}

static uint32_t str_id(struct strings *st, const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	/* A different string with the same hash moves on to a derived key. */
	for (;; h = h * 31 + 7) {
		uint32_t id = pyi_u64map_get(&st->index, h);
		if (id == PYI_U32MAP_NONE)
			break;
		if (st->saved[id].n == n && memcmp(st->saved[id].s, s, n) == 0)
			return id;
	}
	if (st->count == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		void *p = realloc(st->saved, cap * sizeof(*st->saved));
		if (!p) {
			st->failed = 1;
			return 0;
		}
		st->saved = p;
		st->cap = cap;
	}
	char *copy = malloc(n ? n : 1);
	if (!copy || pyi_u64map_put(&st->index, h, (uint32_t)st->count)) {
		free(copy);
		st->failed = 1;
		return 0;
	}
	if (n)
		memcpy(copy, s, n);
	st->saved[st->count].s = copy;
	st->saved[st->count].n = n;
	struct pb clean = { 0 };
	utf8_clean(&clean, s, n);
	pb_sub(&st->table, 6, &clean);
	free(clean.data);
	return (uint32_t)st->count++;
}

static uint32_t str_c(struct strings *st, const char *s)
{
	return str_id(st, s, strlen(s));
}

static void strings_release(struct strings *st)
{
	for (size_t i = 0; i < st->count; i++)
		free(st->saved[i].s);
	free(st->saved);
	free(st->table.data);
	pyi_u64map_release(&st->index);
}

/* --- the profile ----------------------------------------------------------------------- */

static void value_type(struct pb *out, unsigned field, struct strings *st, const char *type,
		       const char *unit)
{
	struct pb vt = { 0 };
	pb_int(&vt, 1, str_c(st, type));
	pb_int(&vt, 2, str_c(st, unit));
	pb_sub(out, field, &vt);
	free(vt.data);
}

static void label(struct pb *sample, struct strings *st, const char *key, uint32_t str,
		  int64_t num)
{
	struct pb l = { 0 };
	pb_int(&l, 1, str_c(st, key));
	pb_int(&l, 2, str);
	pb_int(&l, 3, num);
	pb_sub(sample, 3, &l);
	free(l.data);
}

/* Encodes the Profile message into prof. */
static int encode(struct pyi_model *m, const struct pyi_render_options *o, struct pb *prof)
{
	struct strings st = { 0 };
	struct pyi_frames fr;
	struct pb samples = { 0 }, tmp = { 0 }, ids = { 0 };
	uint32_t *path = NULL, *thread_name = NULL;
	int rc = -ENOMEM;
	pyi_u64map_init(&st.index);
	if (pyi_frames_init(&fr, m, 1))
		goto out;
	str_c(&st, ""); /* string 0 is always "" */

	uint32_t max_depth = 0;
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].depth > max_depth)
			max_depth = m->nodes[i].depth;
	path = malloc((max_depth + 1) * sizeof(*path));
	thread_name = calloc(m->nthreads ? m->nthreads : 1, sizeof(*thread_name));
	if (!path || !thread_name)
		goto out;
	char name[64];
	for (size_t t = 0; t < m->nthreads; t++) {
		const struct pyi_thread *th = &m->threads[t];
		if (th->name_len) {
			thread_name[t] = str_id(&st, th->name, th->name_len);
		} else {
			snprintf(name, sizeof(name), "thread %" PRIu64, th->native_tid);
			thread_name[t] = str_c(&st, name);
		}
	}

	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pyi_stack *s = &m->stacks[i];
		if (!s->w.samples || !pyi_render_thread_on(o, s->thread))
			continue;
		/* location_id, packed, leaf first; location ids are frame numbers + 1. */
		ids.len = 0;
		size_t depth = pyi_model_path(m, s->leaf, path, max_depth + 1);
		for (size_t d = depth; d > 0; d--) {
			uint32_t f = pyi_frames_of_node(&fr, m, path[d - 1]);
			if (f == UINT32_MAX)
				goto out;
			pb_varint(&ids, (uint64_t)f + 1);
		}
		if (s->leaf == PYI_NODE_ROOT)
			pb_varint(&ids, (uint64_t)pyi_frames_marker(&fr, PYI_FRAME_NO_PYTHON) + 1);
		if (s->truncated)
			pb_varint(&ids, (uint64_t)pyi_frames_marker(&fr, PYI_FRAME_TRUNCATED) + 1);
		tmp.len = 0;
		pb_sub(&tmp, 1, &ids);
		struct pb values = { 0 };
		pb_varint(&values, s->w.samples);
		pb_varint(&values, s->w.wall_ns);
		pb_varint(&values, s->w.cpu_ns);
		pb_sub(&tmp, 2, &values);
		free(values.data);
		const struct pyi_thread *th = &m->threads[s->thread];
		label(&tmp, &st, "thread", thread_name[s->thread], 0);
		label(&tmp, &st, "thread_id", 0, (int64_t)th->native_tid);
		label(&tmp, &st, "pid", 0, m->files[th->file].header.pid);
		pb_sub(&samples, 2, &tmp);
	}

	value_type(prof, 1, &st, "samples", "count");
	value_type(prof, 1, &st, "wall", "nanoseconds");
	value_type(prof, 1, &st, "cpu", "nanoseconds");
	pb_bytes(prof, samples.data, samples.len);
	if (samples.failed)
		prof->failed = 1;

	/*
	 * One mapping, the interpreter, saying that functions, files and lines are all there:
	 * pprof then neither looks for the binary nor tries to symbolize.
	 */
	const struct pyi_kv *exe = m->nfiles ? pyi_model_info(m, 0, "executable") : NULL;
	tmp.len = 0;
	pb_int(&tmp, 1, 1);
	pb_int(&tmp, 5, exe ? str_id(&st, exe->value, exe->value_len) : str_c(&st, "python"));
	pb_int(&tmp, 7, 1);
	pb_int(&tmp, 8, 1);
	pb_int(&tmp, 9, 1);
	pb_sub(prof, 3, &tmp);

	/* Locations, then the functions they name. */
	uint32_t *func_id = calloc(m->nfuncs + 3, sizeof(*func_id));
	if (!func_id)
		goto out;
	uint32_t nfunc = 0;
	struct pb functions = { 0 };
	for (size_t i = 0; i < fr.n; i++) {
		const struct pyi_frame_key *k = &fr.list[i];
		/* Markers take the last two function slots. */
		size_t slot = k->func == PYI_FRAME_TRUNCATED   ? m->nfuncs
			      : k->func == PYI_FRAME_NO_PYTHON ? m->nfuncs + 1
							       : k->func;
		if (!func_id[slot]) {
			func_id[slot] = ++nfunc;
			tmp.len = 0;
			pb_int(&tmp, 1, nfunc);
			/*
			 * No system_name: pprof would take a name equal to it for a mangled C++
			 * one and strip "<...>", turning "<module>" and "<lambda>" into nothing.
			 */
			if (slot >= m->nfuncs) {
				pb_int(&tmp, 2, str_c(&st, pyi_frames_marker_name(k->func)));
			} else {
				const struct pyi_func *f = &m->funcs[k->func];
				pb_int(&tmp, 2, str_id(&st, f->qualname, f->qualname_len));
				pb_int(&tmp, 4, str_id(&st, f->filename, f->filename_len));
				pb_int(&tmp, 5, f->first_line);
			}
			pb_sub(&functions, 5, &tmp);
		}
		struct pb line = { 0 };
		pb_int(&line, 1, func_id[slot]);
		pb_int(&line, 2, k->line);
		tmp.len = 0;
		pb_int(&tmp, 1, (int64_t)i + 1);
		pb_int(&tmp, 2, 1); /* the one mapping */
		pb_sub(&tmp, 4, &line);
		free(line.data);
		pb_sub(prof, 4, &tmp);
	}
	free(func_id);
	pb_bytes(prof, functions.data, functions.len);
	if (functions.failed)
		prof->failed = 1;
	free(functions.data);

	/* Time, duration and period; then the default type, and a comment naming the program. */
	uint64_t end = 0, interval = 0;
	for (size_t i = 0; i < m->nfiles; i++) {
		uint64_t e = pyi_describe_offset_ns(m, i) + pyi_describe_duration_ns(m, i);
		if (e > end)
			end = e;
		if (!interval)
			interval = pyi_describe_interval_ns(m, i);
	}
	uint32_t comment = 0;
	if (m->nfiles) {
		char *argv = NULL;
		size_t argv_len = 0;
		FILE *f = open_memstream(&argv, &argv_len);
		if (f) {
			int have = pyi_describe_argv(m, 0, f, pyi_esc_text);
			fclose(f);
			if (have)
				comment = str_id(&st, argv, argv_len);
			free(argv);
		}
	}
	uint32_t metric = str_c(&st, o->metric == PYI_METRIC_CPU ? "cpu" : "wall");
	if (st.failed || st.table.failed)
		goto out;
	pb_bytes(prof, st.table.data, st.table.len);
	pb_int(prof, 9, (int64_t)(m->origin_realtime_ns + (m->has_range ? m->range_start_ns : 0)));
	pb_int(prof, 10, (int64_t)end);
	value_type(prof, 11, &st, "wall", "nanoseconds");
	pb_int(prof, 12, (int64_t)interval);
	if (comment) {
		pb_tag(prof, 13, WIRE_VARINT);
		pb_varint(prof, comment);
	}
	pb_int(prof, 14, metric);
	rc = prof->failed || st.failed ? -ENOMEM : 0;
out:
	free(path);
	free(thread_name);
	free(samples.data);
	free(tmp.data);
	free(ids.data);
	pyi_frames_release(&fr);
	strings_release(&st);
	return rc;
}

int pyi_render_pprof(struct pyi_model *m, const struct pyi_render_options *o, FILE *out)
{
	struct pb prof = { 0 };
	int rc = encode(m, o, &prof);
	if (rc)
		goto out;
	z_stream z;
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip wrapper around the deflate stream. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		rc = -ENOMEM;
		goto out;
	}
	unsigned char chunk[1 << 16];
	size_t fed = 0;
	int zr;
	z.next_in = prof.data;
	do {
		/* zlib counts input in uInt; feed at most 1 GiB at a time. */
		if (z.avail_in == 0 && fed < prof.len) {
			size_t n = prof.len - fed < (1u << 30) ? prof.len - fed : (1u << 30);
			z.avail_in = (uInt)n;
			fed += n;
		}
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zr = deflate(&z, fed == prof.len ? Z_FINISH : Z_NO_FLUSH);
		fwrite(chunk, 1, sizeof(chunk) - z.avail_out, out);
	} while (zr == Z_OK || (zr == Z_BUF_ERROR && z.avail_in));
	deflateEnd(&z);
	if (zr != Z_STREAM_END)
		rc = -EIO;
out:
	free(prof.data);
	return rc;
}
