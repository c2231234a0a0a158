/*
 * fuzz_report: a libFuzzer entry point feeding raw bytes to pyinstr-report's reader, model and
 * every renderer. Any input must end in success or a clean error, never a crash, a sanitizer
 * report, or unbounded memory.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -D_GNU_SOURCE -std=c11 -I. \
 *       tests/fuzz/fuzz_report.c common/recbuf.c $(ls report/[a-z]*.c | grep -v main) \
 *       -lz -lm -o /tmp/fuzz_report
 *   /tmp/fuzz_report -max_total_time=300 -max_len=65536 /tmp/corpus tests/fuzz/corpus
 *
 * Without libFuzzer (gcc), -DPYI_FUZZ_MAIN adds a main that runs the files it is given, to
 * replay a crash or the corpus: ./fuzz_report tests/fuzz/corpus/ *
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "report/model.h"
#include "report/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (!sink)
		sink = fopen("/dev/null", "w");
	/* Odd sizes land on both sides of the time-range filter. */
	int ranged = size % 3 == 0;
	struct pyi_model *m = pyi_model_new();
	if (!m)
		return 0;
	if (pyi_model_add_mem(m, data, size, "fuzz") == 0) {
		if (ranged)
			pyi_model_set_range(m, 1000, 5000000);
		if (pyi_model_load(m) == 0) {
			struct pyi_render_options o;
			pyi_render_options_init(&o);
			o.by_line = size & 1;
			o.merge_threads = (size >> 1) & 1;
			o.metric = (size >> 2) & 1 ? PYI_METRIC_CPU : PYI_METRIC_WALL;
			o.min_percent = 0.5;
			for (size_t i = 0; pyi_render_names[i]; i++)
				pyi_render_lookup(pyi_render_names[i])(m, &o, sink);
			o.flat = 1;
			o.both_metrics = 1;
			pyi_render_text(m, &o, sink);
		}
	}
	pyi_model_free(m);
	return 0;
}

#ifdef PYI_FUZZ_MAIN
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		static uint8_t buf[1 << 24];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		printf("%s: ok\n", argv[i]);
	}
	return 0;
}
#endif
