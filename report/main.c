/*
 * pyinstr-report: the command line. Parses options, opens the profiles, loads them into a
 * model, reports on stderr what the user must know (truncated files, lost samples), and hands
 * the model to the chosen renderer.
 *
 * Exit status: 0 success, 1 usage error, 2 a profile that cannot be read (missing, not a
 * profile, corrupt) or output that cannot be written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/describe.h"
#include "report/model.h"
#include "report/reader.h"
#include "report/render.h"

#ifndef PYI_VERSION
#define PYI_VERSION "unknown"
#endif

#define EXIT_USAGE 1
#define EXIT_BADFILE 2

static const char usage_text[] =
	"usage: pyinstr-report [OPTIONS] FILE...\n"
	"\n"
	"Shows where a program profiled by libpyinstr.so spent its time. FILE is a profile\n"
	"written by the agent, or '-' for standard input; several files (a parent and its\n"
	"children) are shown together.\n"
	"\n"
	"Output:\n"
	"  -f, --format NAME      text (default), collapsed, json, speedscope, chrome, pprof,\n"
	"                         pyisession\n"
	"  -o, --output FILE      write to FILE ('-' is standard output, the default)\n"
	"\n"
	"What to show:\n"
	"      --metric NAME      wall (default), cpu, or both (text)\n"
	"      --by-line          one node per executing line, not per function\n"
	"      --flat             functions by self time, heaviest first (text)\n"
	"      --time-range START:END\n"
	"                         only samples taken in this window, in seconds from the\n"
	"                         start (units s, ms, us allowed; either side may be empty)\n"
	"      --thread NAME|ID   only this thread (name, native id or file id); repeatable\n"
	"      --merge-threads    one tree for all threads of a process (text)\n"
	"      --show-all         do not collapse library frames (text)\n"
	"      --hide REGEX       treat files matching REGEX as library code; repeatable (text)\n"
	"      --show REGEX       never treat files matching REGEX as library code; repeatable\n"
	"                         (text)\n"
	"      --min-percent N    hide nodes under N% of their tree (text; default 0.5)\n"
	"      --max-depth N      show at most N levels (text)\n"
	"      --color            colour the text output\n"
	"      --no-color         never colour (the default unless standard output is a\n"
	"                         terminal)\n"
	"      --ascii            draw the tree with ASCII characters only\n"
	"\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Exit status: 0 success, 1 usage error, 2 unreadable or corrupt profile.\n";

enum {
	OPT_VERSION = 256,
	OPT_METRIC,
	OPT_BY_LINE,
	OPT_FLAT,
	OPT_TIME_RANGE,
	OPT_THREAD,
	OPT_MERGE_THREADS,
	OPT_SHOW_ALL,
	OPT_HIDE,
	OPT_SHOW,
	OPT_MIN_PERCENT,
	OPT_MAX_DEPTH,
	OPT_COLOR,
	OPT_NO_COLOR,
	OPT_ASCII,
};

static const struct option long_options[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "metric", required_argument, NULL, OPT_METRIC },
	{ "by-line", no_argument, NULL, OPT_BY_LINE },
	{ "flat", no_argument, NULL, OPT_FLAT },
	{ "time-range", required_argument, NULL, OPT_TIME_RANGE },
	{ "thread", required_argument, NULL, OPT_THREAD },
	{ "merge-threads", no_argument, NULL, OPT_MERGE_THREADS },
	{ "show-all", no_argument, NULL, OPT_SHOW_ALL },
	{ "hide", required_argument, NULL, OPT_HIDE },
	{ "show", required_argument, NULL, OPT_SHOW },
	{ "min-percent", required_argument, NULL, OPT_MIN_PERCENT },
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
	{ "color", no_argument, NULL, OPT_COLOR },
	{ "no-color", no_argument, NULL, OPT_NO_COLOR },
	{ "ascii", no_argument, NULL, OPT_ASCII },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct cli {
	const char *format;
	const char *output;
	struct pyi_render_options ro;
	int color; /* -1 auto */
	int has_range;
	uint64_t range_start, range_end;
	const char **threads;
	size_t nthreads;
	regex_t *hide, *show;
	size_t nhide, nshow;
};

