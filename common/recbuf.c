/*
 * recbuf: encodes profile records into a growable buffer (contract in recbuf.h, layout in
 * docs/FORMAT.md). Every encoder computes the record's full size first and reserves it in one
 * step, so a failed allocation leaves the buffer exactly as it was.
 */
#include "common/recbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/format.h"

void pyi_recbuf_init(struct pyi_recbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void pyi_recbuf_release(struct pyi_recbuf *b)
{
	free(b->data);
	pyi_recbuf_init(b);
}

void pyi_recbuf_reset(struct pyi_recbuf *b)
{
	b->len = 0;
}

/* Makes room for n more bytes and returns where they start, or NULL (buffer unchanged). */
static unsigned char *reserve(struct pyi_recbuf *b, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *p = realloc(b->data, cap);
		if (!p)
			return NULL;
		b->data = p;
		b->cap = cap;
	}
	unsigned char *at = b->data + b->len;
	b->len += n;
	return at;
}

/* Starts a record with a payload of payload_len bytes; returns the payload's first byte. */
static unsigned char *begin_record(struct pyi_recbuf *b, uint16_t type, size_t payload_len)
{
	if (payload_len > PYI_FMT_MAX_PAYLOAD)
		return NULL;
	unsigned char *p = reserve(b, PYI_FMT_RECORD_HEADER_SIZE + payload_len);
	if (!p)
		return NULL;
	pyi_fmt_record_header(p, type, (uint32_t)payload_len);
	return p + PYI_FMT_RECORD_HEADER_SIZE;
}

static size_t cap_name(size_t len)
{
	return len > PYI_FMT_MAX_NAME ? PYI_FMT_MAX_NAME : len;
}

/* Writes u16 length + bytes; returns the byte after them. */
static unsigned char *put_str16(unsigned char *p, const char *s, size_t len)
{
	pyi_put_u16(p, (uint16_t)len);
	if (len)
		memcpy(p + 2, s, len);
	return p + 2 + len;
}

int pyi_recbuf_file_header(struct pyi_recbuf *b, uint32_t pid, uint64_t start_realtime_ns)
{
	unsigned char *p = reserve(b, PYI_FMT_HEADER_SIZE);
	if (!p)
		return -ENOMEM;
	pyi_fmt_file_header(p, pid, start_realtime_ns);
	return 0;
}

int pyi_recbuf_info(struct pyi_recbuf *b, const char *key, const void *value, size_t value_len)
{
	size_t key_len = strlen(key);
	if (key_len > UINT16_MAX)
		return -EINVAL;
	/* The value must fit the record with the key beside it. */
	if (value_len > PYI_FMT_MAX_PAYLOAD - 6 - key_len)
		return -EINVAL;
	unsigned char *p = begin_record(b, PYI_REC_INFO, 2 + key_len + 4 + value_len);
	if (!p)
		return -ENOMEM;
	p = put_str16(p, key, key_len);
	pyi_put_u32(p, (uint32_t)value_len);
	if (value_len)
		memcpy(p + 4, value, value_len);
	return 0;
}

int pyi_recbuf_code(struct pyi_recbuf *b, uint32_t code_id, int32_t first_line,
		    const char *qualname, size_t qualname_len, const char *filename,
		    size_t filename_len)
{
	qualname_len = cap_name(qualname_len);
	filename_len = cap_name(filename_len);
	unsigned char *p = begin_record(b, PYI_REC_CODE, 12 + qualname_len + filename_len);
	if (!p)
		return -ENOMEM;
	pyi_put_u32(p, code_id);
	pyi_put_u32(p + 4, (uint32_t)first_line);
	p = put_str16(p + 8, qualname, qualname_len);
	put_str16(p, filename, filename_len);
	return 0;
}

int pyi_recbuf_thread(struct pyi_recbuf *b, uint32_t thread_id, uint64_t native_tid,
		      const char *name, size_t name_len)
{
	name_len = cap_name(name_len);
	unsigned char *p = begin_record(b, PYI_REC_THREAD, 14 + name_len);
	if (!p)
		return -ENOMEM;
	pyi_put_u32(p, thread_id);
	pyi_put_u64(p + 4, native_tid);
	put_str16(p + 12, name, name_len);
	return 0;
}

int pyi_recbuf_sample(struct pyi_recbuf *b, uint32_t thread_id, uint64_t time_ns,
		      uint64_t wall_ns, uint64_t cpu_ns, uint16_t flags,
		      const struct pyi_fmt_frame *frames, uint16_t depth)
{
	size_t n = PYI_FMT_SAMPLE_FIXED + (size_t)depth * PYI_FMT_FRAME_SIZE;
	unsigned char *p = begin_record(b, PYI_REC_SAMPLE, n);
	if (!p)
		return -ENOMEM;
	pyi_put_u32(p, thread_id);
	pyi_put_u64(p + 4, time_ns);
	pyi_put_u64(p + 12, wall_ns);
	pyi_put_u64(p + 20, cpu_ns);
	pyi_put_u16(p + 28, flags);
	pyi_put_u16(p + 30, depth);
	p += PYI_FMT_SAMPLE_FIXED;
	for (uint16_t i = 0; i < depth; i++, p += PYI_FMT_FRAME_SIZE) {
		pyi_put_u32(p, frames[i].code_id);
		pyi_put_u32(p + 4, (uint32_t)frames[i].line);
	}
	return 0;
}

int pyi_recbuf_counters(struct pyi_recbuf *b, const struct pyi_fmt_counter *counters, size_t n)
{
	size_t payload = 0;
	for (size_t i = 0; i < n; i++) {
		size_t key_len = strlen(counters[i].key);
		if (key_len > UINT16_MAX)
			return -EINVAL;
		payload += 2 + key_len + 8;
		if (payload > PYI_FMT_MAX_PAYLOAD)
			return -EINVAL;
	}
	unsigned char *p = begin_record(b, PYI_REC_COUNTERS, payload);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p = put_str16(p, counters[i].key, strlen(counters[i].key));
		pyi_put_u64(p, counters[i].value);
		p += 8;
	}
	return 0;
}

int pyi_recbuf_end(struct pyi_recbuf *b, uint64_t time_ns, uint32_t reason)
{
	unsigned char *p = begin_record(b, PYI_REC_END, 12);
	if (!p)
		return -ENOMEM;
	pyi_put_u64(p, time_ns);
	pyi_put_u32(p + 8, reason);
	return 0;
}
