/*
 * reader: a buffered pass over the file. Records are at most 1 MiB + 8 bytes, so a window of
 * a few MiB always holds one whole record; the bytes of a record are parsed in place and each
 * field is bounds-checked against the record's own length before it is read.
 *
 * Validation state is deliberately small: one bit per code id (a bitmap for the small dense ids
 * the agent hands out, a hash set for anything else) and, per thread, its last stack (needed to
 * resolve REPEAT samples, and to validate only the frames that changed since).
 */
#include "report/reader.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/format.h"
#include "report/u32map.h"

/*
 * Little-endian loads for the hot path: one unaligned load and a byte swap only on big-endian
 * hosts, where format.h's portable helpers assemble byte by byte. Same results.
 */
static inline uint16_t ld16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t ld32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t ld64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#define WINDOW (4u << 20)
/* Code ids below this are tracked in a bitmap (at most 2 MiB); larger ones in a hash set. */
#define DENSE_CODE_IDS (1u << 24)
/* A header larger than this is not a header. */
#define MAX_HEADER_SIZE (1u << 20)

struct source {
	int fd; /* -1: the whole input is in buf already */
	unsigned char *buf;
	size_t start, end; /* unread bytes are buf[start, end) */
	uint64_t offset;   /* file offset of buf[start] */
	int eof;
	int owned;
	/* A mapped file: pages already parsed are given back (see release_parsed). */
	unsigned char *map;
	size_t map_len, map_released;
};

struct thread_state {
	struct pyi_fmt_frame *frames; /* its last stack, root first */
	uint64_t *raw;                /* the same frames as the 8 bytes the file holds */
	uint16_t depth;
	uint32_t cap;
};

struct reader {
	const char *name;
	const struct pyi_rd_callbacks *cb;
	struct pyi_rd_result *res;
	struct source src;

	struct pyi_u32map thread_index; /* thread id -> index in threads */
	struct thread_state *threads;
	size_t nthreads, threads_cap;
	uint32_t last_thread_id, last_thread_idx; /* a one-entry cache of find_thread */
	int have_last_thread;

	unsigned char *code_bits; /* bitmap over ids < code_bits_len * 8 */
	size_t code_bits_len;
	struct pyi_u32map big_codes;

	struct pyi_rd_counter *counters;
	size_t counters_cap;
	uint64_t record_offset; /* offset of the record being parsed, for messages */
};

static int fail(struct reader *r, const char *fmt, ...)
{
	int n = snprintf(r->res->error, sizeof(r->res->error), "%s: ", r->name);
	if (n < 0 || (size_t)n >= sizeof(r->res->error))
		return PYI_RD_EBADFILE;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->res->error + n, sizeof(r->res->error) - (size_t)n, fmt, ap);
	va_end(ap);
	return PYI_RD_EBADFILE;
}

static const char *type_name(uint16_t type)
{
	switch (type) {
	case PYI_REC_INFO:
		return "INFO";
	case PYI_REC_CODE:
		return "CODE";
	case PYI_REC_THREAD:
		return "THREAD";
	case PYI_REC_SAMPLE:
		return "SAMPLE";
	case PYI_REC_COUNTERS:
		return "COUNTERS";
	case PYI_REC_END:
		return "END";
	}
	return "unknown";
}

static int corrupt(struct reader *r, uint16_t type, const char *what, ...)
{
	char detail[200];
	va_list ap;
	va_start(ap, what);
	vsnprintf(detail, sizeof(detail), what, ap);
	va_end(ap);
	return fail(r, "corrupt %s record at byte %" PRIu64 ": %s", type_name(type),
		    r->record_offset, detail);
}

/*
 * Makes n bytes available at buf[start] if the input has them. Returns how many are available
 * (fewer than n only at end of input), or a negative errno.
 */
static ssize_t need(struct reader *r, size_t n)
{
	struct source *s = &r->src;
	while (s->end - s->start < n && !s->eof) {
		if (s->fd < 0) {
			s->eof = 1;
			break;
		}
		if (s->start > 0) {
			memmove(s->buf, s->buf + s->start, s->end - s->start);
			s->end -= s->start;
			s->start = 0;
		}
		ssize_t got = read(s->fd, s->buf + s->end, WINDOW - s->end);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			fail(r, "%s", strerror(err));
			return -err;
		}
		if (got == 0)
			s->eof = 1;
		s->end += (size_t)got;
	}
	size_t have = s->end - s->start;
	return (ssize_t)(have < n ? have : n);
}

/*
 * Page cache pages of a mapped file count in the process's resident size while mapped; giving
 * back what was parsed keeps memory proportional to what the model holds, not to the file.
 */
