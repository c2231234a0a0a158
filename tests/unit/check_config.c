/*
 * Unit tests for agent/config: every variable's good values, every kind of bad value (each one
 * line naming the variable, default kept), %p expansion and misspelt names.
 */
#include "agent/config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fake environment and a warning collector. */
#define MAX_VARS 8
#define MAX_LINES 16

struct env {
	const char *names[MAX_VARS];
	const char *values[MAX_VARS];
	int n;
	char lines[MAX_LINES][2048];
	int n_lines;
};

static void env_set(struct env *e, const char *name, const char *value)
{
	ck_assert_int_lt(e->n, MAX_VARS);
	e->names[e->n] = name;
	e->values[e->n] = value;
	e->n++;
}

static const char *env_get(const char *name, void *ctx)
{
	struct env *e = ctx;

	for (int i = 0; i < e->n; i++) {
		if (strcmp(e->names[i], name) == 0)
			return e->values[i];
	}
	return NULL;
}

static void collect(const char *line, void *ctx)
{
	struct env *e = ctx;

	ck_assert_int_lt(e->n_lines, MAX_LINES);
	ck_assert_uint_lt(strlen(line), sizeof(e->lines[0]));
	strcpy(e->lines[e->n_lines++], line);
}

/* Loads a single variable; returns the config, with the warnings in *e. */
static struct pyi_config load_one(struct env *e, const char *name, const char *value)
{
	struct pyi_config cfg;
	int bad;

	memset(e, 0, sizeof(*e));
	env_set(e, name, value);
	memset(&cfg, 0xa5, sizeof(cfg)); /* load must not depend on what was there */
	bad = pyi_config_load(&cfg, env_get, collect, e);
	ck_assert_int_eq(bad, e->n_lines);
	return cfg;
}

static void expect_accepted(const char *name, const char *value, struct pyi_config *out)
{
	struct env e;

	*out = load_one(&e, name, value);
	ck_assert_msg(e.n_lines == 0, "%s='%s' was refused: %s", name, value,
		      e.n_lines ? e.lines[0] : "");
}

/* One line, naming the variable and quoting the value; every field keeps its default. */
static void expect_refused(const char *name, const char *value, const char *shown,
			   const char *expected)
{
	struct env e;
	struct pyi_config cfg = load_one(&e, name, value), def;
	char prefix[512];

	snprintf(prefix, sizeof(prefix), "pyinstr: %s='%s': %s", name, shown ? shown : value,
		 expected);
	ck_assert_msg(e.n_lines == 1, "%s='%s' gave %d lines", name, value, e.n_lines);
	ck_assert_msg(strncmp(e.lines[0], prefix, strlen(prefix)) == 0,
		      "%s='%s': got \"%s\", wanted \"%s...\"", name, value, e.lines[0], prefix);
	ck_assert_ptr_null(strchr(e.lines[0], '\n'));
	pyi_config_defaults(&def);
	ck_assert_str_eq(cfg.output, def.output);
	ck_assert_uint_eq(cfg.interval_ns, def.interval_ns);
	ck_assert_uint_eq(cfg.max_depth, def.max_depth);
	ck_assert_uint_eq(cfg.buffer_bytes, def.buffer_bytes);
	ck_assert_int_eq(cfg.quiet, def.quiet);
	ck_assert_int_eq(cfg.enabled, def.enabled);
	ck_assert_int_eq(cfg.jitter, def.jitter);
}

START_TEST(config_defaults_are_the_documented_values)
{
	struct pyi_config cfg;

	pyi_config_defaults(&cfg);
	ck_assert_str_eq(cfg.output, "pyinstr-%p.prof");
	ck_assert_str_eq(cfg.output, PYI_CONFIG_DEFAULT_OUTPUT);
	ck_assert_uint_eq(cfg.interval_ns, 1000000);
	ck_assert_uint_eq(cfg.max_depth, 2048);
	ck_assert_uint_eq(cfg.buffer_bytes, 8u << 20);
	ck_assert(!cfg.quiet);
	ck_assert(cfg.enabled);
	ck_assert(!cfg.jitter);
}
END_TEST

