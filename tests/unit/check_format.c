/*
 * check_format: the profile format as written by common/recbuf.c and read by report/reader.c.
 * The worked example of docs/FORMAT.md is compared byte for byte with what recbuf writes, the
 * bytes being read from the page itself, so the specification and the code cannot drift apart.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format.h"
#include "common/recbuf.h"
#include "report/reader.h"

/* --- a callback sink that records everything the reader delivers ---------------------- */

struct seen {
	struct pyi_rd_header header;
	int headers;
	char info_key[8][64];
	char info_value[8][2048];
	size_t info_value_len[8];
	int infos;
	uint32_t code_id[8];
	int32_t code_line[8];
	char code_q[8][2048], code_f[8][2048];
	size_t code_ql[8], code_fl[8];
	int codes;
	uint32_t thread_id[8];
	uint64_t thread_tid[8];
	char thread_name[8][2048];
	size_t thread_name_len[8];
	int threads;
	struct pyi_rd_sample sample[8];
	struct pyi_fmt_frame frames[8][16];
	int samples;
	char counter_key[16][32];
	uint64_t counter_value[16];
	int counters, counter_records;
	uint64_t end_time;
	uint32_t end_reason;
	int ends;
};

static int on_header(void *ctx, const struct pyi_rd_header *h)
{
	struct seen *s = ctx;
	s->header = *h;
	s->headers++;
	return 0;
}

static int on_info(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct seen *s = ctx;
	ck_assert_int_lt(s->infos, 8);
	memcpy(s->info_key[s->infos], k, kl);
	s->info_key[s->infos][kl] = '\0';
	memcpy(s->info_value[s->infos], v, vl);
	s->info_value_len[s->infos] = vl;
	s->infos++;
	return 0;
}

static int on_code(void *ctx, uint32_t id, int32_t line, const char *q, size_t ql,
		   const char *f, size_t fl)
{
	struct seen *s = ctx;
	int i = s->codes++;
	ck_assert_int_lt(i, 8);
	s->code_id[i] = id;
	s->code_line[i] = line;
	memcpy(s->code_q[i], q, ql);
	memcpy(s->code_f[i], f, fl);
	s->code_ql[i] = ql;
	s->code_fl[i] = fl;
	return 0;
}

static int on_thread(void *ctx, uint32_t id, uint64_t tid, const char *name, size_t len)
{
	struct seen *s = ctx;
	int i = s->threads++;
	ck_assert_int_lt(i, 8);
	s->thread_id[i] = id;
	s->thread_tid[i] = tid;
	memcpy(s->thread_name[i], name, len);
	s->thread_name_len[i] = len;
	return 0;
}

static int on_sample(void *ctx, const struct pyi_rd_sample *smp)
{
	struct seen *s = ctx;
	int i = s->samples++;
	ck_assert_int_lt(i, 8);
	ck_assert_int_le(smp->depth, 16);
	s->sample[i] = *smp;
	memcpy(s->frames[i], smp->frames, smp->depth * sizeof(*smp->frames));
	s->sample[i].frames = s->frames[i];
	return 0;
}

static int on_counters(void *ctx, const struct pyi_rd_counter *c, size_t n)
{
	struct seen *s = ctx;
	s->counter_records++;
	s->counters = (int)n;
	for (size_t i = 0; i < n && i < 16; i++) {
		memcpy(s->counter_key[i], c[i].key, c[i].key_len);
		s->counter_key[i][c[i].key_len] = '\0';
		s->counter_value[i] = c[i].value;
	}
	return 0;
}

static int on_end(void *ctx, uint64_t t, uint32_t reason)
{
	struct seen *s = ctx;
	s->end_time = t;
	s->end_reason = reason;
	s->ends++;
	return 0;
}

static struct seen *read_back(const struct pyi_recbuf *b, struct pyi_rd_result *res)
{
	struct seen *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	struct pyi_rd_callbacks cb = { s, on_header, on_info, on_code, on_thread,
				       on_sample, on_counters, on_end };
	int rc = pyi_reader_read_mem(b->data, b->len, "test.prof", &cb, res);
	ck_assert_msg(rc == 0, "read failed (%d): %s", rc, res->error);
	ck_assert_int_eq(res->truncated, 0);
	return s;
}

/* --- the worked example --------------------------------------------------------------- */