static void release_parsed(struct source *s)
{
	const size_t step = 16u << 20;
	size_t upto = (size_t)(s->buf + s->start - s->map);
	if (upto - s->map_released < step)
		return;
	size_t len = (upto - s->map_released) & ~(size_t)4095;
	madvise(s->map + s->map_released, len, MADV_DONTNEED);
	s->map_released += len;
}

static void consume(struct reader *r, size_t n)
{
	r->src.start += n;
	r->src.offset += n;
	if (r->src.map)
		release_parsed(&r->src);
}

static int code_defined(const struct reader *r, uint32_t id)
{
	if (id < DENSE_CODE_IDS) {
		if ((size_t)(id >> 3) >= r->code_bits_len)
			return 0;
		return (r->code_bits[id >> 3] >> (id & 7)) & 1;
	}
	return pyi_u32map_get(&r->big_codes, id) != PYI_U32MAP_NONE;
}

static int define_code(struct reader *r, uint32_t id)
{
	if (id >= DENSE_CODE_IDS)
		return pyi_u32map_put(&r->big_codes, id, 1);
	size_t byte = id >> 3;
	if (byte >= r->code_bits_len) {
		size_t len = r->code_bits_len ? r->code_bits_len : 256;
		while (len <= byte)
			len *= 2;
		unsigned char *p = realloc(r->code_bits, len);
		if (!p)
			return -ENOMEM;
		memset(p + r->code_bits_len, 0, len - r->code_bits_len);
		r->code_bits = p;
		r->code_bits_len = len;
	}
	r->code_bits[byte] |= (unsigned char)(1u << (id & 7));
	return 0;
}

/* Index of a defined thread, or -1. */
static long find_thread(struct reader *r, uint32_t id)
{
	if (r->have_last_thread && id == r->last_thread_id)
		return r->last_thread_idx;
	uint32_t idx = pyi_u32map_get(&r->thread_index, id);
	if (idx == PYI_U32MAP_NONE)
		return -1;
	r->last_thread_id = id;
	r->last_thread_idx = idx;
	r->have_last_thread = 1;
	return idx;
}

static int parse_info(struct reader *r, const unsigned char *p, size_t n)
{
	size_t at = 0;
	while (at < n) {
		if (n - at < 2)
			return corrupt(r, PYI_REC_INFO, "entry at payload byte %zu is cut short", at);
		size_t key_len = ld16(p + at);
		if (n - at - 2 < key_len + 4)
			return corrupt(r, PYI_REC_INFO, "key at payload byte %zu runs past the record",
				       at);
		const char *key = (const char *)p + at + 2;
		size_t value_len = ld32(p + at + 2 + key_len);
		size_t value_at = at + 2 + key_len + 4;
		if (n - value_at < value_len)
			return corrupt(r, PYI_REC_INFO,
				       "value at payload byte %zu runs past the record", value_at);
		if (r->cb->info) {
			int rc = r->cb->info(r->cb->ctx, key, key_len, (const char *)p + value_at,
					     value_len);
			if (rc)
				return rc;
		}
		at = value_at + value_len;
	}
	return 0;
}

static int parse_code(struct reader *r, const unsigned char *p, size_t n)
{
	if (n < 12)
		return corrupt(r, PYI_REC_CODE, "%zu bytes is too short", n);
	uint32_t id = ld32(p);
	int32_t first_line = (int32_t)ld32(p + 4);
	size_t qlen = ld16(p + 8);
	if (qlen > n - 12)
		return corrupt(r, PYI_REC_CODE, "qualname length %zu runs past the record", qlen);
	size_t flen = ld16(p + 10 + qlen);
	if (12 + qlen + flen != n)
		return corrupt(r, PYI_REC_CODE,
			       "qualname (%zu) and filename (%zu) lengths do not add up to %zu",
			       qlen, flen, n);
	if (id == 0)
		return corrupt(r, PYI_REC_CODE, "code id 0 is reserved for unknown frames");
	if (code_defined(r, id))
		return corrupt(r, PYI_REC_CODE, "code id %" PRIu32 " is defined twice", id);
	int rc = define_code(r, id);
	if (rc)
		return rc;
	if (r->cb->code)
		return r->cb->code(r->cb->ctx, id, first_line, (const char *)p + 10, qlen,
				   (const char *)p + 12 + qlen, flen);
	return 0;
}

