/*
 * check_report_golden: every renderer, against golden files in tests/golden/, and the
 * hostile-names profile through every text-based format: the output must stay valid (strict
 * JSON with valid UTF-8 for the JSON formats; valid UTF-8 without control characters for
 * text). Run with PYI_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change,
 * then review the diff.
 *
 * Inputs are tests/assets/golden.bin and hostile.bin, made by tests/tools/mkprofile.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "report/escape.h"
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
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* --- a strict JSON checker ---------------------------------------------------------------- */

struct json {
	const unsigned char *p, *end;
	const char *error;
};

static void ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static int value(struct json *j, int depth);

static int jfail(struct json *j, const char *why)
{
	if (!j->error)
		j->error = why;
	return 0;
}

static int string(struct json *j)
{
	if (j->p >= j->end || *j->p != '"')
		return jfail(j, "expected a string");
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = *j->p;
		if (c < 0x20)
			return jfail(j, "raw control character in a string");
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return jfail(j, "cut escape");
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]))
						return jfail(j, "bad \\u escape");
				j->p += 5;
			} else if (strchr("\"\\/bfnrt", *j->p)) {
				j->p++;
			} else {
				return jfail(j, "bad escape");
			}
			continue;
		}
		size_t len = pyi_utf8_seq(j->p, (size_t)(j->end - j->p));
		if (!len)
			return jfail(j, "invalid UTF-8 in a string");
		j->p += len;
	}
	if (j->p >= j->end)
		return jfail(j, "unterminated string");
	j->p++;
	return 1;
}

static int number(struct json *j)
{
	const unsigned char *s = j->p;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0') {
		j->p++;
	} else {
		if (j->p >= j->end || *j->p < '1' || *j->p > '9')
			return jfail(j, "bad number");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jfail(j, "bad fraction");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jfail(j, "bad exponent");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > s;
}

static int literal(struct json *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return jfail(j, "bad literal");
	j->p += n;
	return 1;
}

static int value(struct json *j, int depth)
{
	if (depth > 200)
		return jfail(j, "nested too deep");
	ws(j);
	if (j->p >= j->end)
		return jfail(j, "unexpected end");
	switch (*j->p) {
	case '{':
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return 1;
		}
		for (;;) {
			ws(j);
			if (!string(j))
				return 0;
			ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return jfail(j, "expected ':'");
			if (!value(j, depth + 1))
				return 0;
			ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				return 1;
			}
			return jfail(j, "expected ',' or '}'");
		}
	case '[':
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return 1;
		}
		for (;;) {
			if (!value(j, depth + 1))
				return 0;
			ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == ']') {
				j->p++;
				return 1;
			}
			return jfail(j, "expected ',' or ']'");
		}
	case '"':
		return string(j);
	case 't':
		return literal(j, "true");
	case 'f':
		return literal(j, "false");
	case 'n':
		return literal(j, "null");
	default:
		return number(j);
	}
}

static void assert_json(const char *what, const char *s, size_t n)
{
	struct json j = { (const unsigned char *)s, (const unsigned char *)s + n, NULL };
	int ok = value(&j, 0);
	ws(&j);
	ck_assert_msg(ok && j.p == j.end, "%s: not valid JSON at byte %zu: %s", what,
		      (size_t)((const char *)j.p - s), j.error ? j.error : "trailing data");
}

/* Text: valid UTF-8, no control characters but newlines (and ESC when coloured). */
static void assert_text(const char *what, const char *s, size_t n, int colour)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t len = pyi_utf8_seq(p + i, n - i);
		ck_assert_msg(len, "%s: invalid UTF-8 at byte %zu", what, i);
		ck_assert_msg(p[i] >= 0x20 || p[i] == '\n' || (colour && p[i] == 0x1b),
			      "%s: control character 0x%02x at byte %zu", what, p[i], i);
		ck_assert_msg(!(len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0),
			      "%s: C1 control at byte %zu", what, i);
		i += len;
	}
}

/* Inflates gzip data (the pprof output) so its protobuf bytes can be compared. */
static char *gunzip(const char *in, size_t n, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	int rc;
	do {
		if (len == cap)
			out = realloc(out, cap *= 2);
		z.next_out = (unsigned char *)out + len;
		z.avail_out = (uInt)(cap - len);
		rc = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
	} while (rc == Z_OK);
	ck_assert_int_eq(rc, Z_STREAM_END);
	inflateEnd(&z);
	*out_len = len;
	return out;
}

/* --- the cases ---------------------------------------------------------------------------- */

enum check { TEXT, TEXT_COLOUR, JSON, BINARY };

struct gcase {
	const char *golden; /* under tests/golden/ */
	const char *format;
	const char *assets[3];
	enum check check;
	void (*setup)(struct pyi_render_options *o, struct pyi_model *m);
	int range; /* set a time range before loading: 5 ms to 12 ms */
};

