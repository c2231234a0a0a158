/*
 * check_report_collapsed: the collapsed-stacks output ("frame;frame;... COUNT", root first),
 * which flame-graph tools and the integration tests parse. Golden files are in tests/golden/;
 * run with PYI_UPDATE_GOLDEN=1 to rewrite them after an intended change (and review the diff).
 */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format.h"
#include "common/recbuf.h"
#include "report/model.h"
#include "report/render.h"

static const char *root_path(const char *rel)
{
	static char path[4096];
	const char *root = getenv("PYI_TEST_ROOT");
	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Renders a profile file with options, into a malloc'd string. */
static char *render(const char *asset, const struct pyi_render_options *o, size_t *len)
{
	size_t plen;
	char *prof = slurp(root_path(asset), &plen);
	ck_assert_msg(prof != NULL, "cannot read %s (set PYI_TEST_ROOT)", root_path(asset));
	struct pyi_model *m = pyi_model_new();
	ck_assert_int_eq(pyi_model_add_mem(m, prof, plen, asset), 0);
	ck_assert_int_eq(pyi_model_load(m), 0);
	char *out;
	FILE *f = open_memstream(&out, len);
	ck_assert_int_eq(pyi_render_collapsed(m, o, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	pyi_model_free(m);
	free(prof);
	return out;
}

static void check_golden(const char *golden, const char *got, size_t len)
{
	const char *path = root_path(golden);
	if (getenv("PYI_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "wb");
		ck_assert_ptr_nonnull(f);
		fwrite(got, 1, len, f);
		fclose(f);
		return;
	}
	size_t want_len;
	char *want = slurp(path, &want_len);
	ck_assert_msg(want != NULL, "missing golden file %s", path);
	size_t line = 1, i = 0;
	while (i < len && i < want_len && got[i] == want[i])
		line += got[i++] == '\n';
	ck_assert_msg(i == len && i == want_len,
		      "%s differs from the output at line %zu (rerun with PYI_UPDATE_GOLDEN=1 "
		      "to accept):\n--- output ---\n%.*s", golden, line, (int)len, got);
	free(want);
}

START_TEST(golden_profile_matches_golden_output)
{
	struct pyi_render_options o;
	pyi_render_options_init(&o);
	size_t len;
	char *out = render("tests/assets/golden.bin", &o, &len);
	check_golden("tests/golden/collapsed.txt", out, len);
	free(out);
}
END_TEST

START_TEST(cpu_metric_weighs_lines_in_microseconds)
{
	struct pyi_render_options o;
	pyi_render_options_init(&o);
	o.metric = PYI_METRIC_CPU;
	size_t len;
	char *out = render("tests/assets/golden.bin", &o, &len);
	check_golden("tests/golden/collapsed-cpu.txt", out, len);
	free(out);
}
END_TEST

/*
 * Every line is "frame;...;frame COUNT" and every frame "qualname (file:line)", however hostile
 * the names: quotes, <, &, ';', newlines, NUL, escape sequences and invalid UTF-8.
 */
START_TEST(hostile_names_keep_one_stack_per_line)
{
	struct pyi_render_options o;
	pyi_render_options_init(&o);
	size_t len;
	char *out = render("tests/assets/hostile.bin", &o, &len);
	check_golden("tests/golden/collapsed-hostile.txt", out, len);
	regex_t frame;
	ck_assert_int_eq(regcomp(&frame, "^[^;]+ \\([^;]*:-?[0-9]+\\)$", REG_EXTENDED | REG_NOSUB),
			 0);
	int lines = 0;
	long total = 0;
	char *save_line;
	for (char *l = strtok_r(out, "\n", &save_line); l; l = strtok_r(NULL, "\n", &save_line)) {
		lines++;
		for (const char *c = l; *c; c++)
			ck_assert_msg((unsigned char)*c >= 0x20 && *c != 0x7f,
				      "control character in line %d", lines);
		char *sp = strrchr(l, ' ');
		ck_assert_ptr_nonnull(sp);
		total += strtol(sp + 1, NULL, 10);
		*sp = '\0';
		char *save_frame;
		int frames = 0;
		for (char *f = strtok_r(l, ";", &save_frame); f; f = strtok_r(NULL, ";", &save_frame)) {
			ck_assert_msg(regexec(&frame, f, 0, NULL, 0) == 0, "bad frame '%s'", f);
			frames++;
		}
		ck_assert_int_eq(frames, 3);
	}
	ck_assert_int_eq(lines, 14);
	ck_assert_int_eq(total, 14000); /* 14 samples of 1 ms each, in microseconds */
	regfree(&frame);
	free(out);
}
END_TEST

/* Builds a profile in memory; the caller loads it. */
static struct pyi_model *model_of(struct pyi_recbuf *b)
{
	struct pyi_model *m = pyi_model_new();
	ck_assert_int_eq(pyi_model_add_mem(m, b->data, b->len, "mem.prof"), 0);
	ck_assert_int_eq(pyi_model_load(m), 0);
	return m;
}

static char *collapsed(struct pyi_model *m, const struct pyi_render_options *o)
{
	char *out;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	ck_assert_int_eq(pyi_render_collapsed(m, o, f), 0);
	fclose(f);
	return out;
}

START_TEST(threads_are_merged_root_first_and_empty_stacks_left_out)
{
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	struct pyi_fmt_frame leaf_first[2] = { { 2, 21 }, { 1, 11 } };
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 1, 10, "outer", 5, "m.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 2, 20, "inner", 5, "m.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 1, "a", 1), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 2, 2, "b", 1), 0);
	/* Wall weights of 1 us, 1 us, 2 us (a repeat), 1 us (no frame), 1 us. */
	ck_assert_int_eq(pyi_recbuf_sample(&b, 1, 1, 1000, 1, 0, leaf_first, 2), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 2, 2, 1000, 1, 0, leaf_first, 2), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 2, 3, 2000, 0, PYI_SAMPLE_REPEAT, NULL, 0), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 1, 4, 1000, 1, 0, NULL, 0), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 1, 5, 1000, 1, 0, leaf_first + 1, 1), 0);
	struct pyi_model *m = model_of(&b);
	struct pyi_render_options o;
	pyi_render_options_init(&o);
	char *out = collapsed(m, &o);
	/* Lines come in the order stacks were first seen, a prefix before its extensions. */
	ck_assert_str_eq(out, "outer (m.py:11) 1\n"
			      "outer (m.py:11);inner (m.py:21) 4\n");
	free(out);
	/* Selecting one thread keeps only its samples. */
	unsigned char sel[2] = { 0, 1 };
	o.thread_selected = sel;
	out = collapsed(m, &o);
	ck_assert_str_eq(out, "outer (m.py:11);inner (m.py:21) 3\n");
	free(out);
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_collapsed");
	TCase *tc = tcase_create("collapsed");
	tcase_add_test(tc, golden_profile_matches_golden_output);
	tcase_add_test(tc, cpu_metric_weighs_lines_in_microseconds);
	tcase_add_test(tc, hostile_names_keep_one_stack_per_line);
	tcase_add_test(tc, threads_are_merged_root_first_and_empty_stacks_left_out);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