static int parse_thread(struct reader *r, const unsigned char *p, size_t n)
{
	if (n < 14)
		return corrupt(r, PYI_REC_THREAD, "%zu bytes is too short", n);
	uint32_t id = ld32(p);
	uint64_t tid = ld64(p + 4);
	size_t len = ld16(p + 12);
	if (14 + len != n)
		return corrupt(r, PYI_REC_THREAD, "name length %zu does not add up to %zu", len,
			       n);
	if (id == 0)
		return corrupt(r, PYI_REC_THREAD, "thread id 0 is not allowed");
	if (find_thread(r, id) < 0) {
		if (r->nthreads == r->threads_cap) {
			size_t cap = r->threads_cap ? r->threads_cap * 2 : 16;
			struct thread_state *t = realloc(r->threads, cap * sizeof(*t));
			if (!t)
				return -ENOMEM;
			r->threads = t;
			r->threads_cap = cap;
		}
		int rc = pyi_u32map_put(&r->thread_index, id, (uint32_t)r->nthreads);
		if (rc)
			return rc;
		memset(&r->threads[r->nthreads], 0, sizeof(r->threads[0]));
		r->nthreads++;
	}
	if (r->cb->thread)
		return r->cb->thread(r->cb->ctx, id, tid, (const char *)p + 14, len);
	return 0;
}

static int parse_sample(struct reader *r, const unsigned char *p, size_t n)
{
	if (n < PYI_FMT_SAMPLE_FIXED)
		return corrupt(r, PYI_REC_SAMPLE, "%zu bytes is too short", n);
	struct pyi_rd_sample s;
	s.thread_id = ld32(p);
	s.time_ns = ld64(p + 4);
	s.wall_ns = ld64(p + 12);
	s.cpu_ns = ld64(p + 20);
	s.flags = ld16(p + 28);
	uint16_t depth = ld16(p + 30);
	if (PYI_FMT_SAMPLE_FIXED + (size_t)depth * PYI_FMT_FRAME_SIZE != n)
		return corrupt(r, PYI_REC_SAMPLE, "depth %u does not match length %zu",
			       (unsigned)depth, n);
	long ti = find_thread(r, s.thread_id);
	if (ti < 0)
		return corrupt(r, PYI_REC_SAMPLE, "thread %" PRIu32 " is not defined",
			       s.thread_id);
	struct thread_state *t = &r->threads[ti];

	if (s.flags & PYI_SAMPLE_REPEAT) {
		if (depth != 0)
			return corrupt(r, PYI_REC_SAMPLE, "a REPEAT sample has depth %u",
				       (unsigned)depth);
		/* Without an earlier sample there is nothing to repeat: an empty stack. */
		s.depth = t->depth;
		s.same_root = t->depth;
		s.frames = t->frames;
		return r->cb->sample ? r->cb->sample(r->cb->ctx, &s) : 0;
	}

	/*
	 * The file lists frames leaf first; they are kept root first, so the part of the stack
	 * shared with the thread's previous sample (the root end, usually almost all of it)
	 * stays in place and is compared as raw 8-byte words, not decoded or validated again.
	 */
	if (depth > t->cap) {
		uint32_t cap = t->cap ? t->cap : 32;
		while (cap < depth)
			cap *= 2;
		struct pyi_fmt_frame *fr = realloc(t->frames, cap * sizeof(*fr));
		if (!fr)
			return -ENOMEM;
		t->frames = fr;
		uint64_t *raw = realloc(t->raw, cap * sizeof(*raw));
		if (!raw)
			return -ENOMEM;
		t->raw = raw;
		t->cap = cap;
	}
	const unsigned char *leaf_first = p + PYI_FMT_SAMPLE_FIXED;
	uint16_t same = 0;
	uint16_t common = depth < t->depth ? depth : t->depth;
	for (; same < common; same++) {
		uint64_t w;
		memcpy(&w, leaf_first + (size_t)(depth - 1 - same) * PYI_FMT_FRAME_SIZE, 8);
		if (w != t->raw[same])
			break;
	}
	for (uint16_t i = same; i < depth; i++) {
		const unsigned char *f = leaf_first + (size_t)(depth - 1 - i) * PYI_FMT_FRAME_SIZE;
		uint32_t id = ld32(f);
		if (id != 0 && !code_defined(r, id)) {
			/* What was overwritten no longer matches raw: forget the stack. */
			t->depth = 0;
			return corrupt(r, PYI_REC_SAMPLE, "frame %u uses code id %" PRIu32
				       ", which is not defined", (unsigned)(depth - 1 - i), id);
		}
		t->frames[i].code_id = id;
		t->frames[i].line = (int32_t)ld32(f + 4);
		memcpy(&t->raw[i], f, 8);
	}
	t->depth = depth;
	s.depth = depth;
	s.same_root = same;
	s.frames = t->frames;
	return r->cb->sample ? r->cb->sample(r->cb->ctx, &s) : 0;
}