static void build_worked_example(struct pyi_recbuf *b)
{
	struct pyi_fmt_frame fr = { 1, 7 };
	ck_assert_int_eq(pyi_recbuf_file_header(b, 12345, 10000000000ull), 0);
	ck_assert_int_eq(pyi_recbuf_thread(b, 1, 12345, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_code(b, 1, 5, "fib", 3, "a.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_sample(b, 1, 1000, 1000000, 1000000, 0, &fr, 1), 0);
	ck_assert_int_eq(pyi_recbuf_end(b, 2000000, PYI_END_EXIT), 0);
}

/* The same bytes as the page shows them, in case the page cannot be found. */
static const unsigned char worked_example[] = {
	0x50, 0x59, 0x49, 0x4e, 0x53, 0x54, 0x52, 0x1a, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00,
	0x00, 0x00, 0x39, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe4, 0x0b, 0x54,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x00, 0x00, 0x39, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x66, 0x69, 0x62, 0x04, 0x00, 0x61, 0x2e, 0x70, 0x79, 0x04, 0x00, 0x00,
	0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x40, 0x42, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x42, 0x0f,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x80, 0x84, 0x1e,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/*
 * Reads the hex bytes of the worked example from docs/FORMAT.md: the indented lines after the
 * "## Worked example" heading, up to the '|' that starts each line's explanation.
 */
static size_t bytes_from_format_md(unsigned char *out, size_t cap)
{
	const char *root = getenv("PYI_TEST_ROOT");
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/FORMAT.md", root ? root : ".");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (set PYI_TEST_ROOT to the repository)", path);
	char line[512];
	int in_example = 0;
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "## ", 3) == 0)
			in_example = strncmp(line, "## Worked example", 17) == 0;
		if (!in_example || strncmp(line, "    ", 4) != 0 || !strchr(line, '|'))
			continue;
		*strchr(line, '|') = '\0';
		for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
			char *end;
			unsigned long v = strtoul(tok, &end, 16);
			ck_assert_msg(strlen(tok) == 2 && *end == '\0', "bad hex in FORMAT.md: %s",
				      tok);
			ck_assert_uint_lt(n, cap);
			out[n++] = (unsigned char)v;
		}
	}
	fclose(f);
	return n;
}

