/*
 * escape: one scanner for UTF-8 validity, shared by every text format. Overlong forms,
 * surrogates and code points past U+10FFFF count as invalid, as JSON parsers require.
 */
#include "report/escape.h"

#include <stdint.h>

size_t pyi_utf8_seq(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp, min;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Length of the character at p if it may appear in text output, or 0 if it must be replaced:
 * bytes that are not UTF-8, C0 and C1 controls and DEL (they move terminals around), and the
 * Unicode line and paragraph separators (line breaks to some readers, e.g. Python's
 * str.splitlines).
 */
static size_t printable(const unsigned char *p, size_t n)
{
	size_t len = pyi_utf8_seq(p, n);
	if (len == 0 || p[0] < 0x20 || p[0] == 0x7f)
		return 0;
	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	if (len == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
		return 0;
	return len;
}

static void put_text(FILE *out, const char *s, size_t n, int collapsed)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		/* Plain printable ASCII, the common case, goes out in one piece. */
		size_t run = 0;
		while (i + run < n && p[i + run] >= 0x20 && p[i + run] < 0x7f &&
		       !(collapsed && p[i + run] == ';'))
			run++;
		if (run) {
			fwrite(p + i, 1, run, out);
			i += run;
			continue;
		}
		size_t len = printable(p + i, n - i);
		if (len == 0) {
			size_t bad = pyi_utf8_seq(p + i, n - i);
			putc_unlocked('?', out);
			i += bad ? bad : 1;
		} else if (collapsed && p[i] == ';') {
			putc_unlocked(':', out);
			i++;
		} else {
			fwrite(p + i, 1, len, out);
			i += len;
		}
	}
}

void pyi_esc_collapsed(FILE *out, const char *s, size_t n)
{
	put_text(out, s, n, 1);
}

void pyi_esc_text(FILE *out, const char *s, size_t n)
{
	put_text(out, s, n, 0);
}

void pyi_esc_json(FILE *out, const char *s, size_t n)
{
	putc_unlocked('"', out);
	pyi_esc_json_body(out, s, n, 0);
	putc_unlocked('"', out);
}

void pyi_esc_json_body(FILE *out, const char *s, size_t n, int no_low)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			putc_unlocked('\\', out);
			putc_unlocked(c, out);
			i++;
		} else if (c == '\n') {
			fputs("\\n", out);
			i++;
		} else if (c == '\t') {
			fputs("\\t", out);
			i++;
		} else if (no_low && c < 0x02) {
			putc_unlocked('?', out);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fputs("\\u00", out);
			putc_unlocked(hex[c >> 4], out);
			putc_unlocked(hex[c & 15], out);
			i++;
		} else if (c < 0x80) {
			/* '<' and '&' are fine in JSON, but escaping them keeps the text safe to
			 * embed in HTML, as viewers often do. */
			if (c == '<' || c == '>' || c == '&') {
				fputs("\\u00", out);
				putc_unlocked(hex[c >> 4], out);
				putc_unlocked(hex[c & 15], out);
			} else {
				putc_unlocked(c, out);
			}
			i++;
		} else {
			size_t len = pyi_utf8_seq(p + i, n - i);
			if (len == 0) {
				fputs("\\ufffd", out);
				i++;
			} else if (len == 3 && c == 0xe2 && p[i + 1] == 0x80 &&
				   (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
				/* Valid JSON, but line terminators in JavaScript source. */
				fputs(p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", out);
				i += 3;
			} else {
				fwrite(p + i, 1, len, out);
				i += len;
			}
		}
	}
}

void pyi_put_uint(FILE *out, uint64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fwrite(buf + i, 1, sizeof(buf) - i, out);
}