static int parse_counters(struct reader *r, const unsigned char *p, size_t n)
{
	size_t count = 0;
	for (size_t at = 0; at < n;) {
		if (n - at < 2)
			return corrupt(r, PYI_REC_COUNTERS, "entry at payload byte %zu is cut short",
				       at);
		size_t key_len = ld16(p + at);
		if (n - at - 2 < key_len + 8)
			return corrupt(r, PYI_REC_COUNTERS,
				       "entry at payload byte %zu runs past the record", at);
		if (count == r->counters_cap) {
			size_t cap = r->counters_cap ? r->counters_cap * 2 : 16;
			struct pyi_rd_counter *c = realloc(r->counters, cap * sizeof(*c));
			if (!c)
				return -ENOMEM;
			r->counters = c;
			r->counters_cap = cap;
		}
		r->counters[count].key = (const char *)p + at + 2;
		r->counters[count].key_len = key_len;
		r->counters[count].value = ld64(p + at + 2 + key_len);
		count++;
		at += 2 + key_len + 8;
	}
	return r->cb->counters ? r->cb->counters(r->cb->ctx, r->counters, count) : 0;
}

static int parse_end(struct reader *r, const unsigned char *p, size_t n)
{
	if (n != 12)
		return corrupt(r, PYI_REC_END, "length %zu, expected 12", n);
	return r->cb->end ? r->cb->end(r->cb->ctx, ld64(p), ld32(p + 8)) : 0;
}

static int truncated(struct reader *r)
{
	r->res->truncated = 1;
	return 0;
}

static int read_header(struct reader *r)
{
	ssize_t have = need(r, PYI_FMT_HEADER_SIZE);
	if (have < 0)
		return (int)have;
	if (have == 0)
		return fail(r, "empty file, not a pyinstr profile");
	const unsigned char *p = r->src.buf + r->src.start;
	size_t magic = (size_t)have < PYI_FMT_MAGIC_LEN ? (size_t)have : PYI_FMT_MAGIC_LEN;
	if (memcmp(p, PYI_FMT_MAGIC, magic) != 0)
		return fail(r, "not a pyinstr profile");
	struct pyi_rd_header h = {0};
	if (have >= 10) {
		h.major = ld16(p + 8);
		if (h.major > PYI_FMT_MAJOR)
			return fail(r, "format version %u is newer than this pyinstr-report "
				    "(it reads version %u)", (unsigned)h.major, PYI_FMT_MAJOR);
		if (h.major != PYI_FMT_MAJOR)
			return fail(r, "format version %u is not supported (this pyinstr-report "
				    "reads version %u)", (unsigned)h.major, PYI_FMT_MAJOR);
	}
	if (have < PYI_FMT_HEADER_SIZE)
		return truncated(r);
	h.minor = ld16(p + 10);
	uint32_t size = ld32(p + 12);
	h.pid = ld32(p + 16);
	h.start_realtime_ns = ld64(p + 24);
	if (size < PYI_FMT_HEADER_SIZE || size > MAX_HEADER_SIZE)
		return fail(r, "corrupt file header: header size %" PRIu32, size);
	have = need(r, size);
	if (have < 0)
		return (int)have;
	if ((size_t)have < size)
		return truncated(r);
	consume(r, size);
	r->res->valid_bytes = r->src.offset;
	if (r->cb->header)
		return r->cb->header(r->cb->ctx, &h);
	return 0;
}

static int read_records(struct reader *r)
{
	for (;;) {
		ssize_t have = need(r, PYI_FMT_RECORD_HEADER_SIZE);
		if (have < 0)
			return (int)have;
		if (have == 0)
			return 0;
		if (have < PYI_FMT_RECORD_HEADER_SIZE)
			return truncated(r);
		const unsigned char *p = r->src.buf + r->src.start;
		uint16_t type = ld16(p);
		uint32_t len = ld32(p + 4);
		r->record_offset = r->src.offset;
		if (len > PYI_FMT_MAX_PAYLOAD) {
			if (type >= PYI_REC_INFO && type <= PYI_REC_END)
				return corrupt(r, type, "length %" PRIu32 " is over 1 MiB", len);
			return fail(r, "corrupt record at byte %" PRIu64 ": length %" PRIu32
				    " is over 1 MiB", r->record_offset, len);
		}
		have = need(r, PYI_FMT_RECORD_HEADER_SIZE + (size_t)len);
		if (have < 0)
			return (int)have;
		if ((size_t)have < PYI_FMT_RECORD_HEADER_SIZE + (size_t)len)
			return truncated(r);
		p = r->src.buf + r->src.start + PYI_FMT_RECORD_HEADER_SIZE;
		int rc = 0;
		switch (type) {
		case PYI_REC_INFO:
			rc = parse_info(r, p, len);
			break;
		case PYI_REC_CODE:
			rc = parse_code(r, p, len);
			break;
		case PYI_REC_THREAD:
			rc = parse_thread(r, p, len);
			break;
		case PYI_REC_SAMPLE:
			rc = parse_sample(r, p, len);
			break;
		case PYI_REC_COUNTERS:
			rc = parse_counters(r, p, len);
			break;
		case PYI_REC_END:
			rc = parse_end(r, p, len);
			break;
		default:
			r->res->skipped++;
			break;
		}
		if (rc)
			return rc;
		consume(r, PYI_FMT_RECORD_HEADER_SIZE + (size_t)len);
		r->res->records++;
		r->res->valid_bytes = r->src.offset;
	}
}

