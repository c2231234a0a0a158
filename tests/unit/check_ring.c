/*
 * Unit tests for agent/ring: order, wrap-around, overflow accounting, and many signal-handler
 * producers racing one consumer.
 */
#include "agent/ring.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Reserves len bytes, fills them with byte, commits. Fails the test if the ring is full. */
static void push(struct pyi_ring *r, uint32_t len, unsigned char byte)
{
	unsigned char *p = pyi_ring_reserve_sigsafe(r, len);

	ck_assert_ptr_nonnull(p);
	memset(p, byte, len);
	pyi_ring_commit_sigsafe(r, p);
}

/* Peeks the next record, checks its length and contents, pops it. */
static void expect_pop(struct pyi_ring *r, uint32_t len, unsigned char byte)
{
	uint32_t got_len = UINT32_MAX;
	const unsigned char *p = pyi_ring_peek(r, &got_len);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(got_len, len);
	ck_assert_uint_eq((uintptr_t)p % 8, 0);
	for (uint32_t i = 0; i < len; i++) {
		if (p[i] != byte)
			ck_abort_msg("byte %u of %u is %#x, not %#x", i, len, p[i], byte);
	}
	pyi_ring_pop(r);
}

static void expect_empty(struct pyi_ring *r)
{
	uint32_t len;

	ck_assert_ptr_null(pyi_ring_peek(r, &len));
}