START_TEST(config_unset_variables_give_defaults_and_no_warning)
{
	struct env e;
	struct pyi_config cfg, def;

	memset(&e, 0, sizeof(e));
	memset(&cfg, 0x5a, sizeof(cfg));
	ck_assert_int_eq(pyi_config_load(&cfg, env_get, collect, &e), 0);
	ck_assert_int_eq(e.n_lines, 0);
	pyi_config_defaults(&def);
	ck_assert_str_eq(cfg.output, def.output);
	ck_assert_uint_eq(cfg.interval_ns, def.interval_ns);
	ck_assert_uint_eq(cfg.max_depth, def.max_depth);
	ck_assert_uint_eq(cfg.buffer_bytes, def.buffer_bytes);
	ck_assert_int_eq(cfg.quiet, def.quiet);
	ck_assert_int_eq(cfg.enabled, def.enabled);
	ck_assert_int_eq(cfg.jitter, def.jitter);
}
END_TEST

START_TEST(config_output_accepts_paths_with_pid_and_percent)
{
	static const char *const good[] = { "out.prof", "/tmp/app-%p.prof", "100%%.prof",
					     "%p", "dir with spaces/x.prof", "%%p" };
	struct pyi_config cfg;
	char longest[PYI_CONFIG_PATH_MAX];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		expect_accepted("PYINSTR_OUTPUT", good[i], &cfg);
		ck_assert_str_eq(cfg.output, good[i]); /* the pattern is kept, expanded later */
	}
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	expect_accepted("PYINSTR_OUTPUT", longest, &cfg);
	ck_assert_str_eq(cfg.output, longest);
}
END_TEST

START_TEST(config_output_refuses_empty_bad_percent_and_overlong_paths)
{
	char too_long[PYI_CONFIG_PATH_MAX + 1], grows_too_long[PYI_CONFIG_PATH_MAX];
	char shown[200];

	expect_refused("PYINSTR_OUTPUT", "", NULL, "expected a file path");
	expect_refused("PYINSTR_OUTPUT", "out-%d.prof", NULL, "expected % only as %p");
	expect_refused("PYINSTR_OUTPUT", "out%", NULL, "expected % only as %p");
	expect_refused("PYINSTR_OUTPUT", "%P.prof", NULL, "expected % only as %p");
	expect_refused("PYINSTR_OUTPUT", "%%%", NULL, "expected % only as %p");

	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	memset(shown, 'a', 120);
	strcpy(shown + 120, "...");
	expect_refused("PYINSTR_OUTPUT", too_long, shown,
		       "expected a file path shorter than 4096 bytes");

	/* 4093 bytes plus %p: fits as a pattern, not once a 7-digit pid is put in. */
	memset(grows_too_long, 'b', sizeof(grows_too_long) - 1);
	grows_too_long[sizeof(grows_too_long) - 1] = '\0';
	memcpy(grows_too_long + sizeof(grows_too_long) - 3, "%p", 2);
	memset(shown, 'b', 120);
	strcpy(shown + 120, "...");
	expect_refused("PYINSTR_OUTPUT", grows_too_long, shown,
		       "expected a file path shorter than 4096 bytes once %p is expanded");
}
END_TEST

START_TEST(config_interval_accepts_each_unit_and_decimals)
{
	static const struct {
		const char *text;
		uint64_t ns;
	} good[] = {
		{ "1ms", 1000000 },	    { "250us", 250000 },    { "100us", 100000 },
		{ "1s", 1000000000 },	    { "0.5ms", 500000 },    { "100000ns", 100000 },
		{ "0.001s", 1000000 },	    { "1000000000ns", 1000000000 },
		{ "1.5ms", 1500000 },	    { "000100us", 100000 }, { "0.1ms", 100000 },
		{ "999.999999us", 999999 }, { "0.25s", 250000000 }, { "1.0s", 1000000000 },
	};
	struct pyi_config cfg;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		expect_accepted("PYINSTR_INTERVAL", good[i].text, &cfg);
		ck_assert_msg(cfg.interval_ns == good[i].ns, "%s gave %llu ns", good[i].text,
			      (unsigned long long)cfg.interval_ns);
	}
}
END_TEST

