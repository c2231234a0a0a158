/*
 * escape: writes untrusted names (function and file names, thread names, argv: any bytes, from
 * the profiled program) so that they cannot break the output format they land in.
 * Normal context; writes through stdio.
 */
#ifndef PYI_ESCAPE_H
#define PYI_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
size_t pyi_utf8_seq(const unsigned char *s, size_t n);

/*
 * Terminal text: control characters (C0, DEL, C1), U+2028 and U+2029, and bytes that are not
 * UTF-8 become '?'. The output is valid UTF-8 and a name never breaks a line.
 */
void pyi_esc_text(FILE *out, const char *s, size_t n);
/* Collapsed stacks: as text, and ';' (the frame separator) becomes ':'. */
void pyi_esc_collapsed(FILE *out, const char *s, size_t n);
/* A JSON string, quotes included; bytes that are not UTF-8 become U+FFFD. */
void pyi_esc_json(FILE *out, const char *s, size_t n);
/* Display width in columns of what pyi_esc_text writes (one per character). */
size_t pyi_text_width(const char *s, size_t n);

#endif
