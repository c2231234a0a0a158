/*
 * check_report_model: what report/model.c keeps of a profile. Memory follows distinct stacks,
 * not samples; REPEAT samples take their thread's previous stack; a time range filters;
 * several files share functions but not threads; later THREAD, INFO and COUNTERS records
 * win; a replay delivers exactly the samples the load kept.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/format.h"
#include "common/recbuf.h"
#include "report/model.h"
#include "report/tree.h"

#define MS 1000000ull

static struct pyi_model *load(struct pyi_recbuf *b, size_t n)
{
	struct pyi_model *m = pyi_model_new();
	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(pyi_model_add_mem(m, b[i].data, b[i].len, "mem"), 0);
	ck_assert_msg(pyi_model_load(m) == 0, "%s", m->error);
	return m;
}

/* A file with two threads cycling through three stacks, 1 ms apart. */
static void cycling(struct pyi_recbuf *b, uint32_t pid, uint64_t start, int samples)
{
	struct pyi_fmt_frame a[3] = { { 3, 31 }, { 2, 21 }, { 1, 11 } };
	struct pyi_fmt_frame c[2] = { { 4, 41 }, { 1, 12 } };
	pyi_recbuf_init(b);
	ck_assert_int_eq(pyi_recbuf_file_header(b, pid, start), 0);
	ck_assert_int_eq(pyi_recbuf_code(b, 1, 10, "main", 4, "m.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_code(b, 2, 20, "mid", 3, "m.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_code(b, 3, 30, "leaf", 4, "m.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_code(b, 4, 40, "other", 5, "m.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_thread(b, 1, pid, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_thread(b, 2, pid + 1, "worker", 6), 0);
	for (int i = 0; i < samples; i++) {
		uint32_t t = 1 + (uint32_t)(i % 2);
		uint64_t now = (uint64_t)(i + 1) * MS;
		switch (i % 6) {
		case 0:
		case 1:
			ck_assert_int_eq(pyi_recbuf_sample(b, t, now, MS, MS, 0, a, 3), 0);
			break;
		case 2:
		case 3:
			ck_assert_int_eq(pyi_recbuf_sample(b, t, now, MS, 0, PYI_SAMPLE_REPEAT, NULL,
							   0), 0);
			break;
		default:
			ck_assert_int_eq(pyi_recbuf_sample(b, t, now, MS, MS / 2, 0, c, 2), 0);
			break;
		}
	}
	ck_assert_int_eq(pyi_recbuf_end(b, (uint64_t)(samples + 1) * MS, 0), 0);
}

START_TEST(memory_follows_distinct_stacks_not_samples)
{
	struct pyi_recbuf b;
	cycling(&b, 100, 0, 600000);
	struct pyi_model *m = load(&b, 1);
	ck_assert_uint_eq(m->total.samples, 600000);
	/*
	 * Two threads x two distinct stacks. Trie: the root, main:11 > mid > leaf, and
	 * main:12 > other (main at another line is another node). 4 functions + unknown.
	 */
	ck_assert_uint_eq(m->nstacks, 4);
	ck_assert_uint_eq(m->nnodes, 6);
	ck_assert_uint_eq(m->nfuncs, 5);
	uint64_t sum = 0;
	for (size_t i = 0; i < m->nstacks; i++)
		sum += m->stacks[i].w.samples;
	ck_assert_uint_eq(sum, 600000);
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(repeat_samples_take_the_previous_stack_of_their_thread)
{
	struct pyi_recbuf b;
	cycling(&b, 100, 0, 6);
	struct pyi_model *m = load(&b, 1);
	/* Per thread: samples 0/1 stack a, 2/3 repeat it, 4/5 stack c: a has 2 per thread. */
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pyi_stack *s = &m->stacks[i];
		const struct pyi_node *leaf = &m->nodes[s->leaf];
		if (leaf->depth == 3) {
			ck_assert_uint_eq(s->w.samples, 2);
			ck_assert_uint_eq(s->w.wall_ns, 2 * MS);
			ck_assert_uint_eq(s->w.cpu_ns, MS);
			ck_assert_str_eq(m->funcs[leaf->func].qualname, "leaf");
			ck_assert_int_eq(leaf->line, 31);
		} else {
			ck_assert_uint_eq(leaf->depth, 2);
			ck_assert_uint_eq(s->w.samples, 1);
		}
	}
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(time_range_keeps_samples_inside_it)
{
	struct pyi_recbuf b;
	cycling(&b, 100, 0, 60);
	struct pyi_model *m = pyi_model_new();
	ck_assert_int_eq(pyi_model_add_mem(m, b.data, b.len, "mem"), 0);
	/* Samples are at 1..60 ms: [10 ms, 20 ms) holds 10 of them. */
	pyi_model_set_range(m, 10 * MS, 20 * MS);
	ck_assert_int_eq(pyi_model_load(m), 0);
	ck_assert_uint_eq(m->total.samples, 10);
	ck_assert_uint_eq(m->files[0].samples_read, 60);
	/* Filtered samples still resolve later REPEATs right: weights add up per stack. */
	uint64_t sum = 0;
	for (size_t i = 0; i < m->nstacks; i++)
		sum += m->stacks[i].w.samples;
	ck_assert_uint_eq(sum, 10);
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

START_TEST(files_share_functions_but_not_threads_and_align_on_one_clock)
{
	struct pyi_recbuf b[2];
	cycling(&b[0], 100, 5 * 1000000000ull, 6);
	cycling(&b[1], 200, 7 * 1000000000ull, 6);
	struct pyi_model *m = load(b, 2);
	ck_assert_uint_eq(m->nfiles, 2);
	ck_assert_uint_eq(m->nthreads, 4);
	ck_assert_uint_eq(m->nfuncs, 5);
	ck_assert_uint_eq(m->nnodes, 6);
	ck_assert_uint_eq(m->origin_realtime_ns, 5 * 1000000000ull);
	ck_assert_int_eq(m->threads[0].is_main, 1);
	ck_assert_int_eq(m->threads[1].is_main, 0);
	ck_assert_uint_eq(m->threads[2].file, 1);
	/* The second file's first sample is 2 s after the origin. */
	ck_assert_uint_eq(m->threads[2].first_ns, 2 * 1000000000ull + MS);
	pyi_model_free(m);
	pyi_recbuf_release(&b[0]);
	pyi_recbuf_release(&b[1]);
}
END_TEST

START_TEST(later_records_rename_replace_and_supersede)
{
	struct pyi_recbuf b;
	struct pyi_fmt_counter c1[] = { { "samples", 1 }, { "dropped_ring_full", 5 } };
	struct pyi_fmt_counter c2[] = { { "samples", 2 } };
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 9, 0), 0);
	ck_assert_int_eq(pyi_recbuf_info(&b, "python_version", "3.11.0", 6), 0);
	ck_assert_int_eq(pyi_recbuf_info(&b, "python_version", "3.12.1", 6), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 9, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 9, "MainThread", 10), 0);
	/* An empty name does not erase a known one. */
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 9, "", 0), 0);
	ck_assert_int_eq(pyi_recbuf_counters(&b, c1, 2), 0);
	ck_assert_int_eq(pyi_recbuf_counters(&b, c2, 1), 0);
	struct pyi_model *m = load(&b, 1);
	ck_assert_uint_eq(m->nthreads, 1);
	ck_assert_str_eq(m->threads[0].name, "MainThread");
	ck_assert_str_eq(pyi_model_info(m, 0, "python_version")->value, "3.12.1");
	ck_assert_ptr_null(pyi_model_info(m, 0, "argv"));
	ck_assert_uint_eq(pyi_model_counter(m, 0, "samples"), 2);
	ck_assert_uint_eq(pyi_model_counter(m, 0, "dropped_ring_full"), 0);
	ck_assert_int_eq(m->files[0].ended, 0);
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

struct replay_sum {
	struct pyi_weight w;
	uint64_t last_time;
	int ordered;
};

static int sum_replay(void *ctx, const struct pyi_replay_sample *s)
{
	struct replay_sum *r = ctx;
	r->w.samples++;
	r->w.wall_ns += s->wall_ns;
	r->w.cpu_ns += s->cpu_ns;
	if (s->time_ns < r->last_time)
		r->ordered = 0;
	r->last_time = s->time_ns;
	return 0;
}

START_TEST(replay_delivers_what_load_kept_in_time_order)
{
	struct pyi_recbuf b;
	cycling(&b, 100, 0, 1000);
	struct pyi_model *m = pyi_model_new();
	ck_assert_int_eq(pyi_model_add_mem(m, b.data, b.len, "mem"), 0);
	pyi_model_set_range(m, 100 * MS, 900 * MS);
	ck_assert_int_eq(pyi_model_load(m), 0);
	size_t nodes = m->nnodes;
	struct replay_sum r = { { 0, 0, 0 }, 0, 1 };
	ck_assert_int_eq(pyi_model_replay(m, sum_replay, &r), 0);
	ck_assert_uint_eq(r.w.samples, m->total.samples);
	ck_assert_uint_eq(r.w.wall_ns, m->total.wall_ns);
	ck_assert_uint_eq(r.w.cpu_ns, m->total.cpu_ns);
	ck_assert_int_eq(r.ordered, 1);
	ck_assert_uint_eq(m->nnodes, nodes);
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

/* A tree counts a recursive function once per level and never a sample twice in a node. */
START_TEST(tree_weights_add_up_under_recursion)
{
	struct pyi_recbuf b;
	struct pyi_fmt_frame rec[4] = { { 1, 3 }, { 1, 3 }, { 1, 3 }, { 1, 2 } };
	pyi_recbuf_init(&b);
	ck_assert_int_eq(pyi_recbuf_file_header(&b, 1, 0), 0);
	ck_assert_int_eq(pyi_recbuf_code(&b, 1, 1, "fib", 3, "f.py", 4), 0);
	ck_assert_int_eq(pyi_recbuf_thread(&b, 1, 1, "", 0), 0);
	for (uint16_t d = 1; d <= 4; d++)
		ck_assert_int_eq(pyi_recbuf_sample(&b, 1, d, MS, MS, 0, rec + 4 - d, d), 0);
	struct pyi_model *m = load(&b, 1);
	struct pyi_tree t;
	pyi_tree_init(&t, 0);
	uint32_t all[8];
	for (size_t i = 0; i < m->nstacks; i++)
		all[i] = (uint32_t)i;
	ck_assert_int_eq(pyi_tree_add(&t, m, all, m->nstacks), 0);
	ck_assert_int_eq(pyi_tree_sort(&t, m, PYI_METRIC_WALL), 0);
	/* root -> fib (4) -> fib (3) -> fib (2) -> fib (1), each with self 1. */
	ck_assert_uint_eq(t.n, 5);
	uint32_t n = t.nodes[0].first_child;
	for (uint64_t want = 4; want >= 1; want--) {
		ck_assert_uint_ne(n, 0);
		ck_assert_uint_eq(t.nodes[n].total.samples, want);
		ck_assert_uint_eq(t.nodes[n].self.samples, 1);
		ck_assert_int_eq(t.nodes[n].line, 1); /* by function: the first line */
		n = t.nodes[n].first_child;
	}
	pyi_tree_release(&t);
	/* By line, the top frame (line 2) and the recursive ones (line 3) differ. */
	pyi_tree_init(&t, 1);
	ck_assert_int_eq(pyi_tree_add(&t, m, all, m->nstacks), 0);
	ck_assert_int_eq(t.nodes[t.nodes[0].first_child].line, 2);
	pyi_tree_release(&t);
	pyi_model_free(m);
	pyi_recbuf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_model");
	TCase *tc = tcase_create("model");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, memory_follows_distinct_stacks_not_samples);
	tcase_add_test(tc, repeat_samples_take_the_previous_stack_of_their_thread);
	tcase_add_test(tc, time_range_keeps_samples_inside_it);
	tcase_add_test(tc, files_share_functions_but_not_threads_and_align_on_one_clock);
	tcase_add_test(tc, later_records_rename_replace_and_supersede);
	tcase_add_test(tc, replay_delivers_what_load_kept_in_time_order);
	tcase_add_test(tc, tree_weights_add_up_under_recursion);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
