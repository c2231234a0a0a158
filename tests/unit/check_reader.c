/*
 * check_reader: report/reader.c on damaged input. A truncated file is read up to its last
 * complete record at every possible cut; each kind of corruption is an error naming the file
 * and the byte offset; unknown records are skipped; random damage never crashes the reader.
 * Fixtures live in tests/assets/ (made by tests/assets/make_fixtures.py).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/format.h"
#include "common/recbuf.h"
#include "report/model.h"
#include "report/reader.h"

struct count {
	uint64_t samples, frames, codes, threads, infos, counters, ends;
	uint64_t checksum;
};

static int c_info(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	(void)k, (void)kl, (void)v, (void)vl;
	((struct count *)ctx)->infos++;
	return 0;
}

static int c_code(void *ctx, uint32_t id, int32_t line, const char *q, size_t ql, const char *f,
		  size_t fl)
{
	(void)id, (void)line, (void)q, (void)ql, (void)f, (void)fl;
	((struct count *)ctx)->codes++;
	return 0;
}

static int c_thread(void *ctx, uint32_t id, uint64_t tid, const char *n, size_t nl)
{
	(void)id, (void)tid, (void)n, (void)nl;
	((struct count *)ctx)->threads++;
	return 0;
}

static int c_sample(void *ctx, const struct pyi_rd_sample *s)
{
	struct count *c = ctx;
	c->samples++;
	c->frames += s->depth;
	c->checksum = c->checksum * 31 + s->time_ns + s->thread_id;
	for (uint16_t i = 0; i < s->depth; i++)
		c->checksum = c->checksum * 131 + s->frames[i].code_id * 7 + (uint32_t)s->frames[i].line;
	return 0;
}

static int c_counters(void *ctx, const struct pyi_rd_counter *k, size_t n)
{
	(void)k, (void)n;
	((struct count *)ctx)->counters++;
	return 0;
}

static int c_end(void *ctx, uint64_t t, uint32_t r)
{
	(void)t, (void)r;
	((struct count *)ctx)->ends++;
	return 0;
}

static struct pyi_rd_callbacks counting(struct count *c)
{
	memset(c, 0, sizeof(*c));
	return (struct pyi_rd_callbacks){ c, NULL, c_info, c_code, c_thread, c_sample, c_counters,
					  c_end };
}

/* A small profile of every record type; ends[] gets the end offset of each record. */
static size_t small_profile(struct pyi_recbuf *b, size_t *ends, size_t cap)
{
	size_t n = 0;
	struct pyi_fmt_frame fr[3] = { { 3, 30 }, { 2, 20 }, { 1, 10 } };
	struct pyi_fmt_counter c[] = { { "samples", 4 } };
	pyi_recbuf_init(b);
	ck_assert_int_eq(pyi_recbuf_file_header(b, 9, 1), 0);
#define REC(call)                                       \
	do {                                            \
		ck_assert_int_eq(call, 0);              \
		ck_assert_uint_lt(n, cap);              \
		ends[n++] = b->len;                     \
	} while (0)
	REC(pyi_recbuf_info(b, "python_version", "3.12.1", 6));
	REC(pyi_recbuf_thread(b, 1, 9, "MainThread", 10));
	REC(pyi_recbuf_code(b, 1, 1, "<module>", 8, "app.py", 6));
	REC(pyi_recbuf_code(b, 2, 5, "main", 4, "app.py", 6));
	REC(pyi_recbuf_code(b, 3, 9, "work", 4, "app.py", 6));
	REC(pyi_recbuf_sample(b, 1, 1000, 1000, 1000, 0, fr, 3));
	REC(pyi_recbuf_sample(b, 1, 2000, 1000, 0, PYI_SAMPLE_REPEAT, NULL, 0));
	REC(pyi_recbuf_sample(b, 1, 3000, 1000, 1000, 0, fr + 1, 2));
	REC(pyi_recbuf_thread(b, 2, 10, "", 0));
	REC(pyi_recbuf_sample(b, 2, 4000, 1000, 1000, 0, fr, 3));
	REC(pyi_recbuf_counters(b, c, 1));
	REC(pyi_recbuf_end(b, 5000, 0));
#undef REC
	return n;
}

