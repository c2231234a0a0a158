/*
 * intern: the table of code objects seen by the sampler, each copied once.
 *
 * The first time a signal handler meets a code object it claims a slot with a CAS and copies
 * what the report needs (qualname, filename, first line, line table) into a preallocated
 * arena, so nothing is read from the interpreter after that handler returns: a code object
 * freed later can never be misread. A hit is confirmed against the live object's identity
 * (the pointers to its names and line table, and its first line), so an address reused by a
 * new code object gets a new entry.
 *
 * Producers: signal handlers (pyi_intern_code_sigsafe, lock-free). Reader: the writer thread,
 * which only looks at entries whose state it has seen READY with acquire ordering.
 * Memory is fixed at pyi_intern_init(): a full table or arena yields id 0 and is counted.
 */
#ifndef PYI_INTERN_H
#define PYI_INTERN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/prefault.h"
#include "loader/loader.h"

enum pyi_intern_state {
	PYI_INTERN_EMPTY = 0,
	PYI_INTERN_FILLING = 1,
	PYI_INTERN_READY = 2,
	PYI_INTERN_FAILED = 3,
};

struct pyi_code_entry {
	_Atomic uintptr_t code;
	_Atomic uint32_t state;
	int32_t first_line;
	struct pyi_code_ident ident;
	const char *qualname;
	const char *filename;
	const unsigned char *linetable;
	uint32_t linetable_len;
	uint16_t qualname_len;
	uint16_t filename_len;
	uint32_t written; /* writer thread only: the session tag whose file has its CODE record */
};

struct pyi_intern {
	struct pyi_code_entry *entries;
	uint32_t mask; /* capacity - 1, capacity a power of two */
	char *arena;
	size_t arena_cap;
	_Atomic size_t arena_used;
	_Atomic uint64_t full; /* code objects we could not intern */
	_Atomic uint32_t filling; /* copies under way: a fork child need not scan when 0 */
	struct pyi_prefault table_pages, arena_pages; /* writer thread only */
};

/* Maps the table (capacity entries, rounded to a power of two) and an arena of arena_bytes.
 * 0 or -errno. Normal context. */
int pyi_intern_init(struct pyi_intern *t, uint32_t capacity, size_t arena_bytes);
void pyi_intern_release(struct pyi_intern *t);

/*
 * The id (>= 1) of live code object code, interning it on first sight; 0 when it cannot be
 * read or interned. *filling is set to the id being copied while the copy runs, and back to 0,
 * so that a fault during the copy can be recorded with pyi_intern_abandon_sigsafe().
 * Async-signal-safe; the caller holds the fault guard.
 */
uint32_t pyi_intern_code_sigsafe(struct pyi_intern *t, const struct pyi_python *py,
				 uintptr_t code, volatile uint32_t *filling);

/* Marks the entry of id failed after a fault interrupted its copy. Async-signal-safe. */
void pyi_intern_abandon_sigsafe(struct pyi_intern *t, uint32_t id);

/* Writer thread: makes the whole table present (a new code object's entry may be on any of
 * its pages) and the arena up to ahead bytes past what is used, so that a handler interning
 * a new code object takes no page fault (first touches made a handler's interning several
 * times slower than the rest of a deep sample). The table costs its whole size in memory at
 * once: 5.5 MiB at 65,536 entries. */
void pyi_intern_prepare(struct pyi_intern *t, size_t ahead);
/* Writer thread: after a fork, the child's pages are shared with the parent until written;
 * prepare them again. */
void pyi_intern_forget_prepared(struct pyi_intern *t);

/* Writer thread: the entry of id, or NULL for an unknown id. */
struct pyi_code_entry *pyi_intern_entry(struct pyi_intern *t, uint32_t id);

#endif