static int run(struct reader *r)
{
	int rc = read_header(r);
	if (rc || r->res->truncated)
		return rc;
	return read_records(r);
}

static void release(struct reader *r)
{
	for (size_t i = 0; i < r->nthreads; i++) {
		free(r->threads[i].frames);
		free(r->threads[i].raw);
	}
	free(r->threads);
	pyi_u32map_release(&r->thread_index);
	pyi_u32map_release(&r->big_codes);
	free(r->code_bits);
	free(r->counters);
	if (r->src.owned)
		free(r->src.buf);
}

static int start(struct reader *r, const char *name, const struct pyi_rd_callbacks *cb,
		 struct pyi_rd_result *res)
{
	static const struct pyi_rd_callbacks none = {0};
	memset(r, 0, sizeof(*r));
	memset(res, 0, sizeof(*res));
	r->name = name;
	r->cb = cb ? cb : &none;
	r->res = res;
	pyi_u32map_init(&r->thread_index);
	pyi_u32map_init(&r->big_codes);
	return 0;
}

/* Reads bytes in memory; map/map_len describe the mapping they lie in, if any. */
static int read_memory(const void *data, size_t len, const char *name,
		       const struct pyi_rd_callbacks *cb, struct pyi_rd_result *res,
		       void *map, size_t map_len)
{
	struct reader r;
	int rc = start(&r, name, cb, res);
	if (rc)
		goto out;
	r.src.fd = -1;
	/* The reader never writes through buf when fd < 0. */
	r.src.buf = (unsigned char *)(uintptr_t)data;
	r.src.end = len;
	r.src.eof = 1;
	r.src.map = map;
	r.src.map_len = map_len;
	rc = run(&r);
out:
	release(&r);
	return rc;
}

int pyi_reader_read_fd(int fd, const char *name, const struct pyi_rd_callbacks *cb,
		       struct pyi_rd_result *res)
{
	/*
	 * A regular file is mapped and parsed in place, which saves copying every byte once
	 * more; anything else (and a failed mapping) is read through the window. Profiles only
	 * ever grow (the agent appends), so the mapped length stays backed; a file cut shorter
	 * by someone else while being read would raise SIGBUS, as with any mapped reader.
	 */
	struct stat st;
	off_t pos = lseek(fd, 0, SEEK_CUR);
	if (pos >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > pos &&
	    (uint64_t)st.st_size <= SIZE_MAX) {
		size_t len = (size_t)st.st_size;
		void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			madvise(map, len, MADV_SEQUENTIAL);
			int rc = read_memory((unsigned char *)map + pos, len - (size_t)pos, name, cb,
					     res, map, len);
			munmap(map, len);
			return rc;
		}
	}
	struct reader r;
	int rc = start(&r, name, cb, res);
	if (rc)
		goto out;
	r.src.fd = fd;
	r.src.owned = 1;
	r.src.buf = malloc(WINDOW);
	if (!r.src.buf) {
		rc = -ENOMEM;
		fail(&r, "%s", strerror(ENOMEM));
		goto out;
	}
	rc = run(&r);
out:
	release(&r);
	return rc;
}

int pyi_reader_read_mem(const void *data, size_t len, const char *name,
			const struct pyi_rd_callbacks *cb, struct pyi_rd_result *res)
{
	return read_memory(data, len, name, cb, res, NULL, 0);
}

void pyi_reader_truncation_warning(const struct pyi_rd_result *res, const char *name, char *out,
				   size_t out_len)
{
	snprintf(out, out_len,
		 "%s: truncated after %" PRIu64 " records (the process was killed?); "
		 "showing what was written", name, res->records);
}