START_TEST(truncated_file_at_every_length_keeps_its_complete_records)
{
	struct pyi_recbuf b;
	size_t ends[32];
	size_t nrec = small_profile(&b, ends, 32);
	for (size_t len = 0; len <= b.len; len++) {
		/* An exact-size copy, so a sanitizer sees any read past the end. */
		unsigned char *copy = malloc(len ? len : 1);
		memcpy(copy, b.data, len);
		struct count c;
		struct pyi_rd_callbacks cb = counting(&c);
		struct pyi_rd_result res;
		int rc = pyi_reader_read_mem(copy, len, "cut.prof", &cb, &res);
		if (len == 0) {
			ck_assert_int_eq(rc, PYI_RD_EBADFILE);
			ck_assert_str_eq(res.error, "cut.prof: empty file, not a pyinstr profile");
			free(copy);
			continue;
		}
		ck_assert_msg(rc == 0, "cut at %zu: %s", len, res.error);
		size_t complete = 0;
		while (complete < nrec && ends[complete] <= len)
			complete++;
		ck_assert_uint_eq(res.records, complete);
		int at_boundary = len == PYI_FMT_HEADER_SIZE || (complete && ends[complete - 1] == len);
		ck_assert_msg(res.truncated == !at_boundary, "cut at %zu: truncated=%d", len,
			      res.truncated);
		ck_assert_uint_eq(res.valid_bytes,
				  complete ? ends[complete - 1]
					   : (len >= PYI_FMT_HEADER_SIZE ? PYI_FMT_HEADER_SIZE : 0));
		/* Samples are records 5, 6, 7 and 9 (0-based); only complete ones arrive. */
		uint64_t samples = (complete > 5) + (complete > 6) + (complete > 7) + (complete > 9);
		ck_assert_uint_eq(c.samples, samples);
		ck_assert_uint_eq(c.ends, complete == nrec);

		/* The model keeps the same complete samples. */
		struct pyi_model *m = pyi_model_new();
		ck_assert_int_eq(pyi_model_add_mem(m, copy, len, "cut.prof"), 0);
		ck_assert_int_eq(pyi_model_load(m), 0);
		ck_assert_uint_eq(m->total.samples, samples);
		ck_assert_int_eq(m->files[0].result.truncated, res.truncated);
		pyi_model_free(m);
		free(copy);
	}
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(truncation_warning_says_how_many_records_were_kept)
{
	struct pyi_rd_result res = { .records = 7, .truncated = 1 };
	char msg[256];
	pyi_reader_truncation_warning(&res, "out.prof", msg, sizeof(msg));
	ck_assert_str_eq(msg, "out.prof: truncated after 7 records (the process was killed?); "
			      "showing what was written");
}
END_TEST

static const char *asset(const char *name)
{
	static char path[4096];
	const char *root = getenv("PYI_TEST_ROOT");
	snprintf(path, sizeof(path), "%s/tests/assets/%s", root ? root : ".", name);
	return path;
}

/* Reads a fixture through a file descriptor, as the CLI does. */
static int read_asset(const char *name, struct count *c, struct pyi_rd_result *res)
{
	int fd = open(asset(name), O_RDONLY);
	ck_assert_msg(fd >= 0, "cannot open %s (set PYI_TEST_ROOT to the repository)", asset(name));
	struct pyi_rd_callbacks cb = counting(c);
	int rc = pyi_reader_read_fd(fd, name, &cb, res);
	close(fd);
	return rc;
}

static const struct {
	const char *file;
	const char *message;
} corrupt[] = {
	{ "bad-magic.bin", "bad-magic.bin: not a pyinstr profile" },
	{ "future-major.bin", "future-major.bin: format version 2 is newer than this "
			      "pyinstr-report (it reads version 1)" },
	{ "record-over-1mib.bin", "record-over-1mib.bin: corrupt SAMPLE record at byte 32: "
				  "length 1048577 is over 1 MiB" },
	{ "sample-unknown-thread.bin", "sample-unknown-thread.bin: corrupt SAMPLE record at "
				       "byte 84: thread 5 is not defined" },
	{ "sample-unknown-code.bin", "sample-unknown-code.bin: corrupt SAMPLE record at byte 84: "
				     "frame 1 uses code id 9, which is not defined" },
	{ "sample-depth-mismatch.bin", "sample-depth-mismatch.bin: corrupt SAMPLE record at "
				       "byte 180: depth 3 does not match length 48" },
	{ "code-lengths-mismatch.bin", "code-lengths-mismatch.bin: corrupt CODE record at byte "
				       "32: qualname length 50 runs past the record" },
	{ "code-defined-twice.bin", "code-defined-twice.bin: corrupt CODE record at byte 62: "
				    "code id 1 is defined twice" },
};

START_TEST(corrupt_file_is_an_error_naming_file_and_offset)
{
	struct count c;
	struct pyi_rd_result res;
	int rc = read_asset(corrupt[_i].file, &c, &res);
	ck_assert_int_eq(rc, PYI_RD_EBADFILE);
	ck_assert_str_eq(res.error, corrupt[_i].message);
}
END_TEST

START_TEST(unknown_record_type_is_skipped)
{
	struct count c;
	struct pyi_rd_result res;
	ck_assert_int_eq(read_asset("unknown-record.bin", &c, &res), 0);
	ck_assert_uint_eq(res.skipped, 1);
	ck_assert_int_eq(res.truncated, 0);
	ck_assert_uint_eq(c.samples, 2);
	ck_assert_uint_eq(c.ends, 1);
}
END_TEST

START_TEST(truncated_fixture_reads_up_to_its_last_complete_record)
{
	struct count c;
	struct pyi_rd_result res;
	ck_assert_int_eq(read_asset("truncated-tail.bin", &c, &res), 0);
	ck_assert_int_eq(res.truncated, 1);
	ck_assert_uint_eq(res.records, 4);
	ck_assert_uint_eq(c.samples, 1);
}
END_TEST

START_TEST(header_prefix_is_a_truncated_file)
{
	unsigned char h[PYI_FMT_HEADER_SIZE];
	pyi_fmt_file_header(h, 1, 2);
	struct pyi_rd_result res;
	ck_assert_int_eq(pyi_reader_read_mem(h, 5, "p", NULL, &res), 0);
	ck_assert_int_eq(res.truncated, 1);
	ck_assert_int_eq(pyi_reader_read_mem(h, sizeof(h), "p", NULL, &res), 0);
	ck_assert_int_eq(res.truncated, 0);
	ck_assert_uint_eq(res.records, 0);
	/* A prefix that already disagrees with the magic is not a profile. */
	ck_assert_int_eq(pyi_reader_read_mem("PYX", 3, "p", NULL, &res), PYI_RD_EBADFILE);
}
END_TEST

START_TEST(larger_header_of_a_later_minor_is_skipped)
{
	unsigned char f[64] = { 0 };
	pyi_fmt_file_header(f, 1, 2);
	pyi_put_u16(f + 10, 7);	 /* minor 7 */
	pyi_put_u32(f + 12, 40); /* header grew by 8 bytes */
	memset(f + 32, 0xee, 8);
	pyi_fmt_record_header(f + 40, PYI_REC_END, 12);
	struct count c;
	struct pyi_rd_callbacks cb = counting(&c);
	struct pyi_rd_result res;
	ck_assert_int_eq(pyi_reader_read_mem(f, 60, "p", &cb, &res), 0);
	ck_assert_uint_eq(c.ends, 1);
	ck_assert_int_eq(res.truncated, 0);
	/* A header size smaller than the header itself is corrupt. */
	pyi_put_u32(f + 12, 16);
	ck_assert_int_eq(pyi_reader_read_mem(f, 60, "p", &cb, &res), PYI_RD_EBADFILE);
}
END_TEST

START_TEST(repeat_without_an_earlier_sample_is_an_empty_stack)
{
	struct pyi_recbuf b;
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 1, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 1, 1, 1, 0, PYI_SAMPLE_REPEAT, NULL, 0), 0);
	struct count c;
	struct pyi_rd_callbacks cb = counting(&c);
	struct pyi_rd_result res;
	ck_assert_int_eq(pyi_reader_read_mem(b.data, b.len, "p", &cb, &res), 0);
	ck_assert_uint_eq(c.samples, 1);
	ck_assert_uint_eq(c.frames, 0);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(repeat_with_frames_is_corrupt)
{
	struct pyi_recbuf b;
	struct pyi_fmt_frame fr = { 0, 1 };
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 1, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_sample(&b, 1, 1, 1, 0, PYI_SAMPLE_REPEAT, &fr, 1), 0);
	struct pyi_rd_result res;
	ck_assert_int_eq(pyi_reader_read_mem(b.data, b.len, "p", NULL, &res), PYI_RD_EBADFILE);
	ck_assert_str_eq(res.error, "p: corrupt SAMPLE record at byte 54: a REPEAT sample has "
				    "depth 1");
	pyi_recbuf_release(&b);
}
END_TEST

