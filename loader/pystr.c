/*
 * pystr: copies str and bytes objects out of interpreter memory (cpython-frames.md §5).
 *
 * Async-signal-safe: loads through loader/peek.h and arithmetic only. A str is read from
 * whichever of CPython's representations it uses: compact ASCII (already UTF-8), compact
 * UCS1/UCS2/UCS4 (transcoded here), or the legacy form with a separate data pointer.
 * Output is cut before a character that would not fit, so it is always whole UTF-8.
 */
#include "loader/loader.h"

#include "loader/layout.h"
#include "loader/peek.h"

#include <limits.h>

/* PyASCIIObject.state bits, identical on every GIL build from 3.8 to 3.15
 * (Include/cpython/unicodeobject.h): interned 0-1, kind 2-4, compact 5, ascii 6, and on
 * 3.8-3.11 ready 7 (a str whose canonical form is not built yet has ready 0). */
#define STATE_KIND(s) (((s) >> 2) & 7u)
#define STATE_COMPACT(s) (((s) >> 5) & 1u)
#define STATE_ASCII(s) (((s) >> 6) & 1u)
#define STATE_READY(s) (((s) >> 7) & 1u)

/* Encodes code point c as UTF-8 into buf[0..4). Lone surrogates and values beyond Unicode
 * (a str may hold them, e.g. from surrogateescape) become U+FFFD. */
static size_t utf8_encode(uint32_t c, unsigned char *buf)
{
	if (c < 0x80) {
		buf[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		buf[0] = (unsigned char)(0xc0 | (c >> 6));
		buf[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		c = 0xfffd;
	if (c < 0x10000) {
		buf[0] = (unsigned char)(0xe0 | (c >> 12));
		buf[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		buf[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	buf[0] = (unsigned char)(0xf0 | (c >> 18));
	buf[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	buf[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	buf[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* Loads the i-th kind-byte-wide character at data. 0, or -1. */
static int load_char(uintptr_t data, unsigned kind, size_t i, uint32_t *c)
{
	uint8_t c1;
	uint16_t c2;

	switch (kind) {
	case 1:
		if (pyi_peek_u8(data + i, &c1))
			return -1;
		*c = c1;
		return 0;
	case 2:
		if (pyi_peek_u16(data + 2 * i, &c2))
			return -1;
		*c = c2;
		return 0;
	case 4:
		return pyi_peek_u32(data + 4 * i, c);
	default:
		return -1;
	}
}

int pyi_loader_str_sigsafe(const struct pyi_python *py, uintptr_t s, char *buf, size_t cap)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t type, data;
	int64_t length;
	uint32_t state;
	unsigned kind;
	size_t out = 0;

	if (!s || pyi_peek_ptr(s + L->ob_type, &type) || type != L->unicode_type ||
	    pyi_peek_i64(s + L->str_length, &length) || length < 0 ||
	    pyi_peek_u32(s + L->str_state, &state))
		return -1;
	if (cap > INT_MAX)
		cap = INT_MAX; /* the count is returned as an int */
	if (L->str_has_ready_bit && !STATE_READY(state))
		return -1;
	kind = STATE_KIND(state);
	if (STATE_COMPACT(state)) {
		data = s + (uintptr_t)(STATE_ASCII(state) ? L->str_ascii_data : L->str_compact_data);
	} else if (pyi_peek_ptr(s + L->str_compact_data, &data)) {
		return -1; /* legacy: PyUnicodeObject.data.any follows the compact header */
	}
	if (STATE_ASCII(state) && kind != 1)
		return -1;

	/* Every character needs at least one output byte: no more than cap are read. */
	size_t n = (uint64_t)length < cap ? (size_t)length : cap;
	if (!pyi_peek_plausible(data, n * (kind ? kind : 1), 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char enc[4];
		uint32_t c;
		size_t len;

		if (load_char(data, kind, i, &c))
			return -1;
		len = utf8_encode(c, enc);
		if (len > cap - out)
			break;
		for (size_t k = 0; k < len; k++)
			buf[out + k] = (char)enc[k];
		out += len;
	}
	return (int)out;
}

int pyi_loader_bytes_sigsafe(const struct pyi_python *py, uintptr_t b,
			     const unsigned char **data, size_t *len)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t type;
	int64_t size;

	if (!b || pyi_peek_ptr(b + L->ob_type, &type) || type != L->bytes_type ||
	    pyi_peek_i64(b + L->bytes_size, &size) || size < 0 ||
	    !pyi_peek_plausible(b + (uintptr_t)L->bytes_data, (size_t)size, 1))
		return -1;
	*data = (const unsigned char *)(b + (uintptr_t)L->bytes_data);
	*len = (size_t)size;
	return 0;
}
