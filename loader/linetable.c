/*
 * linetable: the three CPython line-table decoders (cpython-frames.md §4.2).
 *
 * Each one reproduces the interpreter's PyCode_Addr2Line() for its versions, including the
 * odd corners (what an instruction before the first one or past the last one maps to), and
 * each reads the table only inside [table, table+len): the table is a copy of interpreter
 * data and is treated as untrusted. Pure functions; async-signal-safe.
 */
#include "loader/linetable.h"

#include <stdint.h>

/*
 * 3.8, 3.9 co_lnotab (Objects/lnotab_notes.txt): pairs (address increment: uint8 bytes,
 * line increment: int8). The line of byte offset q is first_line plus the line increments
 * of every pair whose running address is <= q. There is no "no line" and no end: an offset
 * past the last pair keeps the last line, as PyCode_Addr2Line does.
 */
static int lnotab_line(const unsigned char *t, size_t len, int line, int q)
{
	long addr = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > q)
			break;
		line += (int8_t)t[i + 1];
	}
	return line;
}

/*
 * 3.10 co_linetable (Objects/lnotab_notes.txt of 3.10): pairs (length: uint8 bytes, line
 * delta: int8). Each pair covers [end, end+length); delta -128 means the range has no line
 * (and leaves the running line alone). Queried at byte q = 2*instr; past the end: -1.
 */
static int linetable_line(const unsigned char *t, size_t len, int line, long q)
{
	long start = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		long end = start + t[i];
		int delta = (int8_t)t[i + 1];
		int this_line = -1;

		if (delta != -128) {
			line += delta;
			this_line = line;
		}
		if (start <= q && q < end)
			return this_line;
		start = end;
	}
	return -1;
}

/* Reads an unsigned varint (6-bit groups, 0x40 = more) at t[*i]. 0, or -1 if truncated. */
static int read_varint(const unsigned char *t, size_t len, size_t *i, uint32_t *out)
{
	uint32_t val = 0;
	unsigned shift = 0;

	for (;;) {
		if (*i >= len || shift > 30)
			return -1;
		unsigned char b = t[(*i)++];
		val |= (uint32_t)(b & 63) << shift;
		if (!(b & 64))
			break;
		shift += 6;
	}
	*out = val;
	return 0;
}

/*
 * 3.11+ location table (Objects/locations.md). Each entry starts with a byte that has bit 7
 * set: bits 6-3 are the form, bits 2-0 the length in code units minus one. Forms 0-9 keep
 * the line; 10-12 add form-10; 13 and 14 add a signed varint; 15 means "no location" (line
 * -1, running line unchanged). Like CPython, the next entry is the next byte with bit 7 set,
 * so the column bytes that follow need no parsing. Queried in code units; past the end: -1.
 */
static int locations_line(const unsigned char *t, size_t len, int line, long q)
{
	long addr = 0;
	size_t i = 0;

	while (i < len) {
		unsigned char head = t[i];
		unsigned form = (head >> 3) & 15;
		long length = (head & 7) + 1;
		int this_line;

		if (!(head & 0x80))
			return -1; /* not at an entry: the table is damaged */
		if (form == 13 || form == 14) {
			uint32_t v;
			size_t j = i + 1;

			if (read_varint(t, len, &j, &v))
				return -1;
			line += (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
		} else if (form >= 10 && form <= 12) {
			line += (int)form - 10;
		}
		this_line = form == 15 ? -1 : line;
		if (addr <= q && q < addr + length)
			return this_line;
		addr += length;
		do
			i++;
		while (i < len && !(t[i] & 0x80));
	}
	return -1;
}

int pyi_linetable_line(enum pyi_linetable_kind kind, const unsigned char *table, size_t len,
		       int first_line, int instr)
{
	if (instr < 0)
		return first_line;
	if (!table)
		len = 0;
	switch (kind) {
	case PYI_LT_LNOTAB:
		return lnotab_line(table, len, first_line, instr);
	case PYI_LT_LINETABLE:
		return linetable_line(table, len, first_line, 2L * instr);
	case PYI_LT_LOCATIONS:
		return locations_line(table, len, first_line, instr);
	default:
		return -1;
	}
}
