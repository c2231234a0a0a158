/*
 * check_report_cli: pyinstr-report as a user runs it: the options --help lists and the man
 * page lists are the same; exit codes (0 ok, 1 usage, 2 unreadable profile); warnings on
 * stderr; '-' for standard input; -o.
 *
 * It runs the binary next to this test's directory ($(B)/pyinstr-report, this test being
 * $(B)/tests/check_report_cli), so it needs `make` to have built it.
 */
#include <check.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/render.h"

static char report[PATH_MAX + 32];
static char tmpdir[PATH_MAX];

static const char *root_path(const char *rel)
{
	static char path[4096];
	const char *root = getenv("PYI_TEST_ROOT");
	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

struct run {
	int status;
	char *out, *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/*
 * Runs `pre pyinstr-report args <input >stdout 2>stderr` in the repository: pre may start a
 * pipe ("cat FILE |"); stdout goes to /dev/full instead when full is set.
 */
static struct run run_full(const char *pre, const char *args, const char *input, int full)
{
	static char cmd[6 * PATH_MAX];
	char out[PATH_MAX + 16], err[PATH_MAX + 16];
	snprintf(out, sizeof(out), "%s/stdout", tmpdir);
	snprintf(err, sizeof(err), "%s/stderr", tmpdir);
	snprintf(cmd, sizeof(cmd), "cd '%s' && : >'%s' && %s '%s' %s <%s >'%s' 2>'%s'",
		 root_path(""), out, pre, report, args, input ? input : "/dev/null",
		 full ? "/dev/full" : out, err);
	int st = system(cmd);
	struct run r = { WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err) };
	ck_assert_ptr_nonnull(r.out);
	ck_assert_ptr_nonnull(r.err);
	return r;
}

static struct run run(const char *args, const char *input)
{
	return run_full("", args, input, 0);
}

static void setup(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0'; /* $(B)/tests */
	*strrchr(self, '/') = '\0'; /* $(B) */
	snprintf(report, sizeof(report), "%s/pyinstr-report", self);
	ck_assert_msg(access(report, X_OK) == 0, "%s is missing: run `make` first", report);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_report_cli.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* --- --help and the man page ---------------------------------------------------------- */

struct names {
	char v[64][32];
	int n;
};

static void add_name(struct names *s, const char *p, size_t len)
{
	for (int i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], p, len) == 0)
			return;
	ck_assert_int_lt(s->n, 64);
	ck_assert_uint_lt(len, 32);
	memcpy(s->v[s->n], p, len);
	s->v[s->n++][len] = '\0';
}

static int has_name(const struct names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

/* Options at the start of an option line: "-f, --format NAME" gives -f and --format. */
static void options_of_line(struct names *s, const char *line)
{
	regex_t re;
	ck_assert_int_eq(regcomp(&re, "^(--?[a-z][a-z-]*)(, | |$)", REG_EXTENDED), 0);
	regmatch_t mt[2];
	while (*line == ' ')
		line++;
	while (regexec(&re, line, 2, mt, 0) == 0) {
		add_name(s, line + mt[1].rm_so, (size_t)(mt[1].rm_eo - mt[1].rm_so));
		line += mt[0].rm_eo;
	}
	regfree(&re);
}

static void help_options(const char *help, struct names *s)
{
	char *copy = strdup(help), *save;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *p = l;
		while (*p == ' ')
			p++;
		if (p > l && *p == '-')
			options_of_line(s, p);
	}
	free(copy);
}

