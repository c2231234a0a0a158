/*
 * check_report_consumers: the output formats opened by the tools users open them with.
 *
 *   speedscope  speedscope's own web app (npm package "speedscope") in headless Chromium
 *               imports the speedscope, chrome (trace events) and pprof outputs: the page
 *               title becomes "<profile name> - speedscope" only when the import succeeded
 *   pprof       `go tool pprof` (Debian golang-go) reads the totals, types and thread labels
 *   pyisession  `pyinstrument --load` (pyinstrument on the Python path) renders the session
 *
 * A tool that is missing is reported as SKIPPED on stderr, loudly, and tests/consumers/setup.sh
 * says how to install it; the case then passes without having checked anything, so read the
 * log. PYI_CONSUMERS (default /tmp/pyinstr-consumers) is where setup.sh installs them.
 * Like check_report_cli, it runs $(B)/pyinstr-report.
 */
#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char report[PATH_MAX + 32];
static char tmpdir[PATH_MAX];

static const char *root_path(const char *rel)
{
	static char path[4096];
	const char *root = getenv("PYI_TEST_ROOT");
	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
	return path;
}

static const char *consumers(void)
{
	const char *d = getenv("PYI_CONSUMERS");
	return d && *d ? d : "/tmp/pyinstr-consumers";
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

/* Runs a shell command; its stdout is returned (malloc'd), its status in *status. */
static char *sh(int *status, const char *fmt, ...)
{
	static char cmd[8 * PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	static char full[sizeof(cmd) + 3 * PATH_MAX];
	char out[PATH_MAX + 16];
	snprintf(out, sizeof(out), "%s/sh.out", tmpdir);
	snprintf(full, sizeof(full), "(%s) >'%s' 2>'%s/sh.err'", cmd, out, tmpdir);
	int st = system(full);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	char *text = slurp(out);
	ck_assert_ptr_nonnull(text);
	return text;
}

static void skipped(const char *what, const char *why)
{
	fprintf(stderr,
		"\n*** check_report_consumers: SKIPPED %s: %s\n"
		"*** (install it with tests/consumers/setup.sh; nothing was checked)\n\n",
		what, why);
}

/* Renders asset in format into tmpdir/name with the real CLI. */
static const char *render(const char *format, const char *asset, const char *name,
			  const char *extra)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	int st;
	free(sh(&st, "cd '%s' && '%s' -f %s %s -o '%s' '%s'", root_path(""), report, format,
		extra ? extra : "", path, asset));
	ck_assert_msg(st == 0, "pyinstr-report -f %s %s failed", format, asset);
	return path;
}

static void setup(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(report, sizeof(report), "%s/pyinstr-report", self);
	ck_assert_msg(access(report, X_OK) == 0, "%s is missing: run `make` first", report);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_report_consumers.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* --- speedscope in headless Chromium --------------------------------------------------- */

static const char *find_chromium(void)
{
	static const char *const names[] = { "chromium", "chromium-browser", "google-chrome",
					     "chrome", NULL };
	static char found[PATH_MAX];
	for (int i = 0; names[i]; i++) {
		int st;
		char *p = sh(&st, "command -v %s", names[i]);
		p[strcspn(p, "\n")] = '\0';
		if (st == 0 && *p) {
			snprintf(found, sizeof(found), "%s", p);
			free(p);
			return found;
		}
		free(p);
	}
	return NULL;
}

/*
 * Loads file in speedscope the way its own command-line launcher does (a script calling
 * speedscope.loadFileFromBase64) and returns the page title after the import, or NULL if a
 * tool is missing.
 */
static char *speedscope_title(const char *file)
{
	char index[PATH_MAX + 64];
	snprintf(index, sizeof(index), "%s/node_modules/speedscope/dist/release/index.html",
		 consumers());
	if (access(index, R_OK) != 0) {
		skipped("speedscope import", "the speedscope npm package is not installed");
		return NULL;
	}
	const char *chromium = find_chromium();
	if (!chromium) {
		skipped("speedscope import", "no chromium to run speedscope in");
		return NULL;
	}
	int st;
	const char *name = strrchr(file, '/') + 1;
	free(sh(&st, "printf 'speedscope.loadFileFromBase64(\"%s\", \"%%s\")' \"$(base64 -w0 '%s')\""
		     " > '%s/load.js'", name, file, tmpdir));
	ck_assert_int_eq(st, 0);
	char *dom = sh(&st, "timeout 120 '%s' --headless=new --no-sandbox --disable-gpu "
			    "--allow-file-access-from-files --virtual-time-budget=10000 --dump-dom "
			    "'file://%s#localProfilePath=%s/load.js'", chromium, index, tmpdir);
	ck_assert_msg(st == 0, "chromium failed (%d)", st);
	char *t = strstr(dom, "<title>");
	ck_assert_msg(t != NULL, "no title in the page");
	t += 7;
	char *end = strstr(t, "</title>");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	char *title = strdup(t);
	free(dom);
	return title;
}

static void expect_imported(const char *format, const char *asset, const char *name,
			    const char *want_title)
{
	const char *file = render(format, asset, name, NULL);
	char *title = speedscope_title(file);
	if (!title)
		return;
	ck_assert_msg(strcmp(title, want_title) == 0,
		      "speedscope did not import %s (%s): page title '%s', expected '%s'", name,
		      format, title, want_title);
	free(title);
}

START_TEST(speedscope_imports_the_speedscope_output)
{
	expect_imported("speedscope", "tests/assets/golden.bin", "golden.speedscope.json",
			"python3 app.py --fast - speedscope");
}
END_TEST

START_TEST(speedscope_imports_hostile_names)
{
	/* The name is the command line, with its newline and invalid byte escaped in JSON. */
	expect_imported("speedscope", "tests/assets/hostile.bin", "hostile.speedscope.json",
			"python3 &lt;evil&gt;\n\"arg\" \xef\xbf\xbd - speedscope");
}
END_TEST

START_TEST(speedscope_imports_the_chrome_trace)
{
	/* Trace events carry no profile name: speedscope names it after the file. */
	expect_imported("chrome", "tests/assets/golden.bin", "golden.trace.json",
			"golden.trace.json - speedscope");
	expect_imported("chrome", "tests/assets/hostile.bin", "hostile.trace.json",
			"hostile.trace.json - speedscope");
}
END_TEST

START_TEST(speedscope_imports_the_pprof_output)
{
	expect_imported("pprof", "tests/assets/golden.bin", "golden.pb.gz",
			"golden.pb.gz - speedscope");
}
END_TEST

/* The check above must be able to fail: a damaged profile leaves the title alone. */
START_TEST(speedscope_rejects_a_broken_profile)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/broken.json", tmpdir);
	FILE *f = fopen(path, "w");
	fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\", \"name\": "
	      "\"broken\", \"shared\": {\"frames\": [{\"name\": \"a\"}]}, \"profiles\": [{\"type\":"
	      " \"sampled\", \"name\": \"t\", \"unit\": \"none\", \"startValue\": 0, \"endValue\": "
	      "1, \"samples\": [[5]], \"weights\": [1]}]}", f);
	fclose(f);
	char *title = speedscope_title(path);
	if (!title)
		return;
	ck_assert_str_eq(title, "speedscope");
	free(title);
}
END_TEST

