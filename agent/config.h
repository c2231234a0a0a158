/*
 * config: the PYINSTR_* environment variables, read once at start-up.
 *
 * Every bad value keeps its default and produces exactly one line through warn, naming the
 * variable and what it accepts, e.g.
 *   pyinstr: PYINSTR_INTERVAL='fast': expected a duration from 100us to 1s, such as 1ms or 250us
 * Normal context only (the agent's constructor); no allocation.
 */
#ifndef PYI_CONFIG_H
#define PYI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PYI_CONFIG_PATH_MAX 4096

struct pyi_config {
	char output[PYI_CONFIG_PATH_MAX]; /* PYINSTR_OUTPUT, pattern: %p = pid, %% = % */
	uint64_t interval_ns;             /* PYINSTR_INTERVAL, 100us..1s, default 1ms */
	uint32_t max_depth;               /* PYINSTR_MAX_DEPTH, 1..65535, default 2048 */
	size_t buffer_bytes;              /* PYINSTR_BUFFER, 64K..1G, default 8M */
	bool quiet;                       /* PYINSTR_QUIET, default false */
	bool enabled;                     /* PYINSTR_ENABLED, default true; false = inert */
	bool jitter;                      /* PYINSTR_JITTER, default false: running threads
					   * are signalled by the sampler at random times,
					   * not by their CPU-time timers at the tick */
	int timer;                        /* PYINSTR_TIMER, default PYI_TIMER_AUTO */
};

/* What signals a running thread: a perf task-clock event at random CPU times where the
 * kernel allows one (auto, perf), or a POSIX CPU-time timer, at the scheduler tick (tick). */
enum { PYI_TIMER_AUTO, PYI_TIMER_PERF, PYI_TIMER_TICK };

#define PYI_CONFIG_DEFAULT_OUTPUT "pyinstr-%p.prof"

typedef const char *(*pyi_getenv_fn)(const char *name, void *ctx);
typedef void (*pyi_warn_fn)(const char *line, void *ctx);

/* Sets every field to its default. */
void pyi_config_defaults(struct pyi_config *cfg);

/*
 * Fills cfg from the variables get() returns (NULL: unset). Returns the number of bad
 * values (each reported once through warn, with the default kept).
 * Starts from pyi_config_defaults(), so unset variables get their defaults. get may be NULL
 * (getenv is used); warn may be NULL (nothing is reported). A warn line has no trailing
 * newline, never contains one (control bytes in values are shown as \xNN), and is shorter
 * than 1024 bytes.
 */
int pyi_config_load(struct pyi_config *cfg, pyi_getenv_fn get, pyi_warn_fn warn, void *ctx);

/*
 * Reports, through warn, each PYINSTR_* entry of envp (NAME=value strings, NULL-terminated)
 * that is not a known variable, e.g. a misspelling. Returns how many.
 */
int pyi_config_check_unknown(char *const *envp, pyi_warn_fn warn, void *ctx);

/* Expands %p (pid) and %% in pattern into out. 0, -EINVAL (bad %-sequence) or -ENAMETOOLONG. */
int pyi_config_expand_output(const char *pattern, long pid, char *out, size_t out_len);

/* Parses a duration such as "1ms", "250us", "0.5s", "100000ns" into ns. 0 or -EINVAL. */
int pyi_config_parse_duration(const char *text, uint64_t *ns);
/* Parses a size such as "8M", "64K", "1G", "65536" into bytes. 0 or -EINVAL. */
int pyi_config_parse_size(const char *text, size_t *bytes);

#endif