/* The man page's OPTIONS section: the tag line after each .TP, with \- turned into -. */
static void man_options(const char *man, struct names *s)
{
	char *copy = strdup(man), *save;
	int in_options = 0, tag = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, ".SH", 3) == 0) {
			in_options = strstr(l, "OPTIONS") != NULL;
			continue;
		}
		if (!in_options)
			continue;
		if (strncmp(l, ".TP", 3) == 0) {
			tag = 1;
			continue;
		}
		if (!tag)
			continue;
		tag = 0;
		/*
		 * Macro arguments are words or "quoted strings"; .BR, .BI and the like join them
		 * without spaces, .B and .I with spaces. So
		 * .BR \-f ", " \-\-format " " \fINAME\fR reads "-f, --format NAME".
		 */
		char plain[512];
		size_t n = 0;
		const char *p = l;
		int joined = 0;
		if (*p == '.') {
			const char *m = p + 1;
			while (*p && *p != ' ')
				p++;
			joined = p - m == 2;
		}
		int first_arg = 1;
		while (*p) {
			while (*p == ' ')
				p++;
			if (!*p)
				break;
			if (!joined && !first_arg && n + 1 < sizeof(plain))
				plain[n++] = ' ';
			first_arg = 0;
			int quoted = *p == '"';
			if (quoted)
				p++;
			for (; *p && (quoted ? *p != '"' : *p != ' ') && n + 1 < sizeof(plain); p++) {
				if (p[0] == '\\' && p[1] == '-') {
					plain[n++] = '-';
					p++;
				} else if (p[0] == '\\' && p[1] == 'f' && p[2]) {
					p += 2;
				} else {
					plain[n++] = *p;
				}
			}
			if (quoted && *p == '"')
				p++;
		}
		plain[n] = '\0';
		char *q = plain;
		while (*q == ' ')
			q++;
		if (*q == '-')
			options_of_line(s, q);
	}
	free(copy);
}

START_TEST(help_and_man_page_list_the_same_options)
{
	struct run r = run("--help", NULL);
	ck_assert_int_eq(r.status, 0);
	char *man = slurp(root_path("docs/pyinstr-report.1"));
	ck_assert_ptr_nonnull(man);
	struct names help = { .n = 0 }, page = { .n = 0 };
	help_options(r.out, &help);
	man_options(man, &page);
	ck_assert_int_ge(help.n, 20);
	for (int i = 0; i < help.n; i++)
		ck_assert_msg(has_name(&page, help.v[i]), "%s is in --help but not in the man page",
			      help.v[i]);
	for (int i = 0; i < page.n; i++)
		ck_assert_msg(has_name(&help, page.v[i]), "%s is in the man page but not in --help",
			      page.v[i]);
	/* Every format is named in both. */
	for (size_t i = 0; pyi_render_names[i]; i++) {
		char tag[64];
		snprintf(tag, sizeof(tag), "\n.B %s\n", pyi_render_names[i]);
		ck_assert_msg(strstr(man, tag), "format %s is not in the man page", pyi_render_names[i]);
		ck_assert_msg(strstr(r.out, pyi_render_names[i]), "format %s is not in --help",
			      pyi_render_names[i]);
	}
	free(man);
	run_free(&r);
}
END_TEST

START_TEST(version_prints_the_version)
{
	struct run r = run("--version", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "pyinstr-report " PYI_VERSION "\n");
	ck_assert_str_eq(r.err, "");
	run_free(&r);
}
END_TEST

/* --- usage errors: exit 1, a message, and the hint to --help ------------------------------- */

static const char *const usage_errors[][2] = {
	{ "", "no profile given" },
	{ "--bogus x.prof", "unknown option '--bogus'" },
	{ "-z x.prof", "unknown option '-z'" },
	{ "-f", "option '-f' needs a value" },
	{ "-f nope x.prof", "unknown format 'nope'" },
	{ "--metric speed x.prof", "--metric 'speed': expected wall, cpu or both" },
	{ "--time-range 3:1 x.prof", "--time-range '3:1'" },
	{ "--time-range 1 x.prof", "--time-range '1'" },
	{ "--time-range 1h:2h x.prof", "--time-range '1h:2h'" },
	{ "--min-percent abc x.prof", "--min-percent 'abc'" },
	{ "--min-percent 101 x.prof", "--min-percent '101'" },
	{ "--max-depth 0 x.prof", "--max-depth '0'" },
	{ "--max-depth -3 x.prof", "--max-depth '-3'" },
	{ "--hide '(' x.prof", "invalid regular expression '('" },
	{ "--thread nobody tests/assets/golden.bin", "--thread 'nobody' matches no thread; threads: "
						     "4242 (MainThread), 4243 (worker-1)" },
	{ "- -", "standard input ('-') given twice" },
};

