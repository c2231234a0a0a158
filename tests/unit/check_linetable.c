/*
 * Unit tests for loader/linetable: hand-made tables for each of the three encodings (with
 * their edge cases), then every offset of thousands of real code objects compared with the
 * answer of each interpreter installed here (tests/unit/linetable_cases.py).
 */
#include "loader/linetable.h"

#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T(...) ((const unsigned char[]){ __VA_ARGS__ })
#define LEN(...) sizeof((const unsigned char[]){ __VA_ARGS__ })

/* Line at instr for a table written inline. */
#define LINE(kind, first, instr, ...) \
	pyi_linetable_line((kind), T(__VA_ARGS__), LEN(__VA_ARGS__), (first), (instr))

START_TEST(every_kind_maps_a_negative_offset_to_the_first_line)
{
	static const enum pyi_linetable_kind kinds[] = { PYI_LT_LNOTAB, PYI_LT_LINETABLE,
							 PYI_LT_LOCATIONS };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		ck_assert_int_eq(LINE(kinds[i], 42, -1, 0x82, 0x00), 42);
		ck_assert_int_eq(pyi_linetable_line(kinds[i], NULL, 0, 42, -1), 42);
		ck_assert_int_eq(pyi_linetable_line(kinds[i], T(0x82), 1, 42, -5000), 42);
	}
}
END_TEST

START_TEST(unknown_kind_has_no_line)
{
	ck_assert_int_eq(LINE(PYI_LT_NONE, 7, 0, 0x82, 0x00), -1);
	ck_assert_int_eq(LINE((enum pyi_linetable_kind)99, 7, 3, 0x82, 0x00), -1);
}
END_TEST

START_TEST(lnotab_adds_line_increments_up_to_the_byte_offset)
{
	/* (6 bytes, +1) then (8 bytes, +2): bytes 0-5 line 10, 6-13 line 11, 14+ line 13. */
	for (int q = 0; q < 6; q++)
		ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 10, q, 6, 1, 8, 2), 10);
	for (int q = 6; q < 14; q++)
		ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 10, q, 6, 1, 8, 2), 11);
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 10, 14, 6, 1, 8, 2), 13);
}
END_TEST

START_TEST(lnotab_keeps_the_last_line_past_the_end_like_the_interpreter)
{
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 10, 100000, 6, 1, 8, 2), 13);
	ck_assert_int_eq(pyi_linetable_line(PYI_LT_LNOTAB, NULL, 0, 5, 12), 5);
}
END_TEST

START_TEST(lnotab_line_increments_are_signed)
{
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 20, 4, 2, 3, 2, 0xfe), 21);
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 20, 2, 2, 3, 2, 0xfe), 23);
}
END_TEST

START_TEST(lnotab_splits_long_jumps_across_pairs)
{
	/* +127, +127 at address 0, then 6 bytes later +46: 1 -> 255 -> 301. */
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 1, 0, 0, 127, 0, 127, 6, 46), 255);
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 1, 5, 0, 127, 0, 127, 6, 46), 255);
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 1, 6, 0, 127, 0, 127, 6, 46), 301);
	/* An address run over 255 bytes: (255, 0) then (45, +1) starts line 2 at byte 300. */
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 1, 299, 255, 0, 45, 1), 1);
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 1, 300, 255, 0, 45, 1), 2);
}
END_TEST

START_TEST(lnotab_ignores_a_dangling_odd_byte)
{
	ck_assert_int_eq(LINE(PYI_LT_LNOTAB, 10, 50, 6, 1, 8), 11);
}
END_TEST

START_TEST(linetable_gives_each_range_its_line)
{
	/* (6 bytes, +1): code units 0-2 are line 11; unit 3 is past the end. */
	for (int u = 0; u < 3; u++)
		ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, u, 6, 1), 11);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 3, 6, 1), -1);
	ck_assert_int_eq(pyi_linetable_line(PYI_LT_LINETABLE, NULL, 0, 10, 0), -1);
}
END_TEST

START_TEST(linetable_no_line_entry_gives_minus_one_and_keeps_the_running_line)
{
	/* (4, 0) (2, no line) (2, +1) */
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 1, 4, 0, 2, 0x80, 2, 1), 10);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 2, 4, 0, 2, 0x80, 2, 1), -1);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 3, 4, 0, 2, 0x80, 2, 1), 11);
}
END_TEST