START_TEST(ring_rounds_capacity_up_to_a_power_of_two)
{
	static const struct {
		size_t asked, got;
	} cases[] = { { 0, 4096 }, { 1, 4096 }, { 4096, 4096 }, { 4097, 8192 },
		      { 5000, 8192 }, { 1 << 20, 1 << 20 }, { (1 << 20) + 1, 1 << 21 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pyi_ring r;

		ck_assert_int_eq(pyi_ring_init(&r, cases[i].asked), 0);
		ck_assert_uint_eq(r.capacity, cases[i].got);
		ck_assert_uint_eq(pyi_ring_max_record(&r), cases[i].got / 2 - 8);
		ck_assert_uint_eq(pyi_ring_dropped(&r), 0);
		pyi_ring_release(&r);
	}
}
END_TEST

START_TEST(ring_returns_records_in_reservation_order)
{
	struct pyi_ring r;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	expect_empty(&r);
	push(&r, 0, 0);
	push(&r, 5, 0xa5);
	push(&r, 64, 0x11);
	push(&r, 13, 0xff);
	expect_pop(&r, 0, 0);
	expect_pop(&r, 5, 0xa5);
	expect_pop(&r, 64, 0x11);
	expect_pop(&r, 13, 0xff);
	expect_empty(&r);
	ck_assert_uint_eq(atomic_load(&r.head), atomic_load(&r.tail));
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_consumer_waits_for_an_earlier_uncommitted_record)
{
	struct pyi_ring r;
	unsigned char *a, *b;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	a = pyi_ring_reserve_sigsafe(&r, 24);
	b = pyi_ring_reserve_sigsafe(&r, 8);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	memset(b, 2, 8);
	pyi_ring_commit_sigsafe(&r, b);
	expect_empty(&r); /* b is complete, but a comes first and is not */
	memset(a, 1, 24);
	pyi_ring_commit_sigsafe(&r, a);
	expect_pop(&r, 24, 1);
	expect_pop(&r, 8, 2);
	expect_empty(&r);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_peek_without_pop_returns_the_same_record)
{
	struct pyi_ring r;
	const void *first, *again;
	uint32_t len1, len2;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	push(&r, 40, 7);
	push(&r, 16, 8);
	first = pyi_ring_peek(&r, &len1);
	again = pyi_ring_peek(&r, &len2);
	ck_assert_ptr_eq(first, again);
	ck_assert_uint_eq(len1, 40);
	ck_assert_uint_eq(len2, 40);
	pyi_ring_pop(&r);
	expect_pop(&r, 16, 8);
	pyi_ring_pop(&r); /* a pop with nothing peeked changes nothing */
	expect_empty(&r);
	ck_assert_uint_eq(atomic_load(&r.head), atomic_load(&r.tail));
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_wraps_around_with_a_padding_record)
{
	struct pyi_ring r;
	unsigned char *p;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	/* Move head to 16 bytes before the end: 3 records of 1352 payload + 8 header = 4080. */
	for (int i = 0; i < 3; i++) {
		push(&r, 1352, (unsigned char)i);
		expect_pop(&r, 1352, (unsigned char)i);
	}
	ck_assert_uint_eq(atomic_load(&r.head), 4080);
	/* 100 bytes do not fit in the last 16: 16 bytes of padding, then the record at offset 0. */
	p = pyi_ring_reserve_sigsafe(&r, 100);
	ck_assert_ptr_eq(p, r.buf + 8);
	ck_assert_uint_eq(atomic_load(&r.head), 4096 + 8 + 104);
	memset(p, 0x5a, 100);
	pyi_ring_commit_sigsafe(&r, p);
	expect_pop(&r, 100, 0x5a);
	expect_empty(&r);
	ck_assert_uint_eq(atomic_load(&r.tail), atomic_load(&r.head));
	ck_assert_uint_eq(pyi_ring_dropped(&r), 0);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_keeps_records_intact_across_many_wraps)
{
	struct pyi_ring r;
	uint32_t lens[] = { 0, 1, 7, 8, 9, 100, 333, 1000, 2040 };
	size_t n = sizeof(lens) / sizeof(lens[0]);

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	/* Two records in flight at a time, lengths cycling, so every alignment meets the end. */
	for (unsigned i = 0; i < 5000; i++) {
		uint32_t a = lens[i % n], b = lens[(i * 7 + 3) % n];

		if (a + b + 16 + 14 > 4096 / 2)
			b = 0;
		push(&r, a, (unsigned char)i);
		push(&r, b, (unsigned char)(i + 1));
		expect_pop(&r, a, (unsigned char)i);
		expect_pop(&r, b, (unsigned char)(i + 1));
	}
	expect_empty(&r);
	ck_assert_uint_gt(atomic_load(&r.head), 100 * 4096);
	ck_assert_uint_eq(pyi_ring_dropped(&r), 0);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_fits_the_largest_record_wherever_head_stands)
{
	for (size_t off = 0; off < 4096; off += 8) {
		struct pyi_ring r;
		uint32_t max;

		ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
		max = (uint32_t)pyi_ring_max_record(&r);
		for (size_t k = 0; k < off; k += 8) {
			push(&r, 0, 0);
			expect_pop(&r, 0, 0);
		}
		push(&r, max, 0x3c);
		expect_pop(&r, max, 0x3c);
		ck_assert_uint_eq(pyi_ring_dropped(&r), 0);
		pyi_ring_release(&r);
	}
}
END_TEST

START_TEST(ring_drops_and_counts_when_full)
{
	struct pyi_ring r;
	int fitted = 0;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	/* Each 100-byte record takes 8 + 104 bytes: 36 fit in 4096, the 37th does not. */
	while (pyi_ring_reserve_sigsafe(&r, 100) != NULL)
		fitted++;
	ck_assert_int_eq(fitted, 36);
	ck_assert_uint_eq(pyi_ring_dropped(&r), 1);
	ck_assert_ptr_null(pyi_ring_reserve_sigsafe(&r, 100));
	ck_assert_uint_eq(pyi_ring_dropped(&r), 2);
	/* A small record still fits in the 64 bytes left at the end. */
	ck_assert_ptr_nonnull(pyi_ring_reserve_sigsafe(&r, 56));
	ck_assert_ptr_null(pyi_ring_reserve_sigsafe(&r, 0));
	ck_assert_uint_eq(pyi_ring_dropped(&r), 3);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_accepts_again_once_the_consumer_frees_space)
{
	struct pyi_ring r;
	unsigned char *p;
	int fitted = 0;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	while ((p = pyi_ring_reserve_sigsafe(&r, 100)) != NULL) {
		memset(p, fitted, 100);
		pyi_ring_commit_sigsafe(&r, p);
		fitted++;
	}
	ck_assert_uint_eq(pyi_ring_dropped(&r), 1);
	expect_pop(&r, 100, 0);
	/* 112 bytes came free at the start: exactly the 64 of padding at the end plus 112. */
	p = pyi_ring_reserve_sigsafe(&r, 100);
	ck_assert_ptr_eq(p, r.buf + 8);
	memset(p, 0xee, 100);
	pyi_ring_commit_sigsafe(&r, p);
	ck_assert_ptr_null(pyi_ring_reserve_sigsafe(&r, 0));
	ck_assert_uint_eq(pyi_ring_dropped(&r), 2);
	expect_pop(&r, 100, 1);
	for (int i = 2; i < fitted; i++)
		expect_pop(&r, 100, (unsigned char)i);
	expect_pop(&r, 100, 0xee);
	expect_empty(&r);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_refuses_a_record_larger_than_its_maximum_and_counts_it)
{
	struct pyi_ring r;
	uint32_t max;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	max = (uint32_t)pyi_ring_max_record(&r);
	ck_assert_ptr_null(pyi_ring_reserve_sigsafe(&r, max + 1));
	ck_assert_ptr_null(pyi_ring_reserve_sigsafe(&r, 4096));
	ck_assert_ptr_null(pyi_ring_reserve_sigsafe(&r, UINT32_MAX));
	ck_assert_uint_eq(pyi_ring_dropped(&r), 3);
	ck_assert_uint_eq(atomic_load(&r.head), 0);
	push(&r, max, 1);
	expect_pop(&r, max, 1);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_never_mistakes_old_payload_for_a_header)
{
	struct pyi_ring r;
	unsigned char *p;

	ck_assert_int_eq(pyi_ring_init(&r, 4096), 0);
	/* Fill the first half with bytes that read as committed header words if left behind. */
	push(&r, 2040, 0xff);
	expect_pop(&r, 2040, 0xff);
	push(&r, 2040, 0x01);
	expect_pop(&r, 2040, 0x01);
	/* Back at offset 0; the next header lands at offset 16, inside the old 0xff payload. */
	push(&r, 8, 0x02);
	expect_pop(&r, 8, 0x02);
	expect_empty(&r); /* the word at offset 16 was 0xff..., a "committed padding" header */
	p = pyi_ring_reserve_sigsafe(&r, 32);
	ck_assert_ptr_eq(p, r.buf + 16 + 8);
	expect_empty(&r);
	memset(p, 0x03, 32);
	pyi_ring_commit_sigsafe(&r, p);
	expect_pop(&r, 32, 0x03);
	expect_empty(&r);
	pyi_ring_release(&r);
}
END_TEST

/*
 * Concurrency: several threads, each with its own fast POSIX timer aimed at it
 * (SIGEV_THREAD_ID), push sequence-numbered records from the signal handler; one more thread
 * pushes from ordinary code and is interrupted by its own timer mid-record; one consumer drains,
 * pausing now and then so the ring fills. Each producer id counts its attempts and failures.
 */
enum { SIG_THREADS = 4, LOOP_ID = SIG_THREADS, LOOP_SIG_ID = SIG_THREADS + 1,
       PRODUCERS = SIG_THREADS + 2 };

struct producer_stats {
	_Atomic uint64_t attempted;
	_Atomic uint64_t failed;
	uint32_t next_seq; /* only its own producer touches it */
};

struct rec_head {
	uint32_t producer;
	uint32_t seq;
	uint64_t checksum;
};

static struct pyi_ring race_ring;
static struct producer_stats stats[PRODUCERS];
static atomic_int stop_producers;
static atomic_int producers_done;
static int race_signal;

static uint32_t body_len(uint32_t producer, uint32_t seq)
{
	return (seq * 13 + producer * 5) % 241;
}

static unsigned char body_byte(uint32_t producer, uint32_t seq, uint32_t k)
{
	return (unsigned char)(producer * 31 + seq * 7 + k);
}

static uint64_t checksum(uint32_t producer, uint32_t seq, const unsigned char *body, uint32_t len)
{
	uint64_t h = 1469598103934665603u ^ ((uint64_t)producer << 32 | seq);

	for (uint32_t k = 0; k < len; k++)
		h = (h ^ body[k]) * 1099511628211u;
	return h;
}

/* Called from handlers too: only atomics and plain stores. */
static void produce(uint32_t id)
{
	struct producer_stats *s = &stats[id];
	uint32_t seq = s->next_seq++;
	uint32_t len = body_len(id, seq);
	unsigned char *p;
	struct rec_head h;

	atomic_fetch_add_explicit(&s->attempted, 1, memory_order_relaxed);
	p = pyi_ring_reserve_sigsafe(&race_ring, (uint32_t)sizeof(h) + len);
	if (!p) {
		atomic_fetch_add_explicit(&s->failed, 1, memory_order_relaxed);
		return;
	}
	for (uint32_t k = 0; k < len; k++)
		p[sizeof(h) + k] = body_byte(id, seq, k);
	h.producer = id;
	h.seq = seq;
	h.checksum = checksum(id, seq, p + sizeof(h), len);
	memcpy(p, &h, sizeof(h));
	pyi_ring_commit_sigsafe(&race_ring, p);
}

static void on_tick(int sig, siginfo_t *info, void *uc)
{
	int saved = errno;

	(void)sig;
	(void)uc;
	produce((uint32_t)info->si_value.sival_int);
	errno = saved;
}

/* glibc before 2.41 spells the SIGEV_THREAD_ID target only through the union member. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static timer_t arm_timer_for_this_thread(int id)
{
	struct sigevent sev;
	struct itimerspec its = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
	timer_t t;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = race_signal;
	sev.sigev_value.sival_int = id;
	sev.sigev_notify_thread_id = gettid();
	ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, &sev, &t), 0);
	ck_assert_int_eq(timer_settime(t, 0, &its, NULL), 0);
	return t;
}

static void disarm(timer_t t)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, race_signal);
	/* Block first: a tick already queued must not run after the thread stops counting. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	timer_delete(t);
}

static void *signal_producer(void *arg)
{
	timer_t t = arm_timer_for_this_thread((int)(intptr_t)arg);
	volatile uint64_t spin = 0;

	while (!atomic_load_explicit(&stop_producers, memory_order_relaxed))
		spin++;
	disarm(t);
	return NULL;
}

static void *loop_producer(void *arg)
{
	timer_t t = arm_timer_for_this_thread(LOOP_SIG_ID);

	(void)arg;
	while (!atomic_load_explicit(&stop_producers, memory_order_relaxed)) {
		/* Paced, so that this producer does not crowd out the signal-driven ones. */
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		produce(LOOP_ID);
	}
	disarm(t);
	return NULL;
}

