/*
 * config: parses and validates the PYINSTR_* variables.
 *
 * Each variable has one parser and one sentence saying what it accepts; a bad value keeps the
 * default and produces exactly one line naming the variable and the value as given (control
 * bytes escaped, long values cut, so the line stays one line). Messages are built in a fixed
 * buffer: nothing here allocates or touches stdio, so the constructor can call it before the
 * process is fully set up. The caller decides where the lines go.
 */
#include "agent/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest pid Linux can hand out (PID_MAX_LIMIT on 64-bit): %p never expands to more digits. */
#define PID_MAX_LIMIT 4194304L

#define LINE_MAX_BYTES 1024 /* room for a value of VALUE_SHOWN_MAX bytes, all escaped */
#define VALUE_SHOWN_MAX 120 /* bytes of a bad value quoted in a message */

#define INTERVAL_MIN_NS 100000ull
#define INTERVAL_MAX_NS 1000000000ull
#define BUFFER_MIN ((size_t)64 << 10)
#define BUFFER_MAX ((size_t)1 << 30)

struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void put_bytes(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static void put(struct line *l, const char *s)
{
	put_bytes(l, s, strlen(s));
}

/* Copies n bytes of user input so that they cannot break the line or flood the terminal. */
static void put_escaped(struct line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n && i < VALUE_SHOWN_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			put_bytes(l, esc, sizeof(esc));
		} else {
			put_bytes(l, (const char *)&c, 1);
		}
	}
	if (n > VALUE_SHOWN_MAX)
		put(l, "...");
}

static void emit(struct line *l, pyi_warn_fn warn, void *ctx)
{
	if (warn)
		warn(l->buf, ctx);
}

static void warn_bad_value(const char *name, const char *value, const char *expected,
			   pyi_warn_fn warn, void *ctx)
{
	struct line l = { .len = 0 };

	put(&l, "pyinstr: ");
	put(&l, name);
	put(&l, "='");
	put_escaped(&l, value, strnlen(value, VALUE_SHOWN_MAX + 1));
	put(&l, "': ");
	put(&l, expected);
	emit(&l, warn, ctx);
}

/* Parses decimal digits into *out; the whole string must be digits. 0 or -EINVAL. */
static int parse_uint(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static size_t count_digits(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

int pyi_config_parse_duration(const char *text, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = { { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 } };
	const char *p = text;
	size_t int_len, frac_len = 0;
	uint64_t whole, frac = 0, frac_scale = 1, mult = 0;

	int_len = count_digits(p);
	if (parse_uint(p, int_len, &whole))
		return -EINVAL;
	p += int_len;
	if (*p == '.') {
		p++;
		frac_len = count_digits(p);
		if (frac_len == 0)
			return -EINVAL;
		/* Nine decimals reach nanoseconds from seconds; later digits cannot matter. */
		for (size_t i = 0; i < frac_len && i < 9; i++) {
			frac = frac * 10 + (uint64_t)(p[i] - '0');
			frac_scale *= 10;
		}
		p += frac_len;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) == 0)
			mult = units[i].ns;
	}
	if (mult == 0 || whole > UINT64_MAX / mult)
		return -EINVAL;
	/* frac < 1e9 and mult <= 1e9: the product fits; the remainder below 1 ns is dropped. */
	if (whole * mult > UINT64_MAX - frac * mult / frac_scale)
		return -EINVAL;
	*ns = whole * mult + frac * mult / frac_scale;
	return 0;
}

int pyi_config_parse_size(const char *text, size_t *bytes)
{
	size_t n = count_digits(text);
	uint64_t v, mult = 1;

	if (parse_uint(text, n, &v))
		return -EINVAL;
	switch (text[n]) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = (uint64_t)1 << 10;
		break;
	case 'm':
	case 'M':
		mult = (uint64_t)1 << 20;
		break;
	case 'g':
	case 'G':
		mult = (uint64_t)1 << 30;
		break;
	default:
		return -EINVAL;
	}
	if (text[n] != '\0' && text[n + 1] != '\0')
		return -EINVAL;
	if (v > SIZE_MAX / mult)
		return -EINVAL;
	*bytes = (size_t)(v * mult);
	return 0;
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int equals_ignoring_case(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return 0;
	}
	return *a == *b;
}

