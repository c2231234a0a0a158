/*
 * describe: shared wording and arithmetic for renderers.
 */
#include "report/describe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int pyi_describe_argv(const struct pyi_model *m, size_t file, FILE *out, pyi_escape_fn esc)
{
	const struct pyi_kv *kv = pyi_model_info(m, file, "argv");
	if (!kv)
		return 0;
	size_t n = kv->value_len;
	/* Arguments are NUL-separated; a trailing NUL ends the last one. */
	if (n && kv->value[n - 1] == '\0')
		n--;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && kv->value[i] != '\0')
			continue;
		if (start)
			putc_unlocked(' ', out);
		esc(out, kv->value + start, i - start);
		start = i + 1;
	}
	return 1;
}

uint64_t pyi_describe_offset_ns(const struct pyi_model *m, size_t file)
{
	uint64_t start = m->files[file].header.start_realtime_ns;
	return start > m->origin_realtime_ns ? start - m->origin_realtime_ns : 0;
}

uint64_t pyi_describe_duration_ns(const struct pyi_model *m, size_t file)
{
	const struct pyi_file *f = &m->files[file];
	uint64_t end = f->ended && f->end_ns > f->last_sample_ns ? f->end_ns : f->last_sample_ns;
	if (!m->has_range)
		return end;
	uint64_t a = pyi_describe_offset_ns(m, file), b = a + end;
	if (m->range_start_ns > a)
		a = m->range_start_ns;
	if (m->range_end_ns < b)
		b = m->range_end_ns;
	return b > a ? b - a : 0;
}

uint64_t pyi_describe_interval_ns(const struct pyi_model *m, size_t file)
{
	const struct pyi_kv *kv = pyi_model_info(m, file, "interval_ns");
	return kv ? strtoull(kv->value, NULL, 10) : 0;
}

void pyi_describe_thread(const struct pyi_thread *t, FILE *out, pyi_escape_fn esc)
{
	if (t->name_len)
		esc(out, t->name, t->name_len);
	else
		fprintf(out, "thread %" PRIu64, t->native_tid);
}

const struct pyi_loss pyi_losses[] = {
	{ "dropped_ring_full", "samples dropped (ring buffer full)" },
	{ "truncated", "stacks truncated at the depth cap" },
	{ "abandoned_fault", "stack walks abandoned (fault while reading)" },
	{ "unknown_frames", "unknown frames" },
	{ "intern_full", "code objects not interned (table full)" },
	{ "threads_unseen", "Python threads ended before any sample (their time is not in the profile)" },
};
const size_t pyi_nlosses = sizeof(pyi_losses) / sizeof(pyi_losses[0]);

uint64_t pyi_describe_loss(const struct pyi_model *m, size_t file, const char *key)
{
	uint64_t v = pyi_model_counter(m, file, key);
	uint64_t seen = 0;
	if (strcmp(key, "truncated") == 0)
		seen = m->files[file].truncated_samples;
	else if (strcmp(key, "unknown_frames") == 0)
		seen = m->files[file].partial_samples;
	return v > seen ? v : seen;
}