START_TEST(config_interval_refuses_bad_units_numbers_and_ranges)
{
	static const char *const bad[] = {
		"fast", "", "1", "1000", "99us", "99999ns", "1.000000001s", "2s", "0ms", "0.09ms",
		"-1ms", "+1ms", " 1ms", "1ms ", "1 ms", "1MS", "1Ms", "1.ms", ".5ms", "1e3us",
		"1msx", "1m", "1sec", "ms", "1..5ms", "1.5.ms", "18446744073709551616ns",
		"99999999999999999999s", "18446744073709551615s",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused("PYINSTR_INTERVAL", bad[i], NULL,
			       "expected a duration from 100us to 1s, such as 1ms or 250us");
}
END_TEST

START_TEST(config_interval_message_is_the_documented_sentence)
{
	struct env e;

	load_one(&e, "PYINSTR_INTERVAL", "fast");
	ck_assert_int_eq(e.n_lines, 1);
	ck_assert_str_eq(e.lines[0], "pyinstr: PYINSTR_INTERVAL='fast': expected a duration "
				     "from 100us to 1s, such as 1ms or 250us");
}
END_TEST

START_TEST(config_max_depth_accepts_whole_numbers_in_range)
{
	static const struct {
		const char *text;
		uint32_t depth;
	} good[] = { { "1", 1 }, { "2048", 2048 }, { "65535", 65535 }, { "0100", 100 } };
	struct pyi_config cfg;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		expect_accepted("PYINSTR_MAX_DEPTH", good[i].text, &cfg);
		ck_assert_uint_eq(cfg.max_depth, good[i].depth);
	}
}
END_TEST

START_TEST(config_max_depth_refuses_zero_too_deep_and_non_numbers)
{
	static const char *const bad[] = { "0", "65536", "-1", "deep", "", "12a", "1.5", " 5",
					   "5 ", "1e3", "99999999999999999999999", "0x10" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused("PYINSTR_MAX_DEPTH", bad[i], NULL,
			       "expected a number of frames from 1 to 65535, such as 2048");
}
END_TEST

START_TEST(config_buffer_accepts_sizes_with_suffixes)
{
	static const struct {
		const char *text;
		size_t bytes;
	} good[] = { { "64K", 65536 },	{ "65536", 65536 }, { "8M", 8u << 20 },
		     { "1G", 1u << 30 },	{ "1g", 1u << 30 }, { "512k", 512u << 10 },
		     { "1024M", 1u << 30 }, { "3m", 3u << 20 }, { "1048576", 1u << 20 } };
	struct pyi_config cfg;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		expect_accepted("PYINSTR_BUFFER", good[i].text, &cfg);
		ck_assert_uint_eq(cfg.buffer_bytes, good[i].bytes);
	}
}
END_TEST