START_TEST(linetable_carries_long_jumps_in_empty_ranges)
{
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 1, 0, 0, 127, 4, 73), 201);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 1, 1, 0, 127, 4, 73), 201);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 1, 2, 0, 127, 4, 73), -1);
}
END_TEST

START_TEST(linetable_line_deltas_are_signed)
{
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 0, 2, 5, 2, 0xfd), 15);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 1, 2, 5, 2, 0xfd), 12);
}
END_TEST

START_TEST(linetable_stops_at_a_truncated_pair)
{
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 1, 2, 5, 2), -1);
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 0, 2, 5, 2), 15);
}
END_TEST

START_TEST(linetable_handles_offsets_near_int_max)
{
	ck_assert_int_eq(LINE(PYI_LT_LINETABLE, 10, 0x7fffffff, 2, 5), -1);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0x7fffffff, 0x82, 0x00), -1);
}
END_TEST

START_TEST(locations_short_form_keeps_the_line_for_its_length)
{
	/* code 0, length 3 (bits 2-0 = 2), one column byte. */
	for (int u = 0; u < 3; u++)
		ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, u, 0x82, 0x05), 10);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 3, 0x82, 0x05), -1);
}
END_TEST

START_TEST(locations_one_line_forms_add_zero_one_or_two)
{
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xd0, 1, 2), 10); /* code 10 */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xd8, 1, 2), 11); /* code 11 */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xe0, 1, 2), 12); /* code 12 */
	/* The running line accumulates: 11, then 13. */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 1, 0xd8, 1, 2, 0xe0, 1, 2), 13);
}
END_TEST

START_TEST(locations_no_column_form_adds_a_signed_varint)
{
	/* code 13, length 2, svarint 7 = -(7 >> 1) = -3. */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xe9, 0x07), 7);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 1, 0xe9, 0x07), 7);
	/* svarint 6 = +3 */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xe8, 0x06), 13);
}
END_TEST

START_TEST(locations_long_form_reads_a_multi_byte_varint_and_skips_the_columns)
{
	/* code 14, length 1: line delta svarint 600 (= +300) as 0x58 0x09, then end-line
	 * delta 0, column+1 = 1, end column+1 = 2; then code 11 (+1) for unit 1. */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 1, 0, 0xf0, 0x58, 0x09, 0x00, 0x01, 0x02), 301);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 1, 1, 0xf0, 0x58, 0x09, 0x00, 0x01, 0x02, 0xd8, 3,
			      4),
			 302);
}
END_TEST

START_TEST(locations_no_location_entry_gives_minus_one_and_keeps_the_running_line)
{
	/* code 15 (no location) for unit 0, then code 11 (+1) for unit 1. */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xf8, 0xd8, 1, 2), -1);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 1, 0xf8, 0xd8, 1, 2), 11);
}
END_TEST

START_TEST(locations_maximum_entry_length_is_eight_units)
{
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 7, 0x87, 0x00, 0xd8, 1, 2), 10);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 8, 0x87, 0x00, 0xd8, 1, 2), 11);
}
END_TEST

START_TEST(locations_gives_minus_one_past_the_end)
{
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 1, 0xd8, 1, 2), -1);
	ck_assert_int_eq(pyi_linetable_line(PYI_LT_LOCATIONS, NULL, 0, 10, 0), -1);
}
END_TEST

START_TEST(locations_refuses_a_table_that_does_not_start_with_an_entry)
{
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0x05, 0x82), -1);
}
END_TEST

START_TEST(locations_stops_at_a_truncated_varint)
{
	/* The varint's "more" bit is set but the table ends. */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 1, 0x80, 0x00, 0xe8, 0x40), -1);
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0x80, 0x00, 0xe8, 0x40), 10);
	/* A varint that never ends (only continuation bytes) is bounded too. */
	ck_assert_int_eq(LINE(PYI_LT_LOCATIONS, 10, 0, 0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
			      0x40, 0x40, 0x40),
			 -1);
}
END_TEST