START_TEST(usage_error_exits_1_with_a_message_and_a_hint)
{
	struct run r = run(usage_errors[_i][0], "tests/assets/golden.bin");
	ck_assert_msg(r.status == 1, "'%s' exited %d", usage_errors[_i][0], r.status);
	ck_assert_msg(strstr(r.err, usage_errors[_i][1]), "'%s': stderr was: %s",
		      usage_errors[_i][0], r.err);
	ck_assert_msg(strstr(r.err, "Try 'pyinstr-report --help' for more information.\n"),
		      "no hint: %s", r.err);
	ck_assert_str_eq(r.out, "");
	run_free(&r);
}
END_TEST

/* --- unreadable profiles: exit 2 and a message naming the file ------------------------------ */

static const char *const bad_files[][2] = {
	{ "/nonexistent.prof", "pyinstr-report: error: /nonexistent.prof: No such file or "
			       "directory\n" },
	{ "tests/assets/bad-magic.bin", "pyinstr-report: error: tests/assets/bad-magic.bin: not a "
					"pyinstr profile\n" },
	{ "tests/assets/future-major.bin", "pyinstr-report: error: tests/assets/future-major.bin: "
					   "format version 2 is newer than this pyinstr-report "
					   "(it reads version 1)\n" },
	{ "tests/assets/sample-unknown-code.bin", "pyinstr-report: error: "
						  "tests/assets/sample-unknown-code.bin: corrupt "
						  "SAMPLE record at byte 84: frame 1 uses code id "
						  "9, which is not defined\n" },
	{ "tests/assets/golden.bin /dev/null", "pyinstr-report: error: /dev/null: empty file, not "
					       "a pyinstr profile\n" },
	{ "tests", "pyinstr-report: error: tests: " },
};

START_TEST(unreadable_profile_exits_2_naming_the_file)
{
	struct run r = run(bad_files[_i][0], NULL);
	ck_assert_msg(r.status == 2, "'%s' exited %d", bad_files[_i][0], r.status);
	ck_assert_msg(strncmp(r.err, bad_files[_i][1], strlen(bad_files[_i][1])) == 0,
		      "stderr was: %s", r.err);
	ck_assert_str_eq(r.out, "");
	run_free(&r);
}
END_TEST

START_TEST(truncated_profile_is_shown_with_one_warning)
{
	struct run r = run("-f collapsed tests/assets/truncated-tail.bin", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.err, "pyinstr-report: warning: tests/assets/truncated-tail.bin: "
				"truncated after 4 records (the process was killed?); showing what "
				"was written\n");
	ck_assert_str_eq(r.out, "main (app.py:3);work (app.py:11) 1000\n");
	run_free(&r);
}
END_TEST

START_TEST(profile_without_end_record_is_shown_with_a_warning)
{
	static char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "head -c 262 '%s' > '%s/noend.bin'",
		 root_path("tests/assets/unknown-record.bin"), tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	char args[PATH_MAX + 32];
	snprintf(args, sizeof(args), "'%s/noend.bin'", tmpdir);
	struct run r = run(args, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.err, "noend.bin: no end record after 6 records (the process was "
				    "killed?); showing what was written\n"), "stderr: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "no end record: the process did not exit normally"));
	run_free(&r);
}
END_TEST

/* Losses are in the text header; for other formats they go to stderr, never silently away. */
START_TEST(losses_are_reported_on_stderr_for_other_formats)
{
	struct run r = run("-f collapsed tests/assets/golden.bin", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.err,
			 "pyinstr-report: warning: tests/assets/golden.bin: 3 samples dropped "
			 "(ring buffer full)\n"
			 "pyinstr-report: warning: tests/assets/golden.bin: 1 stacks truncated at "
			 "the depth cap\n"
			 "pyinstr-report: warning: tests/assets/golden.bin: 2 stack walks abandoned "
			 "(fault while reading)\n"
			 "pyinstr-report: warning: tests/assets/golden.bin: 1 unknown frames\n");
	run_free(&r);
	r = run("--no-color tests/assets/golden.bin", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.err, "");
	ck_assert_ptr_nonnull(strstr(r.out, "Warning:   3 samples dropped (ring buffer full)\n"));
	run_free(&r);
}
END_TEST