START_TEST(config_buffer_refuses_bad_suffixes_and_out_of_range_sizes)
{
	static const char *const bad[] = { "63K", "65535", "2G", "1025M", "1T", "8MB", "8Mi",
					   "", "M", "-8M", "8 M", "1.5M", " 8M", "big",
					   "99999999999999999999K", "18014398509481984K" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused("PYINSTR_BUFFER", bad[i], NULL,
			       "expected a size from 64K to 1G, such as 8M or 512K");
}
END_TEST

static void check_bool_variable(const char *name, bool (*field)(const struct pyi_config *))
{
	static const char *const yes[] = { "1", "true", "TRUE", "Yes", "ON", "tRuE", "on" };
	static const char *const no[] = { "0", "false", "No", "OFF", "FaLsE", "no" };
	static const char *const bad[] = { "", "2", "y", "n", "enable", "truee", " on", "on ",
					   "00", "-1", "t" };
	struct pyi_config cfg;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		expect_accepted(name, yes[i], &cfg);
		ck_assert_msg(field(&cfg), "%s=%s should be true", name, yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		expect_accepted(name, no[i], &cfg);
		ck_assert_msg(!field(&cfg), "%s=%s should be false", name, no[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(name, bad[i], NULL,
			       "expected 1 or 0 (or true/false, yes/no, on/off)");
}

static bool quiet_of(const struct pyi_config *cfg)
{
	return cfg->quiet;
}

static bool enabled_of(const struct pyi_config *cfg)
{
	return cfg->enabled;
}

static bool jitter_of(const struct pyi_config *cfg)
{
	return cfg->jitter;
}

START_TEST(config_quiet_accepts_yes_no_words_in_any_case)
{
	check_bool_variable("PYINSTR_QUIET", quiet_of);
}
END_TEST

START_TEST(config_enabled_accepts_yes_no_words_in_any_case)
{
	check_bool_variable("PYINSTR_ENABLED", enabled_of);
}
END_TEST

START_TEST(config_jitter_accepts_yes_no_words_in_any_case)
{
	check_bool_variable("PYINSTR_JITTER", jitter_of);
}
END_TEST

START_TEST(config_timer_accepts_its_three_names_in_any_case)
{
	static const struct {
		const char *text;
		int timer;
	} good[] = { { "auto", PYI_TIMER_AUTO }, { "perf", PYI_TIMER_PERF },
		     { "tick", PYI_TIMER_TICK }, { "TICK", PYI_TIMER_TICK },
		     { "Perf", PYI_TIMER_PERF }, { "AUTO", PYI_TIMER_AUTO } };
	static const char *const bad[] = { "", "ticks", "perf ", " tick", "1", "cpu", "hrtimer",
					   "autoo", "per" };
	struct pyi_config cfg;

	pyi_config_defaults(&cfg);
	ck_assert_int_eq(cfg.timer, PYI_TIMER_AUTO);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		expect_accepted("PYINSTR_TIMER", good[i].text, &cfg);
		ck_assert_int_eq(cfg.timer, good[i].timer);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused("PYINSTR_TIMER", bad[i], NULL, "expected auto, perf or tick");
}
END_TEST

START_TEST(config_reports_each_bad_variable_once_and_applies_the_good_ones)
{
	struct env e;
	struct pyi_config cfg;

	memset(&e, 0, sizeof(e));
	env_set(&e, "PYINSTR_OUTPUT", "run-%p.prof");
	env_set(&e, "PYINSTR_INTERVAL", "fast");
	env_set(&e, "PYINSTR_MAX_DEPTH", "100");
	env_set(&e, "PYINSTR_BUFFER", "huge");
	env_set(&e, "PYINSTR_QUIET", "yes");
	env_set(&e, "PYINSTR_ENABLED", "perhaps");
	ck_assert_int_eq(pyi_config_load(&cfg, env_get, collect, &e), 3);
	ck_assert_int_eq(e.n_lines, 3);
	ck_assert_ptr_nonnull(strstr(e.lines[0], "PYINSTR_INTERVAL='fast'"));
	ck_assert_ptr_nonnull(strstr(e.lines[1], "PYINSTR_BUFFER='huge'"));
	ck_assert_ptr_nonnull(strstr(e.lines[2], "PYINSTR_ENABLED='perhaps'"));
	ck_assert_str_eq(cfg.output, "run-%p.prof");
	ck_assert_uint_eq(cfg.interval_ns, 1000000);
	ck_assert_uint_eq(cfg.max_depth, 100);
	ck_assert_uint_eq(cfg.buffer_bytes, 8u << 20);
	ck_assert(cfg.quiet);
	ck_assert(cfg.enabled);
}
END_TEST

START_TEST(config_message_shows_control_bytes_escaped_on_one_line)
{
	struct env e;

	load_one(&e, "PYINSTR_INTERVAL", "1\nms\x1b[31m\\");
	ck_assert_int_eq(e.n_lines, 1);
	ck_assert_str_eq(e.lines[0], "pyinstr: PYINSTR_INTERVAL='1\\x0ams\\x1b[31m\\x5c': expected "
				     "a duration from 100us to 1s, such as 1ms or 250us");
}
END_TEST

START_TEST(config_message_cuts_a_long_value)
{
	static char value[100000];
	struct env e;

	memset(value, '\t', sizeof(value) - 1);
	load_one(&e, "PYINSTR_MAX_DEPTH", value);
	ck_assert_int_eq(e.n_lines, 1);
	ck_assert_uint_lt(strlen(e.lines[0]), 1024);
	ck_assert_ptr_nonnull(strstr(e.lines[0], "\\x09...': expected a number of frames"));
}
END_TEST

START_TEST(config_load_works_without_a_warn_callback)
{
	struct env e;
	struct pyi_config cfg;

	memset(&e, 0, sizeof(e));
	env_set(&e, "PYINSTR_INTERVAL", "fast");
	env_set(&e, "PYINSTR_MAX_DEPTH", "7");
	ck_assert_int_eq(pyi_config_load(&cfg, env_get, NULL, &e), 1);
	ck_assert_uint_eq(cfg.max_depth, 7);
}
END_TEST

START_TEST(config_load_reads_the_process_environment_by_default)
{
	struct pyi_config cfg;

	ck_assert_int_eq(setenv("PYINSTR_MAX_DEPTH", "77", 1), 0);
	ck_assert_int_eq(setenv("PYINSTR_INTERVAL", "250us", 1), 0);
	ck_assert_int_eq(pyi_config_load(&cfg, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(cfg.max_depth, 77);
	ck_assert_uint_eq(cfg.interval_ns, 250000);
	unsetenv("PYINSTR_MAX_DEPTH");
	unsetenv("PYINSTR_INTERVAL");
}
END_TEST

START_TEST(config_expands_pid_and_percent_in_the_output_path)
{
	char out[64];

	ck_assert_int_eq(pyi_config_expand_output("pyinstr-%p.prof", 1234, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "pyinstr-1234.prof");
	ck_assert_int_eq(pyi_config_expand_output("%p-%p", 7, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "7-7");
	ck_assert_int_eq(pyi_config_expand_output("%%p 100%%", 7, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "%p 100%");
	ck_assert_int_eq(pyi_config_expand_output("%p", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "0");
	ck_assert_int_eq(pyi_config_expand_output("%p", 4194304, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "4194304");
	ck_assert_int_eq(pyi_config_expand_output("plain", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "plain");
	ck_assert_int_eq(pyi_config_expand_output("", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(config_expand_refuses_bad_percent_and_small_buffers)
{
	char out[16];

	ck_assert_int_eq(pyi_config_expand_output("a%d", 1, out, sizeof(out)), -EINVAL);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(pyi_config_expand_output("a%", 1, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(pyi_config_expand_output("%s", 1, out, sizeof(out)), -EINVAL);
	/* "x-12345" needs 8 bytes with its NUL. */
	ck_assert_int_eq(pyi_config_expand_output("x-%p", 12345, out, 8), 0);
	ck_assert_str_eq(out, "x-12345");
	ck_assert_int_eq(pyi_config_expand_output("x-%p", 12345, out, 7), -ENAMETOOLONG);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(pyi_config_expand_output("abc", 1, out, 3), -ENAMETOOLONG);
	ck_assert_int_eq(pyi_config_expand_output("", 1, out, 0), -ENAMETOOLONG);
}
END_TEST

START_TEST(config_parses_durations_and_sizes_directly)
{
	uint64_t ns = 0;
	size_t bytes = 0;

	ck_assert_int_eq(pyi_config_parse_duration("1.5ns", &ns), 0);
	ck_assert_uint_eq(ns, 1); /* below a nanosecond is dropped */
	ck_assert_int_eq(pyi_config_parse_duration("0.0000000019s", &ns), 0);
	ck_assert_uint_eq(ns, 1);
	ck_assert_int_eq(pyi_config_parse_duration("5s", &ns), 0);
	ck_assert_uint_eq(ns, 5000000000u);
	ck_assert_int_eq(pyi_config_parse_duration("18446744073709551615ns", &ns), 0);
	ck_assert_uint_eq(ns, UINT64_MAX);
	ck_assert_int_eq(pyi_config_parse_duration("18446744073709551.616us", &ns), -EINVAL);
	ck_assert_int_eq(pyi_config_parse_duration("10", &ns), -EINVAL);
	ck_assert_int_eq(pyi_config_parse_size("0", &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(pyi_config_parse_size("16G", &bytes), 0);
	ck_assert_uint_eq(bytes, (size_t)16 << 30);
	ck_assert_int_eq(pyi_config_parse_size("1KK", &bytes), -EINVAL);
	ck_assert_int_eq(pyi_config_parse_size("K", &bytes), -EINVAL);
}
END_TEST

START_TEST(config_names_misspelt_variables)
{
	char *envp[] = {
		"PATH=/usr/bin",
		"PYINSTR_INTERVALL=1ms",
		"PYINSTR_OUTPUT=x.prof",
		"PYINSTR_OUTPUT_DIR=/tmp",
		"PYINSTR_BUFFER",
		"PYINSTR_buffer=8M",
		"MY_PYINSTR_OUTPUT=x",
		"PYINSTRUMENT_INTERVAL=1",
		"PYINSTR_QUIET=1",
		NULL,
	};
	struct env e;
	const char *known = " is not a pyinstr variable (known: PYINSTR_OUTPUT, PYINSTR_INTERVAL, "
			    "PYINSTR_MAX_DEPTH, PYINSTR_BUFFER, PYINSTR_QUIET, PYINSTR_ENABLED, "
			    "PYINSTR_JITTER, PYINSTR_TIMER)";
	char want[512];

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(pyi_config_check_unknown(envp, collect, &e), 3);
	ck_assert_int_eq(e.n_lines, 3);
	snprintf(want, sizeof(want), "pyinstr: PYINSTR_INTERVALL%s", known);
	ck_assert_str_eq(e.lines[0], want);
	snprintf(want, sizeof(want), "pyinstr: PYINSTR_OUTPUT_DIR%s", known);
	ck_assert_str_eq(e.lines[1], want);
	/* Names are case-sensitive, as getenv is: this one is never read. */
	snprintf(want, sizeof(want), "pyinstr: PYINSTR_buffer%s", known);
	ck_assert_str_eq(e.lines[2], want);
}
END_TEST

START_TEST(config_names_unknown_variables_even_with_odd_names)
{
	char *envp[] = { "PYINSTR_A\nB=1", "PYINSTR_=1", NULL };
	struct env e;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(pyi_config_check_unknown(envp, collect, &e), 2);
	ck_assert_ptr_nonnull(strstr(e.lines[0], "pyinstr: PYINSTR_A\\x0aB is not"));
	ck_assert_ptr_nonnull(strstr(e.lines[1], "pyinstr: PYINSTR_ is not"));
	ck_assert_int_eq(pyi_config_check_unknown(NULL, collect, &e), 0);
}
END_TEST

START_TEST(config_known_variables_are_not_reported_as_unknown)
{
	char *envp[] = { "PYINSTR_OUTPUT=a",   "PYINSTR_INTERVAL=1ms", "PYINSTR_MAX_DEPTH=5",
			 "PYINSTR_BUFFER=8M",  "PYINSTR_QUIET=1",      "PYINSTR_ENABLED=0",
			 "PYINSTR_JITTER=yes", "PYINSTR_OUTPUT=",      "PYINSTR_TIMER=tick",
			 NULL };
	struct env e;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(pyi_config_check_unknown(envp, collect, &e), 0);
	ck_assert_int_eq(e.n_lines, 0);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, config_defaults_are_the_documented_values);
	tcase_add_test(tc, config_unset_variables_give_defaults_and_no_warning);
	tcase_add_test(tc, config_output_accepts_paths_with_pid_and_percent);
	tcase_add_test(tc, config_output_refuses_empty_bad_percent_and_overlong_paths);
	tcase_add_test(tc, config_interval_accepts_each_unit_and_decimals);
	tcase_add_test(tc, config_interval_refuses_bad_units_numbers_and_ranges);
	tcase_add_test(tc, config_interval_message_is_the_documented_sentence);
	tcase_add_test(tc, config_max_depth_accepts_whole_numbers_in_range);
	tcase_add_test(tc, config_max_depth_refuses_zero_too_deep_and_non_numbers);
	tcase_add_test(tc, config_buffer_accepts_sizes_with_suffixes);
	tcase_add_test(tc, config_buffer_refuses_bad_suffixes_and_out_of_range_sizes);
	tcase_add_test(tc, config_quiet_accepts_yes_no_words_in_any_case);
	tcase_add_test(tc, config_enabled_accepts_yes_no_words_in_any_case);
	tcase_add_test(tc, config_jitter_accepts_yes_no_words_in_any_case);
	tcase_add_test(tc, config_timer_accepts_its_three_names_in_any_case);
	tcase_add_test(tc, config_reports_each_bad_variable_once_and_applies_the_good_ones);
	tcase_add_test(tc, config_message_shows_control_bytes_escaped_on_one_line);
	tcase_add_test(tc, config_message_cuts_a_long_value);
	tcase_add_test(tc, config_load_works_without_a_warn_callback);
	tcase_add_test(tc, config_load_reads_the_process_environment_by_default);
	tcase_add_test(tc, config_expands_pid_and_percent_in_the_output_path);
	tcase_add_test(tc, config_expand_refuses_bad_percent_and_small_buffers);
	tcase_add_test(tc, config_parses_durations_and_sizes_directly);
	tcase_add_test(tc, config_names_misspelt_variables);
	tcase_add_test(tc, config_names_unknown_variables_even_with_odd_names);
	tcase_add_test(tc, config_known_variables_are_not_reported_as_unknown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