static void error(const char *fmt, ...)
{
	va_list ap;
	fputs("pyinstr-report: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void warning(const char *fmt, ...)
{
	va_list ap;
	fputs("pyinstr-report: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("pyinstr-report: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'pyinstr-report --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/* A time for --time-range: seconds by default, or with a unit s, ms, us. */
static int parse_time(const char *s, size_t len, uint64_t *ns)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (errno || end == buf || v < 0 || v != v)
		return -1;
	double scale = 1e9;
	if (strcmp(end, "ms") == 0)
		scale = 1e6;
	else if (strcmp(end, "us") == 0)
		scale = 1e3;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	double n = v * scale;
	if (n >= 1.8e19)
		return -1;
	*ns = (uint64_t)(n + 0.5);
	return 0;
}

static int parse_range(struct cli *c, const char *arg)
{
	const char *colon = strchr(arg, ':');
	if (!colon || strchr(colon + 1, ':'))
		return -1;
	c->range_start = 0;
	c->range_end = UINT64_MAX;
	if (colon > arg && parse_time(arg, (size_t)(colon - arg), &c->range_start))
		return -1;
	if (colon[1] && parse_time(colon + 1, strlen(colon + 1), &c->range_end))
		return -1;
	if (c->range_end <= c->range_start)
		return -1;
	c->has_range = 1;
	return 0;
}

static int add_regex(regex_t **arr, size_t *n, const char *pattern)
{
	regex_t *p = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!p)
		return -ENOMEM;
	*arr = p;
	int rc = regcomp(&p[*n], pattern, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char msg[128];
		regerror(rc, &p[*n], msg, sizeof(msg));
		usage_error("invalid regular expression '%s': %s", pattern, msg);
		return -EINVAL;
	}
	(*n)++;
	return 0;
}

/* Parses the options; returns -1 to go on, or an exit status. */
static int parse_args(struct cli *c, int argc, char **argv)
{
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":f:o:h", long_options, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 'f':
			c->format = optarg;
			if (!pyi_render_lookup(optarg)) {
				char names[200] = "";
				for (size_t i = 0; pyi_render_names[i]; i++) {
					if (i)
						strcat(names, ", ");
					strcat(names, pyi_render_names[i]);
				}
				return usage_error("unknown format '%s' (known: %s)", optarg, names);
			}
			break;
		case 'o':
			c->output = optarg;
			break;
		case OPT_METRIC:
			if (strcmp(optarg, "wall") == 0) {
				c->ro.metric = PYI_METRIC_WALL;
			} else if (strcmp(optarg, "cpu") == 0) {
				c->ro.metric = PYI_METRIC_CPU;
			} else if (strcmp(optarg, "both") == 0) {
				c->ro.metric = PYI_METRIC_WALL;
				c->ro.both_metrics = 1;
			} else {
				return usage_error("--metric '%s': expected wall, cpu or both", optarg);
			}
			break;
		case OPT_BY_LINE:
			c->ro.by_line = 1;
			break;
		case OPT_FLAT:
			c->ro.flat = 1;
			break;
		case OPT_TIME_RANGE:
			if (parse_range(c, optarg))
				return usage_error("--time-range '%s': expected START:END in seconds "
						   "with START < END, such as 1.5:3 or 500ms: or :2",
						   optarg);
			break;
		case OPT_THREAD: {
			const char **p = realloc(c->threads, (c->nthreads + 1) * sizeof(*p));
			if (!p)
				return usage_error("out of memory");
			c->threads = p;
			c->threads[c->nthreads++] = optarg;
			break;
		}
		case OPT_MERGE_THREADS:
			c->ro.merge_threads = 1;
			break;
		case OPT_SHOW_ALL:
			c->ro.show_all = 1;
			break;
		case OPT_HIDE:
			if (add_regex(&c->hide, &c->nhide, optarg))
				return EXIT_USAGE;
			break;
		case OPT_SHOW:
			if (add_regex(&c->show, &c->nshow, optarg))
				return EXIT_USAGE;
			break;
		case OPT_MIN_PERCENT:
			errno = 0;
			c->ro.min_percent = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(c->ro.min_percent >= 0) ||
			    c->ro.min_percent > 100)
				return usage_error("--min-percent '%s': expected a number from 0 "
						   "to 100", optarg);
			break;
		case OPT_MAX_DEPTH: {
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v == 0 || v > UINT_MAX ||
			    optarg[0] == '-')
				return usage_error("--max-depth '%s': expected a positive integer",
						   optarg);
			c->ro.max_depth = (unsigned)v;
			break;
		}
		case OPT_COLOR:
			c->color = 1;
			break;
		case OPT_NO_COLOR:
			c->color = 0;
			break;
		case OPT_ASCII:
			c->ro.ascii = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return fflush(stdout) ? EXIT_BADFILE : 0;
		case OPT_VERSION:
			puts("pyinstr-report " PYI_VERSION);
			return fflush(stdout) ? EXIT_BADFILE : 0;
		case ':':
			if (optopt)
				return usage_error("option '-%c' needs a value", optopt);
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("no profile given");
	return -1;
}