/* --- go tool pprof --------------------------------------------------------------------- */

static int have_go(void)
{
	int st;
	free(sh(&st, "command -v go"));
	if (st)
		skipped("go tool pprof", "go is not installed (Debian: apt-get install golang-go)");
	return st == 0;
}

static char *pprof(const char *file, const char *args)
{
	int st;
	char *out = sh(&st, "cd '%s' && HOME='%s' GOFLAGS=-mod=mod go tool pprof %s '%s'", tmpdir,
		       tmpdir, args, file);
	char errpath[PATH_MAX + 16];
	snprintf(errpath, sizeof(errpath), "%s/sh.err", tmpdir);
	char *err = slurp(errpath);
	ck_assert_msg(st == 0, "go tool pprof %s failed: %s", args, err);
	free(err);
	return out;
}

START_TEST(go_tool_pprof_reads_types_totals_and_threads)
{
	if (!have_go())
		return;
	const char *file = render("pprof", "tests/assets/golden.bin", "golden.pb.gz", NULL);
	char *top = pprof(file, "-top");
	ck_assert_msg(strstr(top, "Type: wall\n"), "%s", top);
	ck_assert_msg(strstr(top, "Total samples = 22ms"), "%s", top);
	ck_assert_msg(strstr(top, "       8ms 36.36% 36.36%        8ms 36.36%  sleepy\n"), "%s", top);
	ck_assert_msg(strstr(top, "11ms 50.00%  <module>\n"), "%s", top);
	free(top);
	char *cpu = pprof(file, "-top -sample_index=cpu -lines");
	ck_assert_msg(strstr(cpu, "Type: cpu\n"), "%s", cpu);
	ck_assert_msg(strstr(cpu, "Total samples = 12.10ms"), "%s", cpu);
	ck_assert_msg(strstr(cpu, "fib /home/u/app.py:31\n"), "%s", cpu);
	free(cpu);
	char *count = pprof(file, "-top -sample_index=samples");
	ck_assert_msg(strstr(count, "Total samples = 18\n") || strstr(count, "of 18 total"), "%s",
		      count);
	free(count);
	char *tags = pprof(file, "-tags");
	ck_assert_msg(strstr(tags, "12.0ms (54.55%): MainThread\n"), "%s", tags);
	ck_assert_msg(strstr(tags, "8.0ms (36.36%): worker-1\n"), "%s", tags);
	free(tags);
}
END_TEST

