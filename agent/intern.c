/*
 * intern: see intern.h. Open addressing with linear probing over a power-of-two table; the
 * key is the code object's address. Slots are never removed, so a probe sequence never
 * breaks. The arena is a bump allocator (fetch_add) and is never compacted.
 */
#include "agent/intern.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common/format.h"

/* Enough to absorb clustering in a table kept well under full; a longer probe gives up
 * (counted) rather than spend unbounded time in a signal handler. */
#define MAX_PROBE 64

static void *map_zeroed(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int pyi_intern_init(struct pyi_intern *t, uint32_t capacity, size_t arena_bytes)
{
	uint32_t cap = 1024;
	while (cap < capacity && cap < (1u << 24))
		cap <<= 1;
	memset(t, 0, sizeof(*t));
	t->entries = map_zeroed((size_t)cap * sizeof(*t->entries));
	if (!t->entries)
		return -ENOMEM;
	t->arena = map_zeroed(arena_bytes);
	if (!t->arena) {
		munmap(t->entries, (size_t)cap * sizeof(*t->entries));
		t->entries = NULL;
		return -ENOMEM;
	}
	t->mask = cap - 1;
	t->arena_cap = arena_bytes;
	pyi_prefault_init(&t->table_pages, t->entries, (size_t)cap * sizeof(*t->entries));
	pyi_prefault_init(&t->arena_pages, t->arena, arena_bytes);
	return 0;
}

void pyi_intern_release(struct pyi_intern *t)
{
	if (t->entries)
		munmap(t->entries, (size_t)(t->mask + 1) * sizeof(*t->entries));
	if (t->arena)
		munmap(t->arena, t->arena_cap);
	memset(t, 0, sizeof(*t));
}

/* The address and the identity together: code objects created and freed in a loop come back
 * at the same few addresses, and hashing the address alone would pile every one of them into
 * one probe sequence. */
static uint32_t hash_code(uintptr_t code, const struct pyi_code_ident *ident)
{
	uint64_t x = ((uint64_t)code >> 4) ^ ((uint64_t)ident->qualname * 31) ^
		     ((uint64_t)ident->linetable >> 3) ^ (uint64_t)(uint32_t)ident->first_line;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

static char *arena_alloc(struct pyi_intern *t, size_t n)
{
	/* relaxed: the arena bytes are published through the entry's release store of state */
	size_t at = atomic_fetch_add_explicit(&t->arena_used, n, memory_order_relaxed);
	if (at > t->arena_cap || n > t->arena_cap - at)
		return NULL;
	return t->arena + at;
}

static int same_ident(const struct pyi_code_ident *a, const struct pyi_code_ident *b)
{
	return a->filename == b->filename && a->qualname == b->qualname &&
	       a->linetable == b->linetable && a->first_line == b->first_line;
}

/* Copies a str object into the arena; returns its length or -1. */
static int copy_str(struct pyi_intern *t, const struct pyi_python *py, uintptr_t s,
		    const char **out)
{
	char buf[PYI_FMT_MAX_NAME];
	int n = pyi_loader_str_sigsafe(py, s, buf, sizeof(buf));
	if (n < 0)
		return -1;
	char *dst = arena_alloc(t, (size_t)n ? (size_t)n : 1);
	if (!dst)
		return -1;
	memcpy(dst, buf, (size_t)n);
	*out = dst;
	return n;
}

static int fill(struct pyi_intern *t, const struct pyi_python *py, struct pyi_code_entry *e,
		const struct pyi_code_ident *ident)
{
	const unsigned char *table;
	size_t table_len;
	int n;

	e->ident = *ident;
	e->first_line = ident->first_line;
	n = copy_str(t, py, ident->qualname, &e->qualname);
	if (n < 0)
		return -1;
	e->qualname_len = (uint16_t)n;
	n = copy_str(t, py, ident->filename, &e->filename);
	if (n < 0)
		return -1;
	e->filename_len = (uint16_t)n;
	e->linetable = NULL;
	e->linetable_len = 0;
	if (pyi_loader_bytes_sigsafe(py, ident->linetable, &table, &table_len) == 0 &&
	    table_len > 0 && table_len < (1u << 24)) {
		unsigned char *dst = (unsigned char *)arena_alloc(t, table_len);
		if (!dst)
			return -1;
		memcpy(dst, table, table_len);
		e->linetable = dst;
		e->linetable_len = (uint32_t)table_len;
	}
	return 0;
}

static uint32_t intern_as(struct pyi_intern *t, const struct pyi_python *py, uintptr_t code,
			  const struct pyi_code_ident *ident, volatile uint32_t *filling)
{
	uint32_t h = hash_code(code, ident);
	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		uint32_t idx = (h + i) & t->mask;
		struct pyi_code_entry *e = &t->entries[idx];
		/* acquire: pairs with the release CAS that claimed the slot */
		uintptr_t key = atomic_load_explicit(&e->code, memory_order_acquire);
		if (key == 0) {
			uintptr_t expected = 0;
			/* acq_rel: claim the slot and see any earlier claim's writes on failure */
			if (!atomic_compare_exchange_strong_explicit(&e->code, &expected, code,
								     memory_order_acq_rel,
								     memory_order_acquire)) {
				key = expected;
			} else {
				uint32_t state;
				atomic_store_explicit(&e->state, PYI_INTERN_FILLING,
						      memory_order_relaxed);
				atomic_fetch_add(&t->filling, 1);
				*filling = idx + 1;
				state = fill(t, py, e, ident) == 0 ? PYI_INTERN_READY
								     : PYI_INTERN_FAILED;
				*filling = 0;
				atomic_fetch_sub(&t->filling, 1);
				if (state == PYI_INTERN_FAILED)
					atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
				/* release: the copied fields become visible with READY */
				atomic_store_explicit(&e->state, state, memory_order_release);
				return state == PYI_INTERN_READY ? idx + 1 : 0;
			}
		}
		if (key != code)
			continue;
		/* acquire: the entry's fields are read only after seeing READY */
		uint32_t state = atomic_load_explicit(&e->state, memory_order_acquire);
		if (state == PYI_INTERN_EMPTY || state == PYI_INTERN_FILLING)
			return idx + 1; /* claimed, and another handler is copying it right now */
		if (state == PYI_INTERN_READY && same_ident(&e->ident, ident))
			return idx + 1;
		/* FAILED, or the address now holds another code object: keep probing */
	}
	atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
	return 0;
}

uint32_t pyi_intern_code_sigsafe(struct pyi_intern *t, const struct pyi_python *py,
				 uintptr_t code, volatile uint32_t *filling)
{
	struct pyi_code_ident ident;

	if (!code || pyi_loader_code_ident_sigsafe(py, code, &ident) != 0)
		return 0;
	return intern_as(t, py, code, &ident, filling);
}

void pyi_intern_abandon_sigsafe(struct pyi_intern *t, uint32_t id)
{
	if (id == 0 || id - 1 > t->mask)
		return;
	/* release: pairs with the writer's acquire load of state */
	atomic_store_explicit(&t->entries[id - 1].state, PYI_INTERN_FAILED, memory_order_release);
	atomic_fetch_sub(&t->filling, 1);
}

void pyi_intern_prepare(struct pyi_intern *t, size_t ahead)
{
	pyi_prefault_upto(&t->table_pages, t->table_pages.size);
	/* relaxed: a hint, like the ring's. (A full arena's count runs past its end; the
	 * prefault stops there.) */
	pyi_prefault_upto(&t->arena_pages,
			  atomic_load_explicit(&t->arena_used, memory_order_relaxed) + ahead);
}

void pyi_intern_forget_prepared(struct pyi_intern *t)
{
	pyi_prefault_forget(&t->table_pages);
	pyi_prefault_forget(&t->arena_pages);
}

struct pyi_code_entry *pyi_intern_entry(struct pyi_intern *t, uint32_t id)
{
	if (id == 0 || id - 1 > t->mask)
		return NULL;
	return &t->entries[id - 1];
}