struct consumer_result {
	uint64_t read[PRODUCERS];
	uint64_t bad;
};

static void *consumer(void *arg)
{
	struct consumer_result *res = arg;
	int64_t last[PRODUCERS];
	uint64_t total = 0;

	for (int i = 0; i < PRODUCERS; i++)
		last[i] = -1;
	for (;;) {
		uint32_t len;
		const unsigned char *p = pyi_ring_peek(&race_ring, &len);
		struct rec_head h;

		if (!p) {
			if (atomic_load(&producers_done) && !pyi_ring_peek(&race_ring, &len))
				break;
			continue;
		}
		memcpy(&h, p, sizeof(h));
		if (len < sizeof(h) || h.producer >= PRODUCERS ||
		    len != sizeof(h) + body_len(h.producer, h.seq) ||
		    h.checksum != checksum(h.producer, h.seq, p + sizeof(h),
					   len - (uint32_t)sizeof(h)) ||
		    (int64_t)h.seq <= last[h.producer]) {
			res->bad++;
		} else {
			last[h.producer] = h.seq;
			res->read[h.producer]++;
		}
		pyi_ring_pop(&race_ring);
		/* Fall behind now and then so producers meet a full ring. */
		if (++total % 2000 == 0) {
			struct timespec pause = { 0, 2 * 1000 * 1000 };
			nanosleep(&pause, NULL);
		}
	}
	return NULL;
}