static int parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (equals_ignoring_case(text, yes[i])) {
			*out = true;
			return 0;
		}
		if (equals_ignoring_case(text, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int pyi_config_expand_output(const char *pattern, long pid, char *out, size_t out_len)
{
	size_t n = 0;
	int err = 0;

	if (out_len == 0)
		return -ENAMETOOLONG;
	for (const char *p = pattern; *p; p++) {
		char digits[24];
		size_t len = 1, start = sizeof(digits);
		const char *piece = p;

		if (*p == '%') {
			p++;
			if (*p == '%') {
				piece = p;
			} else if (*p == 'p') {
				unsigned long v = pid < 0 ? 0UL - (unsigned long)pid : (unsigned long)pid;

				do {
					digits[--start] = (char)('0' + v % 10);
					v /= 10;
				} while (v);
				if (pid < 0)
					digits[--start] = '-';
				piece = digits + start;
				len = sizeof(digits) - start;
			} else {
				err = -EINVAL; /* also a lone % at the end */
				goto out;
			}
		}
		if (n + len >= out_len) {
			err = -ENAMETOOLONG;
			goto out;
		}
		memcpy(out + n, piece, len);
		n += len;
	}
out:
	out[err ? 0 : n] = '\0';
	return err;
}

/* Each load_* parses one value into cfg, or returns the sentence that explains what it takes. */
static const char *load_output(struct pyi_config *cfg, const char *value)
{
	char expanded[PYI_CONFIG_PATH_MAX];
	size_t len = strnlen(value, PYI_CONFIG_PATH_MAX);

	if (len == 0)
		return "expected a file path, such as out.prof or /tmp/app-%p.prof";
	if (len >= PYI_CONFIG_PATH_MAX)
		return "expected a file path shorter than 4096 bytes";
	switch (pyi_config_expand_output(value, PID_MAX_LIMIT, expanded, sizeof(expanded))) {
	case 0:
		memcpy(cfg->output, value, len + 1);
		return NULL;
	case -EINVAL:
		return "expected % only as %p (the process id) or %% (a percent sign)";
	default:
		return "expected a file path shorter than 4096 bytes once %p is expanded";
	}
}

static const char *load_interval(struct pyi_config *cfg, const char *value)
{
	uint64_t ns;

	if (pyi_config_parse_duration(value, &ns) || ns < INTERVAL_MIN_NS || ns > INTERVAL_MAX_NS)
		return "expected a duration from 100us to 1s, such as 1ms or 250us";
	cfg->interval_ns = ns;
	return NULL;
}

static const char *load_max_depth(struct pyi_config *cfg, const char *value)
{
	uint64_t depth;

	if (parse_uint(value, strlen(value), &depth) || depth < 1 || depth > 65535)
		return "expected a number of frames from 1 to 65535, such as 2048";
	cfg->max_depth = (uint32_t)depth;
	return NULL;
}

static const char *load_buffer(struct pyi_config *cfg, const char *value)
{
	size_t bytes;

	if (pyi_config_parse_size(value, &bytes) || bytes < BUFFER_MIN || bytes > BUFFER_MAX)
		return "expected a size from 64K to 1G, such as 8M or 512K";
	cfg->buffer_bytes = bytes;
	return NULL;
}

#define BOOL_EXPECTED "expected 1 or 0 (or true/false, yes/no, on/off)"

static const char *load_quiet(struct pyi_config *cfg, const char *value)
{
	return parse_bool(value, &cfg->quiet) ? BOOL_EXPECTED : NULL;
}

static const char *load_enabled(struct pyi_config *cfg, const char *value)
{
	return parse_bool(value, &cfg->enabled) ? BOOL_EXPECTED : NULL;
}

static const char *load_jitter(struct pyi_config *cfg, const char *value)
{
	return parse_bool(value, &cfg->jitter) ? BOOL_EXPECTED : NULL;
}

static const char *load_timer(struct pyi_config *cfg, const char *value)
{
	static const char *const names[] = {"auto", "perf", "tick"};
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			cfg->timer = i;
			return NULL;
		}
	}
	return "expected auto, perf or tick";
}

static const struct variable {
	const char *name;
	const char *(*load)(struct pyi_config *cfg, const char *value);
} variables[] = {
	{ "PYINSTR_OUTPUT", load_output },
	{ "PYINSTR_INTERVAL", load_interval },
	{ "PYINSTR_MAX_DEPTH", load_max_depth },
	{ "PYINSTR_BUFFER", load_buffer },
	{ "PYINSTR_QUIET", load_quiet },
	{ "PYINSTR_ENABLED", load_enabled },
	{ "PYINSTR_JITTER", load_jitter },
	{ "PYINSTR_TIMER", load_timer },
};

#define N_VARIABLES (sizeof(variables) / sizeof(variables[0]))

void pyi_config_defaults(struct pyi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->output, PYI_CONFIG_DEFAULT_OUTPUT, sizeof(PYI_CONFIG_DEFAULT_OUTPUT));
	cfg->interval_ns = 1000000;
	cfg->max_depth = 2048;
	cfg->buffer_bytes = (size_t)8 << 20;
	cfg->quiet = false;
	cfg->enabled = true;
	cfg->timer = PYI_TIMER_AUTO;
}

static const char *getenv_adapter(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

int pyi_config_load(struct pyi_config *cfg, pyi_getenv_fn get, pyi_warn_fn warn, void *ctx)
{
	int bad = 0;

	pyi_config_defaults(cfg);
	if (!get)
		get = getenv_adapter;
	for (size_t i = 0; i < N_VARIABLES; i++) {
		const char *value = get(variables[i].name, ctx);
		const char *expected;

		if (!value)
			continue;
		expected = variables[i].load(cfg, value);
		if (expected) {
			warn_bad_value(variables[i].name, value, expected, warn, ctx);
			bad++;
		}
	}
	return bad;
}

int pyi_config_check_unknown(char *const *envp, pyi_warn_fn warn, void *ctx)
{
	static const char prefix[] = "PYINSTR_";
	int unknown = 0;

	for (; envp && *envp; envp++) {
		const char *entry = *envp;
		const char *eq = strchr(entry, '=');
		size_t name_len = eq ? (size_t)(eq - entry) : strlen(entry);
		struct line l = { .len = 0 };
		size_t i;

		if (strncmp(entry, prefix, sizeof(prefix) - 1) != 0)
			continue;
		for (i = 0; i < N_VARIABLES; i++) {
			if (strlen(variables[i].name) == name_len &&
			    memcmp(variables[i].name, entry, name_len) == 0)
				break;
		}
		if (i < N_VARIABLES)
			continue;
		unknown++;
		put(&l, "pyinstr: ");
		put_escaped(&l, entry, name_len);
		put(&l, " is not a pyinstr variable (known: ");
		for (i = 0; i < N_VARIABLES; i++) {
			put(&l, i ? ", " : "");
			put(&l, variables[i].name);
		}
		put(&l, ")");
		emit(&l, warn, ctx);
	}
	return unknown;
}