/* Copies fd to an unnamed temporary file, so it can be read twice (stdin, pipes). */
static int spool(int fd, const char *name)
{
	FILE *tmp = tmpfile();
	if (!tmp) {
		error("%s: cannot create a temporary file: %s", name, strerror(errno));
		return -1;
	}
	int out = dup(fileno(tmp));
	fclose(tmp);
	if (out < 0) {
		error("%s: %s", name, strerror(errno));
		return -1;
	}
	static char buf[1 << 16];
	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			error("%s: %s", name, strerror(errno));
			close(out);
			return -1;
		}
		if (got == 0)
			break;
		for (ssize_t done = 0; done < got;) {
			ssize_t w = write(out, buf + done, (size_t)(got - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				error("%s: cannot spool to a temporary file: %s", name,
				      strerror(errno));
				close(out);
				return -1;
			}
			done += w;
		}
	}
	return out;
}

static int open_inputs(struct pyi_model *m, int argc, char **argv)
{
	int stdin_used = 0;
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		int fd;
		if (strcmp(path, "-") == 0) {
			if (stdin_used++)
				return usage_error("standard input ('-') given twice");
			fd = spool(0, "standard input");
			if (fd < 0)
				return EXIT_BADFILE;
			path = "(standard input)";
		} else {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				error("%s: %s", path, strerror(errno));
				return EXIT_BADFILE;
			}
			if (lseek(fd, 0, SEEK_CUR) < 0) {
				int s = spool(fd, path);
				close(fd);
				if (s < 0)
					return EXIT_BADFILE;
				fd = s;
			}
		}
		if (pyi_model_add_fd(m, fd, path)) {
			error("out of memory");
			return EXIT_BADFILE;
		}
	}
	return 0;
}

static int thread_matches(const struct pyi_thread *t, const char *want)
{
	size_t len = strlen(want);
	if (t->name_len == len && memcmp(t->name, want, len) == 0)
		return 1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(want, &end, 10);
	if (errno || end == want || *end || want[0] == '-')
		return 0;
	return v == t->native_tid || v == t->thread_id;
}

