/*
 * Unit tests for agent/cpushare: a sample takes about the thread's usual CPU per sample
 * whatever its own gap, never more than is owed, and what it leaves is taken later, so the
 * samples and what is owed at the end add up to the CPU exactly.
 */
#include "agent/cpushare.h"

#include <check.h>
#include <stdint.h>

#define MS 1000000u

/* Feeds gaps to a share; returns the sum taken, leaves what is owed in *owed. */
static uint64_t feed(struct pyi_cpu_share *share, const uint64_t *gaps, int n, uint64_t *owed,
		     uint64_t *took)
{
	uint64_t sum = 0;
	for (int i = 0; i < n; i++) {
		*owed += gaps[i];
		uint64_t t = pyi_cpu_share_take(share, *owed);
		ck_assert_uint_le(t, *owed);
		*owed -= t;
		sum += t;
		if (took)
			took[i] = t;
	}
	return sum;
}

START_TEST(even_gaps_are_taken_whole)
{
	struct pyi_cpu_share share = {0, 0};
	uint64_t gaps[50], took[50], owed = 0;
	for (int i = 0; i < 50; i++)
		gaps[i] = 4 * MS;
	feed(&share, gaps, 50, &owed, took);
	for (int i = 0; i < 50; i++)
		ck_assert_uint_eq(took[i], 4 * MS);
	ck_assert_uint_eq(owed, 0);
}
END_TEST

/* The bias this module exists for: samples alternate between code that follows short gaps
 * and code that follows long ones (1 and 3 ms). Each sample should stand for about the mean
 * (2 ms), not for its own gap, so both get half, within 0.6 points (paying off a sixteenth
 * of the excess a sample, the short ones got 49.2%). */
START_TEST(alternating_gaps_are_evened_out)
{
	struct pyi_cpu_share share = {0, 0};
	uint64_t gaps[400], took[400], owed = 0, after_short = 0, after_long = 0;
	for (int i = 0; i < 400; i++)
		gaps[i] = i % 2 ? 3 * MS : 1 * MS;
	feed(&share, gaps, 400, &owed, took);
	for (int i = 100; i < 400; i++) {
		if (i % 2)
			after_long += took[i];
		else
			after_short += took[i];
	}
	double short_share = (double)after_short / (double)(after_short + after_long);
	ck_assert_double_ge(short_share, 0.494);
	ck_assert_double_le(short_share, 0.506);
	ck_assert_uint_le(owed, 4 * 2 * MS + 3 * MS);
}
END_TEST

/* Gaps from a fixed pseudo-random sequence, with a change of pace half-way: nothing is taken
 * that was not owed, what is owed stays within four means of the latest gap, and the total
 * is exact. */
START_TEST(totals_stay_exact_and_what_is_owed_stays_bounded)
{
	struct pyi_cpu_share share = {0, 0};
	uint64_t x = 88172645463325252ull, owed = 0, total = 0, taken = 0;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t gap = (i < 10000 ? 100000u : 5 * MS) + x % (8 * MS);
		total += gap;
		owed += gap;
		uint64_t mean_before = share.mean ? share.mean : gap;
		uint64_t t = pyi_cpu_share_take(&share, owed);
		ck_assert_uint_le(t, owed);
		owed -= t;
		taken += t;
		ck_assert_uint_eq(share.carry, owed);
		ck_assert_uint_le(owed, 4 * mean_before);
	}
	ck_assert_uint_eq(taken + owed, total);
}
END_TEST

/* CPU credited elsewhere between samples (a waking) is not counted as the thread's usual
 * CPU per sample: the mean follows what the samples themselves had to share. */
START_TEST(credit_elsewhere_does_not_raise_the_mean)
{
	struct pyi_cpu_share share = {0, 0};
	uint64_t owed = 0;
	for (int i = 0; i < 200; i++) {
		owed += 3 * MS;
		owed -= MS; /* a third of each gap was credited to a waiting stack */
		owed -= pyi_cpu_share_take(&share, owed);
	}
	ck_assert_uint_ge(share.mean, 2 * MS - MS / 50);
	ck_assert_uint_le(share.mean, 2 * MS + MS / 50);
	pyi_cpu_share_settle(&share);
	ck_assert_uint_eq(share.carry, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpushare");
	TCase *tc = tcase_create("take");
	tcase_add_test(tc, even_gaps_are_taken_whole);
	tcase_add_test(tc, alternating_gaps_are_evened_out);
	tcase_add_test(tc, totals_stay_exact_and_what_is_owed_stays_bounded);
	tcase_add_test(tc, credit_elsewhere_does_not_raise_the_mean);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
