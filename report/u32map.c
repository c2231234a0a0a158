/*
 * u32map: linear probing at load factor at most 1/2, so probe chains stay short even when keys
 * are adversarial (the hash mixes all bits first).
 */
#include "report/u32map.h"

#include <errno.h>
#include <stdlib.h>

void pyi_u32map_init(struct pyi_u32map *m)
{
	m->slots = NULL;
	m->mask = 0;
	m->used = 0;
}

void pyi_u32map_release(struct pyi_u32map *m)
{
	free(m->slots);
	pyi_u32map_init(m);
}

uint32_t pyi_u32map_get(const struct pyi_u32map *m, uint32_t key)
{
	if (!m->slots)
		return PYI_U32MAP_NONE;
	for (size_t i = pyi_u32map_hash(key) & m->mask;; i = (i + 1) & m->mask) {
		const struct pyi_u32map_slot *s = &m->slots[i];
		if (s->value == PYI_U32MAP_NONE)
			return PYI_U32MAP_NONE;
		if (s->key == key)
			return s->value;
	}
}

static void insert(struct pyi_u32map_slot *slots, size_t mask, uint32_t key, uint32_t value)
{
	size_t i = pyi_u32map_hash(key) & mask;
	while (slots[i].value != PYI_U32MAP_NONE && slots[i].key != key)
		i = (i + 1) & mask;
	slots[i].key = key;
	slots[i].value = value;
}

static int grow(struct pyi_u32map *m)
{
	size_t n = m->slots ? (m->mask + 1) * 2 : 16;
	struct pyi_u32map_slot *slots = malloc(n * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		slots[i].value = PYI_U32MAP_NONE;
	if (m->slots) {
		for (size_t i = 0; i <= m->mask; i++)
			if (m->slots[i].value != PYI_U32MAP_NONE)
				insert(slots, n - 1, m->slots[i].key, m->slots[i].value);
		free(m->slots);
	}
	m->slots = slots;
	m->mask = n - 1;
	return 0;
}

int pyi_u32map_put(struct pyi_u32map *m, uint32_t key, uint32_t value)
{
	if (pyi_u32map_get(m, key) != PYI_U32MAP_NONE) {
		insert(m->slots, m->mask, key, value);
		return 0;
	}
	if (!m->slots || (m->used + 1) * 2 > m->mask + 1) {
		int rc = grow(m);
		if (rc)
			return rc;
	}
	insert(m->slots, m->mask, key, value);
	m->used++;
	return 0;
}

static uint32_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

void pyi_u64map_init(struct pyi_u64map *m)
{
	m->slots = NULL;
	m->mask = 0;
	m->used = 0;
}

void pyi_u64map_release(struct pyi_u64map *m)
{
	free(m->slots);
	pyi_u64map_init(m);
}

uint32_t pyi_u64map_get(const struct pyi_u64map *m, uint64_t key)
{
	if (!m->slots)
		return PYI_U32MAP_NONE;
	for (size_t i = hash64(key) & m->mask;; i = (i + 1) & m->mask) {
		const struct pyi_u64map_slot *s = &m->slots[i];
		if (s->value == PYI_U32MAP_NONE)
			return PYI_U32MAP_NONE;
		if (s->key == key)
			return s->value;
	}
}

static void insert64(struct pyi_u64map_slot *slots, size_t mask, uint64_t key, uint32_t value)
{
	size_t i = hash64(key) & mask;
	while (slots[i].value != PYI_U32MAP_NONE && slots[i].key != key)
		i = (i + 1) & mask;
	slots[i].key = key;
	slots[i].value = value;
}

int pyi_u64map_put(struct pyi_u64map *m, uint64_t key, uint32_t value)
{
	if (pyi_u64map_get(m, key) != PYI_U32MAP_NONE) {
		insert64(m->slots, m->mask, key, value);
		return 0;
	}
	if (!m->slots || (m->used + 1) * 2 > m->mask + 1) {
		size_t n = m->slots ? (m->mask + 1) * 2 : 16;
		struct pyi_u64map_slot *slots = malloc(n * sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			slots[i].value = PYI_U32MAP_NONE;
		if (m->slots) {
			for (size_t i = 0; i <= m->mask; i++)
				if (m->slots[i].value != PYI_U32MAP_NONE)
					insert64(slots, n - 1, m->slots[i].key, m->slots[i].value);
			free(m->slots);
		}
		m->slots = slots;
		m->mask = n - 1;
	}
	insert64(m->slots, m->mask, key, value);
	m->used++;
	return 0;
}