static int stop_at_second(void *ctx, const struct pyi_rd_sample *s)
{
	(void)s;
	return ++*(int *)ctx == 2 ? 42 : 0;
}

START_TEST(a_callback_error_stops_the_read)
{
	struct pyi_recbuf b;
	size_t ends[32];
	small_profile(&b, ends, 32);
	int calls = 0;
	struct pyi_rd_callbacks cb = { .ctx = &calls, .sample = stop_at_second };
	struct pyi_rd_result res;
	ck_assert_int_eq(pyi_reader_read_mem(b.data, b.len, "p", &cb, &res), 42);
	ck_assert_int_eq(calls, 2);
	pyi_recbuf_release(&b);
}
END_TEST

/* A profile larger than the reader's 4 MiB window, deep samples straddling window ends. */
static void large_profile(struct pyi_recbuf *b)
{
	pyi_recbuf_init(b);
	ck_assert_int_eq(pyi_recbuf_file_header(b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_thread(b, 1, 1, "", 0), 0);
	for (uint32_t i = 1; i <= 50; i++)
		ck_assert_int_eq(pyi_recbuf_code(b, i, (int32_t)i, "f", 1, "f.py", 4), 0);
	static struct pyi_fmt_frame fr[3000];
	for (int s = 0; s < 800; s++) {
		uint16_t depth = (uint16_t)(1 + (s * 7919) % 3000);
		for (uint16_t i = 0; i < depth; i++)
			fr[i] = (struct pyi_fmt_frame){ 1 + (uint32_t)(i + s) % 50, s % 3 };
		ck_assert_int_eq(pyi_recbuf_sample(b, 1, (uint64_t)s, 1, 1, 0, fr, depth), 0);
	}
	ck_assert_uint_gt(b->len, 8u << 20);
}

static void expect_same_as_memory(const struct pyi_recbuf *b, int fd)
{
	struct count cm, cf;
	struct pyi_rd_callbacks cbm = counting(&cm), cbf = counting(&cf);
	struct pyi_rd_result rm, rf;
	ck_assert_int_eq(pyi_reader_read_mem(b->data, b->len, "m", &cbm, &rm), 0);
	ck_assert_int_eq(pyi_reader_read_fd(fd, "f", &cbf, &rf), 0);
	ck_assert_uint_eq(cm.samples, 800);
	ck_assert_uint_eq(cf.samples, 800);
	ck_assert_uint_eq(cf.frames, cm.frames);
	ck_assert_uint_eq(cf.checksum, cm.checksum);
	ck_assert_uint_eq(rf.valid_bytes, b->len);
	ck_assert_int_eq(rf.truncated, 0);
}

/* A regular file is mapped: the result is what reading memory gives. */
START_TEST(reading_a_regular_file_gives_what_reading_memory_gives)
{
	struct pyi_recbuf b;
	large_profile(&b);
	char path[] = "/tmp/check_reader_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	expect_same_as_memory(&b, fd);
	close(fd);
	pyi_recbuf_release(&b);
}
END_TEST

/* A pipe goes through the read window, records straddling its refills. */
START_TEST(reading_a_pipe_gives_what_reading_memory_gives)
{
	struct pyi_recbuf b;
	large_profile(&b);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(p[0]);
		/* Odd-sized writes, so refills end in the middle of records. */
		for (size_t at = 0; at < b.len;) {
			size_t n = b.len - at < 99991 ? b.len - at : 99991;
			ssize_t w = write(p[1], b.data + at, n);
			if (w <= 0)
				_exit(1);
			at += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	expect_same_as_memory(&b, p[0]);
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(status, 0);
	pyi_recbuf_release(&b);
}
END_TEST

static uint64_t rng = 88172645463325252ull;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/*
 * Random damage (flipped bytes, huge lengths, cut tails) to a valid profile: the reader either
 * succeeds or reports an error, and never reads outside its input. The fuzzer in tests/fuzz/
 * does this at scale; this keeps a quick version in every `make check`.
 */
START_TEST(random_damage_never_crashes_the_reader)
{
	struct pyi_recbuf b;
	size_t ends[32];
	small_profile(&b, ends, 32);
	unsigned char *copy = malloc(b.len);
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(copy, b.data, b.len);
		int edits = 1 + (int)(next_rand() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = next_rand() % b.len;
			switch (next_rand() % 3) {
			case 0:
				copy[at] ^= (unsigned char)(1u << (next_rand() % 8));
				break;
			case 1:
				copy[at] = (unsigned char)next_rand();
				break;
			default:
				copy[at] = 0xff;
				break;
			}
		}
		size_t len = next_rand() % 4 ? b.len : next_rand() % b.len;
		struct count c;
		struct pyi_rd_callbacks cb = counting(&c);
		struct pyi_rd_result res;
		int rc = pyi_reader_read_mem(copy, len, "fuzz", &cb, &res);
		ck_assert(rc == 0 || rc == PYI_RD_EBADFILE);
		if (rc)
			ck_assert_ptr_nonnull(strstr(res.error, "fuzz: "));
		struct pyi_model *m = pyi_model_new();
		ck_assert_int_eq(pyi_model_add_mem(m, copy, len, "fuzz"), 0);
		ck_assert_int_eq(pyi_model_load(m), rc);
		pyi_model_free(m);
	}
	free(copy);
	pyi_recbuf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader");
	TCase *tc = tcase_create("reader");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, truncated_file_at_every_length_keeps_its_complete_records);
	tcase_add_test(tc, truncation_warning_says_how_many_records_were_kept);
	tcase_add_loop_test(tc, corrupt_file_is_an_error_naming_file_and_offset, 0,
			    (int)(sizeof(corrupt) / sizeof(corrupt[0])));
	tcase_add_test(tc, unknown_record_type_is_skipped);
	tcase_add_test(tc, truncated_fixture_reads_up_to_its_last_complete_record);
	tcase_add_test(tc, header_prefix_is_a_truncated_file);
	tcase_add_test(tc, larger_header_of_a_later_minor_is_skipped);
	tcase_add_test(tc, repeat_without_an_earlier_sample_is_an_empty_stack);
	tcase_add_test(tc, repeat_with_frames_is_corrupt);
	tcase_add_test(tc, a_callback_error_stops_the_read);
	tcase_add_test(tc, reading_a_regular_file_gives_what_reading_memory_gives);
	tcase_add_test(tc, reading_a_pipe_gives_what_reading_memory_gives);
	tcase_add_test(tc, random_damage_never_crashes_the_reader);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