static void opt_ascii_all(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->ascii = 1;
	o->show_all = 1;
}

static void opt_flat(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->flat = 1;
}

static void opt_by_line_merged(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->by_line = 1;
	o->merge_threads = 1;
}

static void opt_both(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->both_metrics = 1;
}

static void opt_both_flat(struct pyi_render_options *o, struct pyi_model *m)
{
	opt_both(o, m);
	o->flat = 1;
}

static unsigned char selection[16];

/* CPU metric, only the thread named worker-2. */
static void opt_cpu_worker2(struct pyi_render_options *o, struct pyi_model *m)
{
	o->metric = PYI_METRIC_CPU;
	memset(selection, 0, sizeof(selection));
	for (size_t t = 0; t < m->nthreads && t < sizeof(selection); t++)
		selection[t] = strcmp(m->threads[t].name, "worker-2") == 0;
	o->thread_selected = selection;
}

static void opt_colour(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->color = 1;
}

static void opt_shallow(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->max_depth = 2;
	o->min_percent = 20;
}

static regex_t hide_jobs;

static void opt_hide_jobs(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	ck_assert_int_eq(regcomp(&hide_jobs, "jobs\\.py$", REG_EXTENDED | REG_NOSUB), 0);
	o->hide = &hide_jobs;
	o->nhide = 1;
}

static void opt_cpu(struct pyi_render_options *o, struct pyi_model *m)
{
	(void)m;
	o->metric = PYI_METRIC_CPU;
}

#define GOLDEN "tests/assets/golden.bin"
#define HOSTILE "tests/assets/hostile.bin"

static const struct gcase cases[] = {
	{ "text.txt", "text", { GOLDEN }, TEXT, NULL, 0 },
	{ "text-ascii-show-all.txt", "text", { GOLDEN }, TEXT, opt_ascii_all, 0 },
	{ "text-flat.txt", "text", { GOLDEN }, TEXT, opt_flat, 0 },
	{ "text-by-line-merged.txt", "text", { GOLDEN }, TEXT, opt_by_line_merged, 0 },
	{ "text-both-metrics.txt", "text", { GOLDEN }, TEXT, opt_both, 0 },
	{ "text-both-metrics-flat.txt", "text", { GOLDEN }, TEXT, opt_both_flat, 0 },
	{ "text-cpu-worker-2.txt", "text", { GOLDEN }, TEXT, opt_cpu_worker2, 0 },
	{ "text-colour.txt", "text", { GOLDEN }, TEXT_COLOUR, opt_colour, 0 },
	{ "text-max-depth-min-percent.txt", "text", { GOLDEN }, TEXT, opt_shallow, 0 },
	{ "text-hide.txt", "text", { GOLDEN }, TEXT, opt_hide_jobs, 0 },
	{ "text-time-range.txt", "text", { GOLDEN }, TEXT, NULL, 1 },
	{ "text-two-processes.txt", "text", { GOLDEN, HOSTILE }, TEXT, NULL, 0 },
	{ "json.json", "json", { GOLDEN }, JSON, NULL, 0 },
	{ "json-by-line-merged.json", "json", { GOLDEN }, JSON, opt_by_line_merged, 0 },
	{ "speedscope.json", "speedscope", { GOLDEN }, JSON, NULL, 0 },
	{ "speedscope-cpu-by-line.json", "speedscope", { GOLDEN }, JSON, opt_by_line_merged, 0 },
	{ "chrome.json", "chrome", { GOLDEN }, JSON, NULL, 0 },
	{ "chrome-two-processes.json", "chrome", { GOLDEN, HOSTILE }, JSON, NULL, 0 },
	{ "pyisession.json", "pyisession", { GOLDEN }, JSON, NULL, 0 },
	{ "pyisession-cpu.json", "pyisession", { GOLDEN }, JSON, opt_cpu, 0 },
	{ "pprof.pb", "pprof", { GOLDEN }, BINARY, NULL, 0 },
	{ "collapsed-two-processes.txt", "collapsed", { GOLDEN, HOSTILE }, TEXT, NULL, 0 },
	/* Hostile names through every text-based format. */
	{ "hostile-text.txt", "text", { HOSTILE }, TEXT, NULL, 0 },
	{ "hostile-text-flat-colour.txt", "text", { HOSTILE }, TEXT_COLOUR, opt_flat, 0 },
	{ "hostile-json.json", "json", { HOSTILE }, JSON, NULL, 0 },
	{ "hostile-speedscope.json", "speedscope", { HOSTILE }, JSON, NULL, 0 },
	{ "hostile-chrome.json", "chrome", { HOSTILE }, JSON, NULL, 0 },
	{ "hostile-pyisession.json", "pyisession", { HOSTILE }, JSON, NULL, 0 },
	{ "hostile-pprof.pb", "pprof", { HOSTILE }, BINARY, NULL, 0 },
};