START_TEST(decoders_never_read_past_the_given_length)
{
	/* The byte after len would change every answer if it were read. */
	static const unsigned char lnotab[] = { 2, 1, 2, 100 };
	static const unsigned char linetable[] = { 2, 1, 2, 100 };
	static const unsigned char locations[] = { 0x80, 0x00, 0xd8, 1, 2 };

	ck_assert_int_eq(pyi_linetable_line(PYI_LT_LNOTAB, lnotab, 2, 10, 50), 11);
	ck_assert_int_eq(pyi_linetable_line(PYI_LT_LINETABLE, linetable, 2, 10, 1), -1);
	ck_assert_int_eq(pyi_linetable_line(PYI_LT_LOCATIONS, locations, 2, 10, 1), -1);
}
END_TEST

/* ---- Every offset of real code objects, per interpreter. ---- */

struct run_stats {
	long codes, offsets, mismatches, end_codes, end_offsets, disagreements;
	int kind;
	char version[64];
	int saw_header, saw_end;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex (or "-") into a malloc'd buffer of exactly the table's size. */
static unsigned char *unhex(const char *hex, size_t *len)
{
	size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
	unsigned char *out = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		ck_assert_msg(hi >= 0 && lo >= 0, "bad hex in case file");
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n;
	return out;
}

/* Checks one "c first hex lo l0 l1 ..." record. */
static void check_record(char *line, struct run_stats *st)
{
	char *save = NULL;
	char *tok = strtok_r(line, " \n", &save); /* "c" */
	int first = atoi(strtok_r(NULL, " \n", &save));
	size_t len;
	unsigned char *table = unhex(strtok_r(NULL, " \n", &save), &len);
	int instr = atoi(strtok_r(NULL, " \n", &save));

	while ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
		int want = atoi(tok);
		int got = pyi_linetable_line((enum pyi_linetable_kind)st->kind, table, len, first,
					     instr);

		if (got != want && ++st->mismatches <= 5)
			printf("check_linetable: python %s: first line %d, table of %zu bytes, "
			       "offset %d: expected line %d, got %d\n",
			       st->version, first, len, instr, want, got);
		st->offsets++;
		instr++;
	}
	st->codes++;
	free(table);
}

static void run_interpreter(const char *python, const char *script, struct run_stats *st)
{
	char cmd[8192];
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	memset(st, 0, sizeof(*st));
	snprintf(cmd, sizeof(cmd), "'%s' '%s'", python, script);
	f = popen(cmd, "r");
	ck_assert_msg(f != NULL, "cannot run %s", python);
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "pyi-linetable-cases 1", 21) == 0) {
			st->saw_header = 1;
		} else if (strncmp(line, "python ", 7) == 0) {
			ck_assert_int_eq(sscanf(line, "python %63s kind %d", st->version, &st->kind),
					 2);
		} else if (line[0] == 'c' && line[1] == ' ') {
			check_record(line, st);
		} else if (strncmp(line, "end ", 4) == 0) {
			ck_assert_int_eq(sscanf(line, "end %ld %ld %ld", &st->end_codes,
						&st->end_offsets, &st->disagreements),
					 3);
			st->saw_end = 1;
		}
	}
	free(line);
	ck_assert_msg(pclose(f) == 0, "%s %s failed", python, script);
}

static int minor_of(const char *path)
{
	const char *v = strstr(path, "/versions/3.");
	return v ? atoi(v + strlen("/versions/3.")) : -1;
}

