/*
 * The pyinstr profile format, version 1: constants and the little-endian encoding helpers
 * shared by the agent's writer and the report's reader. docs/FORMAT.md is the specification;
 * this header follows it, and on-disk numbers here are never renumbered.
 *
 * Everything here is pure computation over caller-provided buffers: no allocation, no I/O,
 * safe from any thread (the encoders are not called from the signal handler, but could be).
 */
#ifndef PYI_FORMAT_H
#define PYI_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PYI_FMT_MAGIC "PYINSTR\x1a"
#define PYI_FMT_MAGIC_LEN 8
#define PYI_FMT_MAJOR 1
#define PYI_FMT_MINOR 0
#define PYI_FMT_HEADER_SIZE 32
#define PYI_FMT_RECORD_HEADER_SIZE 8
#define PYI_FMT_MAX_PAYLOAD (1u << 20)

enum pyi_record_type {
	PYI_REC_INFO = 1,
	PYI_REC_CODE = 2,
	PYI_REC_THREAD = 3,
	PYI_REC_SAMPLE = 4,
	PYI_REC_COUNTERS = 5,
	PYI_REC_END = 6,
};

enum pyi_sample_flag {
	PYI_SAMPLE_TRUNCATED = 1u << 0,
	PYI_SAMPLE_REPEAT = 1u << 1,
	PYI_SAMPLE_PARTIAL = 1u << 2,
};

enum pyi_end_reason {
	PYI_END_EXIT = 0,
	PYI_END_UNDERSCORE_EXIT = 1,
	PYI_END_EXEC = 2,
	PYI_END_API_STOP = 3,
};

/* Fixed part of a SAMPLE payload, before the frames. */
#define PYI_FMT_SAMPLE_FIXED 32
#define PYI_FMT_FRAME_SIZE 8

/* Maximum string length the agent writes for a name or a path (longer ones are cut). */
#define PYI_FMT_MAX_NAME 1024

static inline void pyi_put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void pyi_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void pyi_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t pyi_get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t pyi_get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t pyi_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Writes the 32-byte file header into out. */
static inline void pyi_fmt_file_header(unsigned char out[PYI_FMT_HEADER_SIZE], uint32_t pid,
				       uint64_t start_realtime_ns)
{
	memset(out, 0, PYI_FMT_HEADER_SIZE);
	memcpy(out, PYI_FMT_MAGIC, PYI_FMT_MAGIC_LEN);
	pyi_put_u16(out + 8, PYI_FMT_MAJOR);
	pyi_put_u16(out + 10, PYI_FMT_MINOR);
	pyi_put_u32(out + 12, PYI_FMT_HEADER_SIZE);
	pyi_put_u32(out + 16, pid);
	pyi_put_u64(out + 24, start_realtime_ns);
}

/* Writes an 8-byte record header into out. */
static inline void pyi_fmt_record_header(unsigned char out[PYI_FMT_RECORD_HEADER_SIZE],
					 uint16_t type, uint32_t payload_len)
{
	pyi_put_u16(out, type);
	pyi_put_u16(out + 2, 0);
	pyi_put_u32(out + 4, payload_len);
}

#endif