START_TEST(standard_input_is_read_with_a_dash)
{
	struct run r = run("-f collapsed -", "tests/assets/truncated-tail.bin");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "main (app.py:3);work (app.py:11) 1000\n");
	ck_assert_ptr_nonnull(strstr(r.err, "(standard input): truncated after 4 records"));
	run_free(&r);
	/* A pipe too, for the formats that read the profile twice. */
	r = run_full("cat tests/assets/unknown-record.bin |", "-f chrome -", "/dev/stdin", 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"ph\": \"X\", \"name\": \"work\""));
	run_free(&r);
}
END_TEST

START_TEST(output_option_writes_the_file)
{
	char args[PATH_MAX * 2], path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
	snprintf(args, sizeof(args), "-f collapsed -o '%s' tests/assets/unknown-record.bin", path);
	struct run r = run(args, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "");
	char *got = slurp(path);
	ck_assert_str_eq(got, "main (app.py:3);work (app.py:11) 1000\nmain (app.py:4) 1000\n");
	free(got);
	run_free(&r);
	/* '-' is standard output. */
	r = run("-f collapsed -o - tests/assets/unknown-record.bin", NULL);
	ck_assert_str_eq(r.out, "main (app.py:3);work (app.py:11) 1000\nmain (app.py:4) 1000\n");
	run_free(&r);
}
END_TEST

START_TEST(unwritable_output_exits_2)
{
	struct run r = run("-o /nonexistent/dir/out.txt tests/assets/golden.bin", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "pyinstr-report: error: /nonexistent/dir/out.txt: No "
					    "such file or directory\n"));
	run_free(&r);
	r = run_full("", "tests/assets/golden.bin", NULL, 1);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "pyinstr-report: error: standard output: No space left on device\n");
	run_free(&r);
}
END_TEST

START_TEST(several_profiles_get_one_section_each)
{
	struct run r = run("--no-color tests/assets/golden.bin tests/assets/hostile.bin", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "pyinstr-report: tests/assets/golden.bin  (pid 4242)\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "pyinstr-report: tests/assets/hostile.bin  (pid 7)\n"));
	run_free(&r);
}
END_TEST

START_TEST(colour_only_when_asked_or_on_a_terminal)
{
	struct run r = run("tests/assets/golden.bin", NULL);
	ck_assert_ptr_null(strchr(r.out, '\033'));
	run_free(&r);
	r = run("--color tests/assets/golden.bin", NULL);
	ck_assert_ptr_nonnull(strchr(r.out, '\033'));
	run_free(&r);
	r = run("--color --no-color tests/assets/golden.bin", NULL);
	ck_assert_ptr_null(strchr(r.out, '\033'));
	run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_cli");
	TCase *tc = tcase_create("cli");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, help_and_man_page_list_the_same_options);
	tcase_add_test(tc, version_prints_the_version);
	tcase_add_loop_test(tc, usage_error_exits_1_with_a_message_and_a_hint, 0,
			    (int)(sizeof(usage_errors) / sizeof(usage_errors[0])));
	tcase_add_loop_test(tc, unreadable_profile_exits_2_naming_the_file, 0,
			    (int)(sizeof(bad_files) / sizeof(bad_files[0])));
	tcase_add_test(tc, truncated_profile_is_shown_with_one_warning);
	tcase_add_test(tc, profile_without_end_record_is_shown_with_a_warning);
	tcase_add_test(tc, losses_are_reported_on_stderr_for_other_formats);
	tcase_add_test(tc, standard_input_is_read_with_a_dash);
	tcase_add_test(tc, output_option_writes_the_file);
	tcase_add_test(tc, unwritable_output_exits_2);
	tcase_add_test(tc, several_profiles_get_one_section_each);
	tcase_add_test(tc, colour_only_when_asked_or_on_a_terminal);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