/* Replaces the version in exporter fields, so a release does not touch every golden file. */
static void unversion(char *s, size_t *n)
{
	const char *needle = "pyinstr-report " PYI_VERSION;
	const char *repl = "pyinstr-report VERSION";
	size_t nl = strlen(needle), rl = strlen(repl);
	if (rl > nl)
		return;
	for (char *p = s; (p = memmem(p, *n - (size_t)(p - s), needle, nl));) {
		memcpy(p, repl, rl);
		memmove(p + rl, p + nl, *n - (size_t)(p - s) - nl);
		*n -= nl - rl;
		p += rl;
	}
}

START_TEST(renderer_output_matches_golden_file)
{
	const struct gcase *c = &cases[_i];
	struct pyi_model *m = pyi_model_new();
	char *data[3] = { NULL, NULL, NULL };
	for (int a = 0; a < 3 && c->assets[a]; a++) {
		size_t len;
		data[a] = slurp(root_path(c->assets[a]), &len);
		ck_assert_msg(data[a] != NULL, "cannot read %s (set PYI_TEST_ROOT)", c->assets[a]);
		ck_assert_int_eq(pyi_model_add_mem(m, data[a], len, c->assets[a]), 0);
	}
	if (c->range)
		pyi_model_set_range(m, 5000000, 12000000);
	ck_assert_int_eq(pyi_model_load(m), 0);
	struct pyi_render_options o;
	pyi_render_options_init(&o);
	if (c->setup)
		c->setup(&o, m);
	char *out;
	size_t len;
	FILE *f = open_memstream(&out, &len);
	pyi_render_fn fn = pyi_render_lookup(c->format);
	ck_assert_ptr_nonnull(fn);
	ck_assert_int_eq(fn(m, &o, f), 0);
	ck_assert_int_eq(fclose(f), 0);

	if (c->check == BINARY) {
		size_t raw_len;
		char *raw = gunzip(out, len, &raw_len);
		free(out);
		out = raw;
		len = raw_len;
	}
	unversion(out, &len);
	switch (c->check) {
	case TEXT:
	case TEXT_COLOUR:
		assert_text(c->golden, out, len, c->check == TEXT_COLOUR);
		break;
	case JSON:
		assert_json(c->golden, out, len);
		break;
	case BINARY:
		break;
	}

	char rel[256];
	snprintf(rel, sizeof(rel), "tests/golden/%s", c->golden);
	const char *path = root_path(rel);
	if (getenv("PYI_UPDATE_GOLDEN")) {
		FILE *g = fopen(path, "wb");
		ck_assert_ptr_nonnull(g);
		fwrite(out, 1, len, g);
		fclose(g);
	} else {
		size_t want_len;
		char *want = slurp(path, &want_len);
		ck_assert_msg(want != NULL, "missing golden file %s", path);
		size_t i = 0, line = 1;
		while (i < len && i < want_len && out[i] == want[i])
			line += out[i++] == '\n';
		ck_assert_msg(i == len && i == want_len,
			      "%s differs from the output at line %zu (byte %zu); rerun with "
			      "PYI_UPDATE_GOLDEN=1 to accept an intended change", rel, line, i);
		free(want);
	}
	free(out);
	pyi_model_free(m);
	for (int a = 0; a < 3; a++)
		free(data[a]);
	if (c->setup == opt_hide_jobs)
		regfree(&hide_jobs);
}
END_TEST

/* The golden checks themselves must be able to fail: a damaged JSON is caught. */
START_TEST(json_checker_rejects_what_parsers_reject)
{
	static const char *const bad[] = {
		"{\"a\": 1,}", "[1 2]", "{\"a\" 1}", "\"tab\there\"", "\"\xff\"", "01", "[1.]",
		"{\"a\": tru}", "\"\\x41\"", "[", "nul",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json j = { (const unsigned char *)bad[i],
				  (const unsigned char *)bad[i] + strlen(bad[i]), NULL };
		int ok = value(&j, 0);
		ws(&j);
		ck_assert_msg(!ok || j.p != j.end, "accepted bad JSON %s", bad[i]);
	}
	static const char good[] = "{\"a\": [1, -2.5e+3, true, false, null, \"\\u00e9\xc3\xa9\"]}";
	assert_json("good", good, strlen(good));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_golden");
	TCase *tc = tcase_create("golden");
	tcase_add_loop_test(tc, renderer_output_matches_golden_file, 0,
			    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, json_checker_rejects_what_parsers_reject);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
