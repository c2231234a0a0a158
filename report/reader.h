/*
 * reader: streams one profile file (docs/FORMAT.md) record by record into callbacks.
 *
 * The reader validates every record before a callback sees it, so callbacks can trust what they
 * get: a SAMPLE only names threads and code ids defined earlier (code id 0 is the "unknown
 * frame"), lengths add up, strings have their stated length. A REPEAT sample is delivered with
 * the thread's previous stack already filled in. Memory held is per thread (its last stack) and
 * per code id (one bit), never per sample, so a file of any length streams in bounded memory.
 *
 * Outcomes: a record of unknown type is skipped; a file that ends inside a record is truncated
 * (the read succeeds with what came before, and the result says so); anything else malformed is
 * an error whose message names the file and the byte offset. No input crashes the reader.
 *
 * Normal context (allocates, does I/O); one reader per call, so any thread may read.
 */
#ifndef PYI_READER_H
#define PYI_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/recbuf.h"

/* Returned for a file that is not a valid profile (the message says why). */
#define PYI_RD_EBADFILE 1000

struct pyi_rd_header {
	uint16_t major;
	uint16_t minor;
	uint32_t pid;
	uint64_t start_realtime_ns;
};

struct pyi_rd_sample {
	uint32_t thread_id;
	uint64_t time_ns;
	uint64_t wall_ns;
	uint64_t cpu_ns;
	uint16_t flags; /* as written; a REPEAT sample carries its resolved stack below */
	uint16_t depth;
	/* Root first (the file stores them leaf first); valid during the callback only. */
	const struct pyi_fmt_frame *frames;
	/* How many frames at the root end equal those of this thread's previous sample: a consumer
	 * that caches work per stack prefix may reuse that much. */
	uint16_t same_root;
};

struct pyi_rd_counter {
	const char *key;
	size_t key_len;
	uint64_t value;
};

/*
 * Every callback may be NULL. A callback that returns non-zero stops the read, and
 * pyi_reader_read returns that value. Strings point into the reader's buffer: copy what you
 * keep. They are not NUL-terminated.
 */
struct pyi_rd_callbacks {
	void *ctx;
	int (*header)(void *ctx, const struct pyi_rd_header *h);
	int (*info)(void *ctx, const char *key, size_t key_len, const char *value,
		    size_t value_len);
	int (*code)(void *ctx, uint32_t code_id, int32_t first_line, const char *qualname,
		    size_t qualname_len, const char *filename, size_t filename_len);
	int (*thread)(void *ctx, uint32_t thread_id, uint64_t native_tid, const char *name,
		      size_t name_len);
	int (*sample)(void *ctx, const struct pyi_rd_sample *s);
	/* One call per COUNTERS record with all its entries; it supersedes earlier ones. */
	int (*counters)(void *ctx, const struct pyi_rd_counter *c, size_t n);
	int (*end)(void *ctx, uint64_t time_ns, uint32_t reason);
};

struct pyi_rd_result {
	uint64_t records;       /* complete records read, the header not counted */
	uint64_t skipped;       /* records of unknown type */
	int truncated;          /* the file ended inside a record (or inside the header) */
	uint64_t valid_bytes;   /* bytes up to the end of the last complete record */
	char error[320];        /* on failure: "FILE: what is wrong" */
};

/*
 * Reads the profile from fd (read from its current position to end of file) under the display
 * name name. Returns 0 (check res->truncated), PYI_RD_EBADFILE for an invalid file, a negative
 * errno for an I/O or memory failure, or a callback's non-zero value. res->error is set for
 * the first two and for I/O errors.
 */
int pyi_reader_read_fd(int fd, const char *name, const struct pyi_rd_callbacks *cb,
		       struct pyi_rd_result *res);
/* The same over bytes in memory (tests and the fuzzer use it). */
int pyi_reader_read_mem(const void *data, size_t len, const char *name,
			const struct pyi_rd_callbacks *cb, struct pyi_rd_result *res);

/* The one-line warning for a truncated file, without program name or newline. */
void pyi_reader_truncation_warning(const struct pyi_rd_result *res, const char *name, char *out,
				   size_t out_len);

#endif
