/*
 * peek: the one way loader/ reads interpreter memory from the signal handler.
 *
 * Every load that walk.c and pystr.c make through a pointer found in the interpreter goes
 * through pyi_peek_sigsafe() (or the typed wrappers below, which call it), or through the
 * pyi_peek_checked_* loads after pyi_peek_plausible() accepted the span they lie in, so the
 * reads can be audited in one place. The check is plausibility only: the address is aligned
 * for the size, at least 4096 (NULL and small integers such as the 0x1..0x13 garbage CPython
 * 3.11 and 3.12 leave in a half-published _PyCFrame, cpython-frames.md §7.1) and below the end
 * of the x86-64 47-bit user address space. A plausible address can still be unmapped; the agent's
 * fault guard catches that. Loads are volatile so the compiler neither merges nor moves them
 * across the guard.
 *
 * Loader-private. Async-signal-safe: pure loads and arithmetic, no calls.
 */
#ifndef PYI_PEEK_H
#define PYI_PEEK_H

#include <stddef.h>
#include <stdint.h>

#define PYI_PEEK_MIN ((uintptr_t)4096)
#define PYI_PEEK_END ((uintptr_t)0x800000000000)

/* Non-zero when [addr, addr+len) lies in the plausible range and addr is aligned to align. */
static inline int pyi_peek_plausible(uintptr_t addr, size_t len, size_t align)
{
	if (addr < PYI_PEEK_MIN || addr >= PYI_PEEK_END)
		return 0;
	if (len > PYI_PEEK_END - addr)
		return 0;
	return align <= 1 || (addr & (align - 1)) == 0;
}

/* Loads size (1, 2, 4 or 8) bytes at addr into out. 0, or -1 when addr is implausible. */
static inline int pyi_peek_sigsafe(uintptr_t addr, void *out, size_t size)
{
	if (!pyi_peek_plausible(addr, size, size))
		return -1;
	switch (size) {
	case 1:
		*(uint8_t *)out = *(const volatile uint8_t *)addr;
		return 0;
	case 2:
		*(uint16_t *)out = *(const volatile uint16_t *)addr;
		return 0;
	case 4:
		*(uint32_t *)out = *(const volatile uint32_t *)addr;
		return 0;
	case 8:
		*(uint64_t *)out = *(const volatile uint64_t *)addr;
		return 0;
	default:
		return -1;
	}
}

static inline int pyi_peek_ptr(uintptr_t addr, uintptr_t *out)
{
	uint64_t v;

	if (pyi_peek_sigsafe(addr, &v, sizeof(v)))
		return -1;
	*out = (uintptr_t)v;
	return 0;
}

static inline int pyi_peek_i64(uintptr_t addr, int64_t *out)
{
	uint64_t v;

	if (pyi_peek_sigsafe(addr, &v, sizeof(v)))
		return -1;
	*out = (int64_t)v;
	return 0;
}

static inline int pyi_peek_u32(uintptr_t addr, uint32_t *out)
{
	return pyi_peek_sigsafe(addr, out, sizeof(*out));
}

static inline int pyi_peek_i32(uintptr_t addr, int32_t *out)
{
	uint32_t v;

	if (pyi_peek_sigsafe(addr, &v, sizeof(v)))
		return -1;
	*out = (int32_t)v;
	return 0;
}

static inline int pyi_peek_u16(uintptr_t addr, uint16_t *out)
{
	return pyi_peek_sigsafe(addr, out, sizeof(*out));
}

static inline int pyi_peek_u8(uintptr_t addr, uint8_t *out)
{
	return pyi_peek_sigsafe(addr, out, sizeof(*out));
}

/*
 * Reads from a record checked once: a walk that loads several fields of one frame checks the
 * record's whole span with pyi_peek_plausible (the record 8-byte aligned, every field at its
 * natural alignment inside it), then loads each field with these, which do not check again.
 */
static inline uintptr_t pyi_peek_checked_ptr(uintptr_t addr)
{
	return (uintptr_t)*(const volatile uint64_t *)addr;
}

static inline uint8_t pyi_peek_checked_u8(uintptr_t addr)
{
	return *(const volatile uint8_t *)addr;
}

#endif