START_TEST(go_tool_pprof_reads_hostile_names)
{
	if (!have_go())
		return;
	const char *file = render("pprof", "tests/assets/hostile.bin", "hostile.pb.gz", NULL);
	char *top = pprof(file, "-top");
	ck_assert_msg(strstr(top, "Total samples = 14ms"), "%s", top);
	ck_assert_msg(strstr(top, "<script>alert(1)</script>\n"), "%s", top);
	/* Bytes that were not UTF-8 arrive as U+FFFD. */
	ck_assert_msg(strstr(top, "bad \xef\xbf\xbd\xef\xbf\xbd utf8\n"), "%s", top);
	free(top);
}
END_TEST

/* --- pyinstrument --load --------------------------------------------------------------- */

/* A Python that can import pyinstrument (with PYI_CONSUMERS/pyinstrument on its path). */
static const char *pyinstrument_python(void)
{
	static char found[PATH_MAX];
	int st;
	char *list = sh(&st, "ls /root/.pyenv/versions/*/bin/python3 2>/dev/null; "
			     "command -v python3");
	char *save;
	for (char *py = strtok_r(list, "\n", &save); py; py = strtok_r(NULL, "\n", &save)) {
		free(sh(&st, "PYTHONPATH='%s/pyinstrument' '%s' -c 'import pyinstrument.session, "
			     "pyinstrument.renderers'", consumers(), py));
		if (st == 0) {
			snprintf(found, sizeof(found), "%s", py);
			free(list);
			return found;
		}
	}
	free(list);
	skipped("pyinstrument --load", "no Python can import pyinstrument");
	return NULL;
}

static char *pyinstrument_load(const char *py, const char *file, const char *args)
{
	int st;
	char *out = sh(&st, "cd '%s' && HOME='%s' PYTHONPATH='%s/pyinstrument' '%s' -m pyinstrument "
			    "--load '%s' %s", tmpdir, tmpdir, consumers(), py, file, args);
	char errpath[PATH_MAX + 16];
	snprintf(errpath, sizeof(errpath), "%s/sh.err", tmpdir);
	char *err = slurp(errpath);
	ck_assert_msg(st == 0, "pyinstrument --load %s failed: %s", args, err);
	free(err);
	return out;
}

START_TEST(pyinstrument_loads_the_session)
{
	const char *py = pyinstrument_python();
	if (!py)
		return;
	const char *file = render("pyisession", "tests/assets/golden.bin", "g.pyisession", NULL);
	char *text = pyinstrument_load(py, file, "-r text --unicode");
	ck_assert_msg(strstr(text, "Program: python3 app.py --fast (profiled by pyinstr)"), "%s",
		      text);
	ck_assert_msg(strstr(text, "0.011 <module>  /home/u/app.py:1\n"), "%s", text);
	ck_assert_msg(strstr(text, "0.002 on_reply  /home/u/app.py:50\n"), "%s", text);
	free(text);
	/* Its JSON renderer sees the same total: 21 ms of Python samples. */
	char *json = pyinstrument_load(py, file, "-r json");
	ck_assert_msg(strstr(json, "\"time\": 0.021"), "%s", json);
	free(json);
	char *html = pyinstrument_load(py, file, "-r html");
	ck_assert_ptr_nonnull(strstr(html, "<html"));
	free(html);
}
END_TEST

START_TEST(pyinstrument_loads_hostile_names)
{
	const char *py = pyinstrument_python();
	if (!py)
		return;
	const char *file = render("pyisession", "tests/assets/hostile.bin", "h.pyisession", NULL);
	char *text = pyinstrument_load(py, file, "-r text");
	ck_assert_msg(strstr(text, "<script>alert(1)</script>"), "%s", text);
	free(text);
	free(pyinstrument_load(py, file, "-r html"));
	free(pyinstrument_load(py, file, "-r speedscope"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_consumers");
	TCase *tc = tcase_create("consumers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, speedscope_imports_the_speedscope_output);
	tcase_add_test(tc, speedscope_imports_hostile_names);
	tcase_add_test(tc, speedscope_imports_the_chrome_trace);
	tcase_add_test(tc, speedscope_imports_the_pprof_output);
	tcase_add_test(tc, speedscope_rejects_a_broken_profile);
	tcase_add_test(tc, go_tool_pprof_reads_types_totals_and_threads);
	tcase_add_test(tc, go_tool_pprof_reads_hostile_names);
	tcase_add_test(tc, pyinstrument_loads_the_session);
	tcase_add_test(tc, pyinstrument_loads_hostile_names);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