static int select_threads(struct cli *c, struct pyi_model *m, unsigned char **sel)
{
	*sel = NULL;
	if (!c->nthreads)
		return 0;
	*sel = calloc(m->nthreads ? m->nthreads : 1, 1);
	if (!*sel) {
		error("out of memory");
		return EXIT_BADFILE;
	}
	for (size_t k = 0; k < c->nthreads; k++) {
		int found = 0;
		for (size_t t = 0; t < m->nthreads; t++) {
			if (thread_matches(&m->threads[t], c->threads[k])) {
				(*sel)[t] = 1;
				found = 1;
			}
		}
		if (!found) {
			fprintf(stderr, "pyinstr-report: --thread '%s' matches no thread; threads:",
				c->threads[k]);
			for (size_t t = 0; t < m->nthreads; t++) {
				const struct pyi_thread *th = &m->threads[t];
				fprintf(stderr, "%s %" PRIu64, t ? "," : "", th->native_tid);
				if (th->name_len)
					fprintf(stderr, " (%.*s)", (int)th->name_len, th->name);
			}
			fputs("\nTry 'pyinstr-report --help' for more information.\n", stderr);
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* What the user must know about each file, on stderr, once. */
static void warn_files(const struct pyi_model *m, int text)
{
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct pyi_file *f = &m->files[i];
		if (f->result.truncated) {
			char msg[512];
			pyi_reader_truncation_warning(&f->result, f->name, msg, sizeof(msg));
			warning("%s", msg);
		} else if (!f->ended) {
			warning("%s: no end record after %" PRIu64 " records (the process was "
				"killed?); showing what was written", f->name, f->result.records);
		}
		if (text)
			continue; /* the text header lists the counters */
		for (size_t k = 0; k < pyi_nlosses; k++) {
			uint64_t v = pyi_describe_loss(m, i, pyi_losses[k].key);
			if (v)
				warning("%s: %" PRIu64 " %s", f->name, v, pyi_losses[k].what);
		}
	}
}

static void release_cli(struct cli *c)
{
	for (size_t i = 0; i < c->nhide; i++)
		regfree(&c->hide[i]);
	for (size_t i = 0; i < c->nshow; i++)
		regfree(&c->show[i]);
	free(c->hide);
	free(c->show);
	free(c->threads);
}

int main(int argc, char **argv)
{
	struct cli c = { .format = "text", .output = "-", .color = -1 };
	struct pyi_model *m = NULL;
	unsigned char *sel = NULL;
	FILE *out = NULL;
	int status;

	pyi_render_options_init(&c.ro);
	c.ro.min_percent = 0.5;
	status = parse_args(&c, argc, argv);
	if (status >= 0)
		goto done;

	m = pyi_model_new();
	if (!m) {
		error("out of memory");
		status = EXIT_BADFILE;
		goto done;
	}
	status = open_inputs(m, argc, argv);
	if (status)
		goto done;
	if (c.has_range)
		pyi_model_set_range(m, c.range_start, c.range_end);
	int rc = pyi_model_load(m);
	if (rc) {
		error("%s", m->error[0] ? m->error : strerror(rc < 0 ? -rc : EIO));
		status = EXIT_BADFILE;
		goto done;
	}
	status = select_threads(&c, m, &sel);
	if (status)
		goto done;
	int text = strcmp(c.format, "text") == 0;
	warn_files(m, text);

	int to_stdout = strcmp(c.output, "-") == 0;
	out = to_stdout ? stdout : fopen(c.output, "we");
	if (!out) {
		error("%s: %s", c.output, strerror(errno));
		status = EXIT_BADFILE;
		goto done;
	}
	if (c.color < 0) {
		const char *term = getenv("TERM");
		c.color = to_stdout && isatty(1) && !getenv("NO_COLOR") &&
			  !(term && strcmp(term, "dumb") == 0);
	}
	c.ro.color = c.color;
	c.ro.thread_selected = sel;
	c.ro.hide = c.hide;
	c.ro.nhide = c.nhide;
	c.ro.show = c.show;
	c.ro.nshow = c.nshow;
	static char obuf[1 << 16];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));
	rc = pyi_render_lookup(c.format)(m, &c.ro, out);
	if (rc) {
		error("%s", strerror(-rc));
		status = EXIT_BADFILE;
	}
	if (fflush(out) || ferror(out)) {
		error("%s: %s", to_stdout ? "standard output" : c.output, strerror(errno));
		status = EXIT_BADFILE;
	}
	if (!to_stdout && fclose(out)) {
		error("%s: %s", c.output, strerror(errno));
		status = EXIT_BADFILE;
	}
	status = status ? status : 0;
done:
	free(sel);
	pyi_model_free(m);
	release_cli(&c);
	return status < 0 ? 0 : status;
}
