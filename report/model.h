/*
 * model: what pyinstr-report knows after reading one or more profiles.
 *
 * Memory grows with what is distinct, never with the number of samples:
 *  - funcs: one per distinct (qualname, filename, first line), shared by every file;
 *  - nodes: a trie of call stacks, one node per distinct (parent, func, line) path from the root;
 *  - stacks: samples aggregated per (thread, leaf node, truncated), with sample count and
 *    wall/CPU sums.
 * Renderers that need the order of samples in time (timelines) call pyi_model_replay, which
 * streams the files again through the same code and hands over each sample resolved to a node.
 *
 * A time range given before loading keeps only samples whose time falls inside it; times are ns
 * since the origin, the earliest session start among the files.
 *
 * Normal context, single-threaded.
 */
#ifndef PYI_MODEL_H
#define PYI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "report/reader.h"

/* Reserved func ids. */
#define PYI_FUNC_UNKNOWN 0 /* a frame the agent could not read (code id 0) */
/* Node 0 is the root: no frame. A stack whose leaf is node 0 had no Python frame. */
#define PYI_NODE_ROOT 0

struct pyi_func {
	const char *qualname;
	const char *filename;
	uint32_t qualname_len;
	uint32_t filename_len;
	int32_t first_line;
};

struct pyi_node {
	uint32_t parent;
	uint32_t func;
	int32_t line; /* the line executing in this frame */
	uint32_t depth; /* frames from the root; the root has 0 */
};

struct pyi_weight {
	uint64_t samples;
	uint64_t wall_ns;
	uint64_t cpu_ns;
};

struct pyi_stack {
	uint32_t thread;
	uint32_t leaf;
	uint32_t truncated; /* the root end of the stack is missing (depth cap) */
	struct pyi_weight w;
};

struct pyi_thread {
	uint32_t file;
	uint32_t thread_id;
	uint64_t native_tid;
	char *name; /* NUL-terminated copy; may hold any bytes; empty if never named */
	size_t name_len;
	int is_main; /* native tid == the writer's pid */
	struct pyi_weight total; /* samples kept (inside the time range) */
	uint64_t first_ns, last_ns; /* first and last kept sample, ns since the origin */
};

struct pyi_kv {
	char *key;
	char *value; /* NUL-terminated copies; value_len may include inner NULs */
	size_t key_len, value_len;
};

struct pyi_counter {
	char *key;
	uint64_t value;
};

struct pyi_file {
	char *name;
	int loaded;
	struct pyi_rd_header header;
	struct pyi_rd_result result;
	struct pyi_kv *info;
	size_t ninfo;
	struct pyi_counter *counters; /* from the last COUNTERS record */
	size_t ncounters;
	int ended; /* an END record was seen */
	uint32_t end_reason;
	uint64_t end_ns;          /* session time of the last END */
	uint64_t last_sample_ns;  /* session time of the last sample, kept or not */
	struct pyi_weight total;  /* samples kept */
	uint64_t samples_read;    /* every sample in the file */
	/* Samples read with the TRUNCATED and PARTIAL flags (kept or not). */
	uint64_t truncated_samples, partial_samples;
};

struct pyi_model_index;

struct pyi_model {
	struct pyi_file *files;
	size_t nfiles;
	struct pyi_func *funcs;
	size_t nfuncs;
	struct pyi_node *nodes;
	size_t nnodes;
	struct pyi_thread *threads;
	size_t nthreads;
	struct pyi_stack *stacks;
	size_t nstacks;

	uint64_t origin_realtime_ns; /* earliest session start among the files */
	int has_range;
	uint64_t range_start_ns, range_end_ns; /* [start, end), ns since the origin */
	struct pyi_weight total; /* all kept samples */

	char error[400]; /* why the last failing call failed */
	struct pyi_model_index *ix;
};

struct pyi_model *pyi_model_new(void);
void pyi_model_free(struct pyi_model *m);

/* Adds a profile to read from fd (the model owns and closes it; it must be seekable). */
int pyi_model_add_fd(struct pyi_model *m, int fd, const char *name);
/* Adds a profile held in memory; data must outlive the model. */
int pyi_model_add_mem(struct pyi_model *m, const void *data, size_t len, const char *name);
/* Keeps only samples with start_ns <= time < end_ns (since the origin). Before loading. */
void pyi_model_set_range(struct pyi_model *m, uint64_t start_ns, uint64_t end_ns);

/*
 * Reads every added file. Returns 0, or the reader's error (PYI_RD_EBADFILE, -errno) with
 * m->error set to "FILE: what". Truncated files load what they hold; check files[i].result.
 */
int pyi_model_load(struct pyi_model *m);

struct pyi_replay_sample {
	uint32_t thread;
	uint32_t leaf;
	uint32_t truncated;
	uint64_t time_ns; /* since the origin */
	uint64_t wall_ns;
	uint64_t cpu_ns;
};

/*
 * Streams every kept sample again, file by file and in file order, after pyi_model_load
 * succeeded. A callback returning non-zero stops the replay with that value.
 */
int pyi_model_replay(struct pyi_model *m,
		     int (*cb)(void *ctx, const struct pyi_replay_sample *s), void *ctx);

/* The value of an INFO key of a file, or NULL. */
const struct pyi_kv *pyi_model_info(const struct pyi_model *m, size_t file, const char *key);
/* A counter of a file (0 when absent). */
uint64_t pyi_model_counter(const struct pyi_model *m, size_t file, const char *key);
/* The sum of a counter over all files. */
uint64_t pyi_model_counter_sum(const struct pyi_model *m, const char *key);

/*
 * Groups stack indexes by thread: the stacks of thread t are order[start[t] .. start[t + 1]).
 * The caller frees both arrays. Returns 0 or -ENOMEM.
 */
int pyi_model_stacks_by_thread(const struct pyi_model *m, uint32_t **order, size_t **start);

/* Fills out with the nodes from the root's child down to leaf; returns how many (<= cap). */
size_t pyi_model_path(const struct pyi_model *m, uint32_t leaf, uint32_t *out, size_t cap);

#endif
