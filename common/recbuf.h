/*
 * recbuf: builds profile records (docs/FORMAT.md) into a growable memory buffer.
 * The agent's writer thread encodes with it, and tests use it to make profile files.
 * Allocates with malloc: never call it from a signal handler.
 * Functions return 0, or -ENOMEM, or -EINVAL when a key is over 65535 bytes or a payload
 * would exceed 1 MiB (the buffer is then unchanged).
 */
#ifndef PYI_RECBUF_H
#define PYI_RECBUF_H

#include <stddef.h>
#include <stdint.h>

struct pyi_recbuf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

struct pyi_fmt_frame {
	uint32_t code_id;
	int32_t line;
};

struct pyi_fmt_counter {
	const char *key;
	uint64_t value;
};

void pyi_recbuf_init(struct pyi_recbuf *b);
void pyi_recbuf_release(struct pyi_recbuf *b);
/* Forgets the contents, keeps the memory. */
void pyi_recbuf_reset(struct pyi_recbuf *b);

int pyi_recbuf_file_header(struct pyi_recbuf *b, uint32_t pid, uint64_t start_realtime_ns);
/* One INFO record holding one entry. */
int pyi_recbuf_info(struct pyi_recbuf *b, const char *key, const void *value, size_t value_len);
int pyi_recbuf_code(struct pyi_recbuf *b, uint32_t code_id, int32_t first_line,
		    const char *qualname, size_t qualname_len, const char *filename,
		    size_t filename_len);
int pyi_recbuf_thread(struct pyi_recbuf *b, uint32_t thread_id, uint64_t native_tid,
		      const char *name, size_t name_len);
/* frames: depth entries, leaf first. */
int pyi_recbuf_sample(struct pyi_recbuf *b, uint32_t thread_id, uint64_t time_ns,
		      uint64_t wall_ns, uint64_t cpu_ns, uint16_t flags,
		      const struct pyi_fmt_frame *frames, uint16_t depth);
int pyi_recbuf_counters(struct pyi_recbuf *b, const struct pyi_fmt_counter *counters, size_t n);
int pyi_recbuf_end(struct pyi_recbuf *b, uint64_t time_ns, uint32_t reason);

#endif