START_TEST(linetable_matches_every_interpreter_on_this_machine)
{
	const char *root = getenv("PYI_TEST_ROOT") ? getenv("PYI_TEST_ROOT") : ".";
	const char *pyenv = getenv("PYENV_ROOT") ? getenv("PYENV_ROOT") : "/root/.pyenv";
	char script[4096], pattern[4096];
	const char *pythons[64];
	int npythons = 0, seen_minor[16] = { 0 };
	glob_t g;

	snprintf(script, sizeof(script), "%s/tests/unit/linetable_cases.py", root);
	ck_assert_msg(access(script, R_OK) == 0, "cannot read %s (set PYI_TEST_ROOT)", script);

	snprintf(pattern, sizeof(pattern), "%s/versions/3.*/bin/python3", pyenv);
	int grc = glob(pattern, 0, NULL, &g);
	for (size_t i = 0; grc == 0 && i < g.gl_pathc && npythons < 63; i++) {
		int minor = minor_of(g.gl_pathv[i]);

		if (minor < 8)
			continue; /* 2.7, 3.6, 3.7: unsupported, nothing to compare */
		if (minor < 16)
			seen_minor[minor] = 1;
		pythons[npythons++] = g.gl_pathv[i];
	}
	for (int minor = 8; minor <= 13; minor++)
		if (!seen_minor[minor])
			printf("check_linetable: SKIPPED CPython 3.%d: no %s/versions/3.%d.*/bin/python3\n",
			       minor, pyenv, minor);
	if (access("/usr/bin/python3.11", X_OK) == 0)
		pythons[npythons++] = "/usr/bin/python3.11";
	else
		printf("check_linetable: SKIPPED Debian's /usr/bin/python3.11: not installed\n");

	long total_mismatches = 0;
	for (int i = 0; i < npythons; i++) {
		struct run_stats st;

		run_interpreter(pythons[i], script, &st);
		printf("check_linetable: %s (%s, kind %d): %ld code objects, %ld offsets, "
		       "%ld mismatches\n",
		       pythons[i], st.version, st.kind, st.codes, st.offsets, st.mismatches);
		ck_assert_msg(st.saw_header && st.saw_end, "%s: incomplete case file", pythons[i]);
		ck_assert_int_eq(st.codes, st.end_codes);
		ck_assert_int_eq(st.offsets, st.end_offsets);
		ck_assert_msg(st.codes > 500 && st.offsets > 50000,
			      "%s: too few cases to mean anything", pythons[i]);
		ck_assert_msg(st.disagreements == 0,
			      "%s: the interpreter's own two answers disagree %ld times",
			      pythons[i], st.disagreements);
		total_mismatches += st.mismatches;
	}
	if (npythons == 0)
		printf("check_linetable: SKIPPED every interpreter: none found\n");
	fflush(stdout);
	if (grc == 0)
		globfree(&g);
	ck_assert_int_eq(total_mismatches, 0);
}
END_TEST

static Suite *linetable_suite(void)
{
	Suite *s = suite_create("linetable");
	TCase *hand = tcase_create("hand-made");
	TCase *real = tcase_create("interpreters");

	tcase_add_test(hand, every_kind_maps_a_negative_offset_to_the_first_line);
	tcase_add_test(hand, unknown_kind_has_no_line);
	tcase_add_test(hand, lnotab_adds_line_increments_up_to_the_byte_offset);
	tcase_add_test(hand, lnotab_keeps_the_last_line_past_the_end_like_the_interpreter);
	tcase_add_test(hand, lnotab_line_increments_are_signed);
	tcase_add_test(hand, lnotab_splits_long_jumps_across_pairs);
	tcase_add_test(hand, lnotab_ignores_a_dangling_odd_byte);
	tcase_add_test(hand, linetable_gives_each_range_its_line);
	tcase_add_test(hand, linetable_no_line_entry_gives_minus_one_and_keeps_the_running_line);
	tcase_add_test(hand, linetable_carries_long_jumps_in_empty_ranges);
	tcase_add_test(hand, linetable_line_deltas_are_signed);
	tcase_add_test(hand, linetable_stops_at_a_truncated_pair);
	tcase_add_test(hand, linetable_handles_offsets_near_int_max);
	tcase_add_test(hand, locations_short_form_keeps_the_line_for_its_length);
	tcase_add_test(hand, locations_one_line_forms_add_zero_one_or_two);
	tcase_add_test(hand, locations_no_column_form_adds_a_signed_varint);
	tcase_add_test(hand, locations_long_form_reads_a_multi_byte_varint_and_skips_the_columns);
	tcase_add_test(hand, locations_no_location_entry_gives_minus_one_and_keeps_the_running_line);
	tcase_add_test(hand, locations_maximum_entry_length_is_eight_units);
	tcase_add_test(hand, locations_gives_minus_one_past_the_end);
	tcase_add_test(hand, locations_refuses_a_table_that_does_not_start_with_an_entry);
	tcase_add_test(hand, locations_stops_at_a_truncated_varint);
	tcase_add_test(hand, decoders_never_read_past_the_given_length);
	suite_add_tcase(s, hand);
	tcase_add_test(real, linetable_matches_every_interpreter_on_this_machine);
	tcase_set_timeout(real, 120);
	suite_add_tcase(s, real);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(linetable_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
