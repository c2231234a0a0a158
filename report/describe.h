/*
 * describe: facts about a loaded profile that several renderers state the same way: the
 * command line, the duration of a session, how a thread is named, the loss counters.
 * Normal context.
 */
#ifndef PYI_DESCRIBE_H
#define PYI_DESCRIBE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/model.h"

/* An escaping writer: pyi_esc_text, pyi_esc_collapsed, pyi_esc_json_body... */
typedef void (*pyi_escape_fn)(FILE *out, const char *s, size_t n);

/* Writes the profiled command line (INFO argv), arguments separated by spaces; 0 if absent. */
int pyi_describe_argv(const struct pyi_model *m, size_t file, FILE *out, pyi_escape_fn esc);

/*
 * How long file's session lasted as far as the report goes: to its END record, or its last
 * sample; clipped to the time range if one is set.
 */
uint64_t pyi_describe_duration_ns(const struct pyi_model *m, size_t file);

/* Where file's session starts on the model's time line (ns since the origin). */
uint64_t pyi_describe_offset_ns(const struct pyi_model *m, size_t file);

/* The configured sampling interval of a file (INFO interval_ns), or 0 if unknown. */
uint64_t pyi_describe_interval_ns(const struct pyi_model *m, size_t file);

/*
 * Writes a thread's display name: its Python name when known, else "thread <native id>".
 * The name goes through esc.
 */
void pyi_describe_thread(const struct pyi_thread *t, FILE *out, pyi_escape_fn esc);

/* The loss counters a report must show when non-zero: key and what it counts. */
struct pyi_loss {
	const char *key;
	const char *what;
};
extern const struct pyi_loss pyi_losses[];
extern const size_t pyi_nlosses;

/*
 * A loss counter of a file. A killed process may not have written its counters, so what the
 * samples themselves show (truncated stacks, unreadable frames) is a lower bound used then.
 */
uint64_t pyi_describe_loss(const struct pyi_model *m, size_t file, const char *key);

#endif
