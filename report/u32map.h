/*
 * u32map: open-addressing hash maps from uint32_t (or uint64_t) keys to uint32_t values, for
 * the reader's, the model's and the renderers' id tables. Any key is allowed; the value UINT32_MAX is reserved (it marks a
 * free slot). Grows by doubling; lookups never allocate. Normal context, one owner at a time.
 */
#ifndef PYI_U32MAP_H
#define PYI_U32MAP_H

#include <stddef.h>
#include <stdint.h>

#define PYI_U32MAP_NONE UINT32_MAX

struct pyi_u32map_slot {
	uint32_t key;
	uint32_t value;
};

struct pyi_u32map {
	struct pyi_u32map_slot *slots;
	size_t mask; /* slot count - 1, slot count a power of two; 0 when nothing allocated */
	size_t used;
};

void pyi_u32map_init(struct pyi_u32map *m);
void pyi_u32map_release(struct pyi_u32map *m);
/* The value for key, or PYI_U32MAP_NONE. */
uint32_t pyi_u32map_get(const struct pyi_u32map *m, uint32_t key);
/* Sets key to value (value != PYI_U32MAP_NONE). Returns 0 or -ENOMEM. */
int pyi_u32map_put(struct pyi_u32map *m, uint32_t key, uint32_t value);

/* The same with 64-bit keys (pairs of ids, for instance). */
struct pyi_u64map_slot {
	uint64_t key;
	uint32_t value;
};

struct pyi_u64map {
	struct pyi_u64map_slot *slots;
	size_t mask;
	size_t used;
};

void pyi_u64map_init(struct pyi_u64map *m);
void pyi_u64map_release(struct pyi_u64map *m);
uint32_t pyi_u64map_get(const struct pyi_u64map *m, uint64_t key);
int pyi_u64map_put(struct pyi_u64map *m, uint64_t key, uint32_t value);

/* The hash used by the map, also handy for callers mixing several fields. */
static inline uint32_t pyi_u32map_hash(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

#endif
