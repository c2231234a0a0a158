/*
 * escape: writes untrusted names (function and file names, thread names, argv: any bytes, from
 * the profiled program) so that they cannot break the output format they land in.
 * Normal context; writes through stdio.
 */
#ifndef PYI_ESCAPE_H
#define PYI_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
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
/*
 * The inside of a JSON string, without quotes. With no_low, bytes 0x00 and 0x01 become '?'
 * (pyinstrument uses them as separators inside its strings).
 */
void pyi_esc_json_body(FILE *out, const char *s, size_t n, int no_low);
/* Writes v in decimal; much cheaper than fprintf in the formats that write millions. */
void pyi_put_uint(FILE *out, uint64_t v);


#endif