START_TEST(worked_example_matches_format_md_byte_for_byte)
{
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	build_worked_example(&b);
	unsigned char doc[512];
	size_t n = bytes_from_format_md(doc, sizeof(doc));
	ck_assert_uint_eq(n, 149);
	ck_assert_uint_eq(b.len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(b.data[i] == doc[i], "byte %zu: recbuf wrote %02x, FORMAT.md says %02x",
			      i, b.data[i], doc[i]);
	ck_assert_uint_eq(sizeof(worked_example), n);
	ck_assert_mem_eq(worked_example, doc, n);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(worked_example_reads_back)
{
	struct pyi_rd_result res;
	struct pyi_recbuf b = { (unsigned char *)worked_example, sizeof(worked_example), 0 };
	struct seen *s = read_back(&b, &res);
	ck_assert_int_eq(s->headers, 1);
	ck_assert_uint_eq(s->header.major, 1);
	ck_assert_uint_eq(s->header.minor, 0);
	ck_assert_uint_eq(s->header.pid, 12345);
	ck_assert_uint_eq(s->header.start_realtime_ns, 10000000000ull);
	ck_assert_int_eq(s->threads, 1);
	ck_assert_uint_eq(s->thread_tid[0], 12345);
	ck_assert_int_eq(s->codes, 1);
	ck_assert_int_eq(s->code_line[0], 5);
	ck_assert_mem_eq(s->code_q[0], "fib", 3);
	ck_assert_mem_eq(s->code_f[0], "a.py", 4);
	ck_assert_int_eq(s->samples, 1);
	ck_assert_uint_eq(s->sample[0].time_ns, 1000);
	ck_assert_uint_eq(s->sample[0].wall_ns, 1000000);
	ck_assert_uint_eq(s->sample[0].depth, 1);
	ck_assert_uint_eq(s->frames[0][0].code_id, 1);
	ck_assert_int_eq(s->frames[0][0].line, 7);
	ck_assert_int_eq(s->ends, 1);
	ck_assert_uint_eq(s->end_time, 2000000);
	ck_assert_uint_eq(res.records, 4);
	ck_assert_uint_eq(res.valid_bytes, 149);
	free(s);
}
END_TEST

/* --- every record type ---------------------------------------------------------------- */

START_TEST(every_record_type_round_trips)
{
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	static const char argv[] = "python3\0-c\0pass";
	struct pyi_fmt_frame fr[3] = { { 2, -1 }, { 1, 2147483647 }, { 0, 0 } };
	struct pyi_fmt_counter c[] = { { "samples", 3 }, { "dropped_ring_full", UINT64_MAX } };
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 0xfffffffe, UINT64_MAX), 0);
	ck_assert_int_eq(pyi_recbuf_info(&b, "argv", argv, sizeof(argv)), 0);
	ck_assert_int_eq(pyi_recbuf_info(&b, "python_version", "3.12.1", 6), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 1, -3, "f\n;\xff", 4, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 0xffffffff, 0, "", 0, "x.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 2, 1, "g", 1, "x.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 7, UINT64_MAX, "worker\0x", 8), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 7, 1, 2, 3, PYI_SAMPLE_PARTIAL, fr, 3), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 7, 4, 5, 0, PYI_SAMPLE_REPEAT, NULL, 0), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 7, 6, 7, 8, PYI_SAMPLE_TRUNCATED, fr, 1), 0);
	ck_assert_int_eq(pyi_recbuf_counters(&b, c, 2), 0);
	ck_assert_int_eq(pyi_recbuf_end(&b, 99, PYI_END_API_STOP), 0);

	struct pyi_rd_result res;
	struct seen *s = read_back(&b, &res);
	ck_assert_uint_eq(s->header.pid, 0xfffffffe);
	ck_assert_uint_eq(s->header.start_realtime_ns, UINT64_MAX);
	ck_assert_int_eq(s->infos, 2);
	ck_assert_str_eq(s->info_key[0], "argv");
	ck_assert_uint_eq(s->info_value_len[0], sizeof(argv));
	ck_assert_mem_eq(s->info_value[0], argv, sizeof(argv));
	ck_assert_str_eq(s->info_key[1], "python_version");
	ck_assert_int_eq(s->codes, 3);
	ck_assert_int_eq(s->code_line[0], -3);
	ck_assert_uint_eq(s->code_ql[0], 4);
	ck_assert_mem_eq(s->code_q[0], "f\n;\xff", 4);
	ck_assert_uint_eq(s->code_fl[0], 0);
	ck_assert_uint_eq(s->code_id[1], 0xffffffff);
	ck_assert_uint_eq(s->code_ql[1], 0);
	ck_assert_int_eq(s->threads, 1);
	ck_assert_uint_eq(s->thread_id[0], 7);
	ck_assert_uint_eq(s->thread_tid[0], UINT64_MAX);
	ck_assert_uint_eq(s->thread_name_len[0], 8);
	ck_assert_mem_eq(s->thread_name[0], "worker\0x", 8);

	ck_assert_int_eq(s->samples, 3);
	ck_assert_uint_eq(s->sample[0].thread_id, 7);
	ck_assert_uint_eq(s->sample[0].time_ns, 1);
	ck_assert_uint_eq(s->sample[0].wall_ns, 2);
	ck_assert_uint_eq(s->sample[0].cpu_ns, 3);
	ck_assert_uint_eq(s->sample[0].flags, PYI_SAMPLE_PARTIAL);
	ck_assert_uint_eq(s->sample[0].depth, 3);
	/* The file holds frames leaf first; the reader hands them over root first. */
	ck_assert_uint_eq(s->frames[0][2].code_id, 2);
	ck_assert_int_eq(s->frames[0][2].line, -1);
	ck_assert_int_eq(s->frames[0][1].line, 2147483647);
	ck_assert_uint_eq(s->frames[0][0].code_id, 0);
	/* A REPEAT sample arrives with the previous stack of its thread. */
	ck_assert_uint_eq(s->sample[1].flags, PYI_SAMPLE_REPEAT);
	ck_assert_uint_eq(s->sample[1].depth, 3);
	ck_assert_uint_eq(s->sample[1].same_root, 3);
	ck_assert_mem_eq(s->frames[1], s->frames[0], sizeof(fr));
	ck_assert_uint_eq(s->sample[1].wall_ns, 5);
	ck_assert_uint_eq(s->sample[2].flags, PYI_SAMPLE_TRUNCATED);
	ck_assert_uint_eq(s->sample[2].depth, 1);
	ck_assert_uint_eq(s->sample[2].same_root, 0);
	ck_assert_uint_eq(s->frames[2][0].code_id, 2);

	ck_assert_int_eq(s->counter_records, 1);
	ck_assert_int_eq(s->counters, 2);
	ck_assert_str_eq(s->counter_key[1], "dropped_ring_full");
	ck_assert_uint_eq(s->counter_value[1], UINT64_MAX);
	ck_assert_int_eq(s->ends, 1);
	ck_assert_uint_eq(s->end_time, 99);
	ck_assert_uint_eq(s->end_reason, PYI_END_API_STOP);
	ck_assert_uint_eq(res.records, 11);
	ck_assert_uint_eq(res.skipped, 0);
	free(s);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(names_longer_than_the_cap_are_cut)
{
	static char name[5000];
	memset(name, 'n', sizeof(name));
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 1, 1, name, sizeof(name), name, 1025), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 1, name, 4000), 0);
	struct pyi_rd_result res;
	struct seen *s = read_back(&b, &res);
	ck_assert_uint_eq(s->code_ql[0], PYI_FMT_MAX_NAME);
	ck_assert_uint_eq(s->code_fl[0], PYI_FMT_MAX_NAME);
	ck_assert_uint_eq(s->thread_name_len[0], PYI_FMT_MAX_NAME);
	free(s);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(deepest_sample_fits_one_record)
{
	struct pyi_fmt_frame *fr = calloc(UINT16_MAX, sizeof(*fr));
	ck_assert_ptr_nonnull(fr);
	for (size_t i = 0; i < UINT16_MAX; i++)
		fr[i] = (struct pyi_fmt_frame){ 1, (int32_t)i };
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 1, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 1, 1, "f", 1, "f.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 1, 0, 0, 0, 0, fr, UINT16_MAX), 0);
	struct pyi_rd_result res;
	int rc = pyi_reader_read_mem(b.data, b.len, "deep", NULL, &res);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(res.records, 3);
	free(fr);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(oversized_info_is_refused_and_leaves_the_buffer_unchanged)
{
	size_t big = PYI_FMT_MAX_PAYLOAD;
	char *v = calloc(1, big);
	ck_assert_ptr_nonnull(v);
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_info(&b, "k", v, big), -EINVAL);
	ck_assert_uint_eq(b.len, PYI_FMT_HEADER_SIZE);
	/* The largest value that fits: the payload is exactly 1 MiB. */
	ck_assert_int_eq(pyi_recbuf_info(&b, "k", v, big - 7), 0);
	ck_assert_uint_eq(b.len, PYI_FMT_HEADER_SIZE + 8 + big);
	struct pyi_rd_result res;
	ck_assert_int_eq(pyi_reader_read_mem(b.data, b.len, "big", NULL, &res), 0);
	ck_assert_uint_eq(res.records, 1);
	free(v);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(reset_keeps_memory_and_forgets_contents)
{
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_end(&b, 1, 0), 0);
	unsigned char *data = b.data;
	pyi_recbuf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_int_eq(pyi_recbuf_end(&b, 2, 0), 0);
	ck_assert_uint_eq(b.len, 20);
	pyi_recbuf_release(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(integers_are_little_endian_whatever_the_host)
{
	unsigned char p[8];
	pyi_put_u64(p, 0x0102030405060708ull);
	ck_assert_uint_eq(p[0], 0x08);
	ck_assert_uint_eq(p[7], 0x01);
	ck_assert_uint_eq(pyi_get_u64(p), 0x0102030405060708ull);
	pyi_put_u32(p, 0xa1b2c3d4u);
	ck_assert_uint_eq(p[0], 0xd4);
	ck_assert_uint_eq(pyi_get_u32(p), 0xa1b2c3d4u);
	pyi_put_u16(p, 0xbeef);
	ck_assert_uint_eq(p[0], 0xef);
	ck_assert_uint_eq(pyi_get_u16(p), 0xbeef);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, worked_example_matches_format_md_byte_for_byte);
	tcase_add_test(tc, worked_example_reads_back);
	tcase_add_test(tc, every_record_type_round_trips);
	tcase_add_test(tc, names_longer_than_the_cap_are_cut);
	tcase_add_test(tc, deepest_sample_fits_one_record);
	tcase_add_test(tc, oversized_info_is_refused_and_leaves_the_buffer_unchanged);
	tcase_add_test(tc, reset_keeps_memory_and_forgets_contents);
	tcase_add_test(tc, integers_are_little_endian_whatever_the_host);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