/* Pages of [at, at + len) that are present in memory. */
static int pages_present(const unsigned char *at, size_t len)
{
	unsigned char vec[64];
	int n = 0;

	ck_assert_uint_le(len / 4096, sizeof(vec));
	ck_assert_int_eq(mincore((void *)at, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

START_TEST(ring_prepares_pages_ahead_of_head_without_touching_records)
{
	struct pyi_ring r;

	ck_assert_int_eq(pyi_ring_init(&r, 64 << 10), 0);
	ck_assert_int_eq(pages_present(r.buf, r.capacity), 0);
	push(&r, 100, 0xab);
	pyi_ring_prepare(&r, 16 << 10);
	if (r.pages.refused) {
		/* Before Linux 5.14 there is nothing to do; say so rather than pass quietly. */
		fprintf(stderr, "ring prepare: MADV_POPULATE_WRITE unsupported here, skipped\n");
		pyi_ring_release(&r);
		return;
	}
	/* head (112) plus 16 KiB, rounded up to a page: five pages, and nothing further. */
	ck_assert_int_eq(pages_present(r.buf, r.capacity), 5);
	ck_assert_int_eq(pages_present(r.buf, 5 * 4096), 5);
	expect_pop(&r, 100, 0xab);
	/* Once the producers have been through the whole ring there is nothing left to do. */
	for (int i = 0; i < 40; i++) {
		push(&r, 4000, (unsigned char)i);
		expect_pop(&r, 4000, (unsigned char)i);
	}
	pyi_ring_prepare(&r, 16 << 10);
	ck_assert_uint_eq(r.pages.done, r.capacity);
	pyi_ring_release(&r);
}
END_TEST

START_TEST(ring_keeps_every_record_intact_under_signal_producers)
{
	pthread_t prod[SIG_THREADS], loop, cons;
	struct consumer_result res;
	struct sigaction sa;
	sigset_t set, old;
	struct timespec run = { 0, 800 * 1000 * 1000 };
	uint64_t attempted = 0, failed = 0, read = 0;

	race_signal = SIGRTMIN + 1;
	memset(&res, 0, sizeof(res));
	memset(stats, 0, sizeof(stats));
	ck_assert_int_eq(pyi_ring_init(&race_ring, 16384), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_tick;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(race_signal, &sa, NULL), 0);

	/* The consumer and this thread never take the signal; producers unblock it. */
	sigemptyset(&set);
	sigaddset(&set, race_signal);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ck_assert_int_eq(pthread_create(&cons, NULL, consumer, &res), 0);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (intptr_t i = 0; i < SIG_THREADS; i++)
		ck_assert_int_eq(pthread_create(&prod[i], NULL, signal_producer, (void *)i), 0);
	ck_assert_int_eq(pthread_create(&loop, NULL, loop_producer, NULL), 0);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	nanosleep(&run, NULL);
	atomic_store(&stop_producers, 1);
	for (int i = 0; i < SIG_THREADS; i++)
		pthread_join(prod[i], NULL);
	pthread_join(loop, NULL);
	atomic_store(&producers_done, 1);
	pthread_join(cons, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	ck_assert_uint_eq(res.bad, 0);
	for (int i = 0; i < PRODUCERS; i++) {
		uint64_t a = atomic_load(&stats[i].attempted), f = atomic_load(&stats[i].failed);

		ck_assert_msg(a > 0, "producer %d never ran", i);
		ck_assert_uint_eq(res.read[i] + f, a);
		attempted += a;
		failed += f;
		read += res.read[i];
	}
	ck_assert_uint_eq(read + pyi_ring_dropped(&race_ring), attempted);
	ck_assert_uint_eq(failed, pyi_ring_dropped(&race_ring));
	ck_assert_msg(read > 1000, "only %llu records went through", (unsigned long long)read);
	ck_assert_msg(failed > 0, "the ring never filled, so overflow was not exercised");
	ck_assert_uint_eq(atomic_load(&race_ring.head), atomic_load(&race_ring.tail));
	pyi_ring_release(&race_ring);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *basic = tcase_create("basic");
	TCase *race = tcase_create("race");

	tcase_add_test(basic, ring_rounds_capacity_up_to_a_power_of_two);
	tcase_add_test(basic, ring_returns_records_in_reservation_order);
	tcase_add_test(basic, ring_consumer_waits_for_an_earlier_uncommitted_record);
	tcase_add_test(basic, ring_peek_without_pop_returns_the_same_record);
	tcase_add_test(basic, ring_wraps_around_with_a_padding_record);
	tcase_add_test(basic, ring_keeps_records_intact_across_many_wraps);
	tcase_add_test(basic, ring_fits_the_largest_record_wherever_head_stands);
	tcase_add_test(basic, ring_drops_and_counts_when_full);
	tcase_add_test(basic, ring_accepts_again_once_the_consumer_frees_space);
	tcase_add_test(basic, ring_refuses_a_record_larger_than_its_maximum_and_counts_it);
	tcase_add_test(basic, ring_never_mistakes_old_payload_for_a_header);
	tcase_add_test(basic, ring_prepares_pages_ahead_of_head_without_touching_records);
	suite_add_tcase(s, basic);
	tcase_add_test(race, ring_keeps_every_record_intact_under_signal_producers);
	tcase_set_timeout(race, 60);
	suite_add_tcase(s, race);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
