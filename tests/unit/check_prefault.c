/*
 * Unit tests for agent/prefault and the intern table's use of it: pages are made present up
 * to where asked and no further, what they hold is never changed, and the intern table is
 * present whole while its arena is present only ahead of use.
 */
#include "agent/intern.h"
#include "agent/prefault.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE 4096u

/* Pages of [at, at + len) present in memory. */
static size_t pages_present(const void *at, size_t len)
{
	size_t pages = (len + PAGE - 1) / PAGE, n = 0;
	unsigned char *vec = calloc(pages, 1);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)at, len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

static unsigned char *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

/* Before Linux 5.14 there is nothing to test: say so rather than pass quietly. */
static int unsupported(const struct pyi_prefault *p)
{
	if (p->refused)
		fprintf(stderr, "prefault: MADV_POPULATE_WRITE unsupported here, skipped\n");
	return p->refused;
}

START_TEST(prefault_makes_pages_present_up_to_where_asked_and_keeps_their_bytes)
{
	unsigned char *buf = map(16 * PAGE);
	struct pyi_prefault p;

	buf[PAGE + 7] = 0x5a; /* a page a producer wrote already */
	pyi_prefault_init(&p, buf, 16 * PAGE);
	pyi_prefault_upto(&p, 3 * PAGE + 1);
	if (unsupported(&p))
		goto out;
	ck_assert_uint_eq(pages_present(buf, 16 * PAGE), 4);
	ck_assert_uint_eq(pages_present(buf, 4 * PAGE), 4);
	ck_assert_uint_eq(buf[PAGE + 7], 0x5a);
	ck_assert_uint_eq(buf[0], 0);
	ck_assert(!pyi_prefault_finished(&p));
	/* Asking for less than is done does nothing; past the end stops at the end. */
	pyi_prefault_upto(&p, PAGE);
	ck_assert_uint_eq(p.done, 4 * PAGE);
	pyi_prefault_upto(&p, 100 * PAGE);
	ck_assert_uint_eq(p.done, 16 * PAGE);
	ck_assert_uint_eq(pages_present(buf, 16 * PAGE), 16);
	ck_assert(pyi_prefault_finished(&p));
	pyi_prefault_forget(&p);
	ck_assert(!pyi_prefault_finished(&p));
	ck_assert_uint_eq(p.done, 0);
out:
	munmap(buf, 16 * PAGE);
}
END_TEST

START_TEST(intern_prepare_makes_the_whole_table_and_the_arena_ahead_present)
{
	struct pyi_intern t;
	size_t table_bytes, arena_bytes = 64 * PAGE;

	ck_assert_int_eq(pyi_intern_init(&t, 1024, arena_bytes), 0);
	table_bytes = (size_t)(t.mask + 1) * sizeof(*t.entries);
	ck_assert_uint_eq(pages_present(t.entries, table_bytes), 0);
	ck_assert_uint_eq(pages_present(t.arena, arena_bytes), 0);
	pyi_intern_prepare(&t, 4 * PAGE);
	if (unsupported(&t.table_pages)) {
		pyi_intern_release(&t);
		return;
	}
	ck_assert_uint_eq(pages_present(t.entries, table_bytes), (table_bytes + PAGE - 1) / PAGE);
	ck_assert_uint_eq(pages_present(t.arena, arena_bytes), 4);
	/* As the arena fills, the pages ahead of it follow. */
	atomic_store(&t.arena_used, 10 * PAGE + 100);
	pyi_intern_prepare(&t, 4 * PAGE);
	ck_assert_uint_eq(pages_present(t.arena, arena_bytes), 15);
	/* A full arena (used may run past its end) stops at its end. */
	atomic_store(&t.arena_used, arena_bytes + 1000);
	pyi_intern_prepare(&t, 4 * PAGE);
	ck_assert_uint_eq(pages_present(t.arena, arena_bytes), 64);
	pyi_intern_release(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prefault");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, prefault_makes_pages_present_up_to_where_asked_and_keeps_their_bytes);
	tcase_add_test(tc, intern_prepare_makes_the_whole_table_and_the_arena_ahead_present);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
