/*
 * Unit tests for agent/waking: ticks are sorted by how far after a wait they fell, and a
 * wait is credited the share of its estimated cost that the ticks do not reach.
 */
#include "agent/waking.h"

#include <check.h>
#include <stdint.h>

#define US 1000u

static void count_many(struct pyi_waking_ticks *t, uint64_t since_wait, uint64_t cost, int n)
{
	for (int i = 0; i < n; i++)
		pyi_waking_count(t, pyi_waking_window_of(since_wait, cost));
}

START_TEST(ticks_are_sorted_by_cpu_since_the_wait)
{
	ck_assert_int_eq(pyi_waking_window_of(0, 30 * US), PYI_WAKING_EARLY);
	ck_assert_int_eq(pyi_waking_window_of(30 * US - 1, 30 * US), PYI_WAKING_EARLY);
	ck_assert_int_eq(pyi_waking_window_of(30 * US, 30 * US), PYI_WAKING_ELSEWHERE);
	ck_assert_int_eq(pyi_waking_window_of(60 * US - 1, 30 * US), PYI_WAKING_ELSEWHERE);
	ck_assert_int_eq(pyi_waking_window_of(60 * US, 30 * US), PYI_WAKING_LATER);
	ck_assert_int_eq(pyi_waking_window_of(180 * US - 1, 30 * US), PYI_WAKING_LATER);
	ck_assert_int_eq(pyi_waking_window_of(180 * US, 30 * US), PYI_WAKING_ELSEWHERE);
	/* No estimate yet: nothing to compare with. */
	ck_assert_int_eq(pyi_waking_window_of(0, 0), PYI_WAKING_ELSEWHERE);
}
END_TEST

START_TEST(without_evidence_a_wait_gets_the_whole_estimate)
{
	struct pyi_waking_ticks t = {0, 0};
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 30 * US);
	count_many(&t, 1 * US, 30 * US, 20); /* early ticks alone are not enough */
	count_many(&t, 90 * US, 30 * US, 10);
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 30 * US);
}
END_TEST

START_TEST(ticks_that_never_reach_the_waking_leave_it_all_to_the_credit)
{
	struct pyi_waking_ticks t = {0, 0};
	count_many(&t, 100 * US, 30 * US, 200);
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 30 * US);
}
END_TEST

START_TEST(ticks_as_dense_after_a_wait_as_later_leave_nothing)
{
	/* Evenly spread ticks: per unit of CPU as many in the first window as in the later one
	 * (four times as wide). */
	struct pyi_waking_ticks t = {0, 0};
	for (uint64_t since = 0; since < 300 * US; since += US / 2)
		pyi_waking_count(&t, pyi_waking_window_of(since, 30 * US));
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 0);
	/* Denser still (a spike of ticks held back over the wait): still nothing, not less. */
	count_many(&t, 1 * US, 30 * US, 100);
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 0);
}
END_TEST

START_TEST(ticks_at_half_the_usual_density_leave_half)
{
	struct pyi_waking_ticks t = {0, 0};
	count_many(&t, 10 * US, 30 * US, 25);  /* 25 per cost-width */
	count_many(&t, 100 * US, 30 * US, 200); /* 50 per cost-width */
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 15 * US);
}
END_TEST

START_TEST(counts_are_halved_and_follow_a_change)
{
	struct pyi_waking_ticks t = {0, 0};
	/* A phase whose ticks reach the waking, then one whose ticks never do. */
	for (int i = 0; i < 300; i++) {
		count_many(&t, 10 * US, 30 * US, 1);
		count_many(&t, 100 * US, 30 * US, 4);
	}
	ck_assert_uint_eq(pyi_waking_credit(&t, 30 * US), 0);
	for (int i = 0; i < 2000; i++)
		count_many(&t, 100 * US, 30 * US, 1);
	ck_assert_uint_lt(atomic_load(&t.later), 512);
	ck_assert_uint_ge(pyi_waking_credit(&t, 30 * US), 29 * US);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("waking");
	TCase *tc = tcase_create("credit");
	tcase_add_test(tc, ticks_are_sorted_by_cpu_since_the_wait);
	tcase_add_test(tc, without_evidence_a_wait_gets_the_whole_estimate);
	tcase_add_test(tc, ticks_that_never_reach_the_waking_leave_it_all_to_the_credit);
	tcase_add_test(tc, ticks_as_dense_after_a_wait_as_later_leave_nothing);
	tcase_add_test(tc, ticks_at_half_the_usual_density_leave_half);
	tcase_add_test(tc, counts_are_halved_and_follow_a_change);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
