/* Unit tests of tests/apps/load_hist: meshload's latency histogram. The
 * promise under test (load_hist.h): a percentile is never below the true
 * nearest-rank value and at most one bucket above it (< 1 us below 1024 us,
 * < 0.79 % above), min, max and mean are exact, and merging per-thread
 * histograms gives what one histogram of all the values would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../apps/load_hist.h"

#define US 1000ull
#define MS (1000ull * US)
#define S (1000ull * MS)

static struct load_hist *new_hist(void)
{
	struct load_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	load_hist_init(h);
	return h;
}

/* The documented bound: the bucket of v holds v and is at most 1 us wide
 * below 1024 us, at most 1/128 of its lowest value above. */
static uint64_t allowed(uint64_t v)
{
	return v < 1024 * US ? US - 1 : v / 128;
}

static void assert_close_above(uint64_t got, uint64_t want)
{
	if (got < want || got - want > allowed(want))
		fail_msg("got %llu ns for a true value of %llu ns (allowed +%llu)",
			 (unsigned long long)got, (unsigned long long)want,
			 (unsigned long long)allowed(want));
}

/* Nearest rank of sorted v[0..n): the smallest value with p % at or below. */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double p)
{
	size_t rank = 1;
	while ((double)rank * 100.0 < p * (double)n * (1 - 1e-12))
		rank++;
	return v[rank - 1];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void test_empty(void **state)
{
	struct load_hist *h = new_hist();
	(void)state;

	assert_int_equal(h->count, 0);
	assert_int_equal(load_hist_percentile(h, 50), 0);
	assert_int_equal(load_hist_percentile(h, 100), 0);
	assert_true(load_hist_mean_ns(h) == 0.0);
	free(h);
}

/* One value: every percentile is that value exactly (clamped to min/max). */
static void test_single(void **state)
{
	struct load_hist *h = new_hist();
	(void)state;

	load_hist_record(h, 12345678);
	assert_int_equal(h->count, 1);
	assert_int_equal(h->min_ns, 12345678);
	assert_int_equal(h->max_ns, 12345678);
	assert_int_equal(load_hist_percentile(h, 0), 12345678);
	assert_int_equal(load_hist_percentile(h, 50), 12345678);
	assert_int_equal(load_hist_percentile(h, 99.9), 12345678);
	assert_int_equal(load_hist_percentile(h, 100), 12345678);
	assert_true(load_hist_mean_ns(h) == 12345678.0);
	free(h);
}

/* Buckets tile the value range without gaps and keep the documented width. */
static void test_buckets(void **state)
{
	(void)state;

	assert_int_equal(LOAD_HIST_BUCKETS, 3840);
	assert_int_equal(load_hist_bucket_low(0), 0);
	for (size_t i = 0; i + 1 < LOAD_HIST_BUCKETS; i++) {
		uint64_t lo = load_hist_bucket_low(i), hi = load_hist_bucket_high(i);
		assert_true(hi >= lo);
		assert_int_equal(hi + 1, load_hist_bucket_low(i + 1));
		assert_true(hi - lo <= allowed(lo));
		assert_int_equal(load_hist_index(lo), i);
		assert_int_equal(load_hist_index(hi), i);
	}
	assert_int_equal(load_hist_bucket_high(LOAD_HIST_BUCKETS - 1), UINT64_MAX);

	/* 1-us resolution up to 1 ms, then relative */
	assert_int_equal(load_hist_index(0), 0);
	assert_int_equal(load_hist_index(999), 0);
	assert_int_equal(load_hist_index(1000), 1);
	assert_int_equal(load_hist_index(1023 * US + 999), 1023);
	assert_int_equal(load_hist_index(1024 * US), 1024);
	assert_int_equal(load_hist_index(1032 * US - 1), 1024); /* 8-us buckets from 1024 us */
	assert_int_equal(load_hist_index(1032 * US), 1025);

	/* 60 s (and an hour) still have their own buckets; from 2^32 us it is the last */
	assert_true(load_hist_index(60 * S) < LOAD_HIST_BUCKETS - 1);
	assert_true(load_hist_index(3600 * S) < LOAD_HIST_BUCKETS - 1);
	assert_int_equal(load_hist_index((1ull << 32) * US), LOAD_HIST_BUCKETS - 1);
	assert_int_equal(load_hist_index(UINT64_MAX), LOAD_HIST_BUCKETS - 1);
}

/* 1..1000 us: the nearest ranks are known, the answer is within 1 us above. */
static void test_linear_percentiles(void **state)
{
	struct load_hist *h = new_hist();
	(void)state;

	for (uint64_t v = 1000; v >= 1; v--) /* order does not matter */
		load_hist_record(h, v * US);
	assert_int_equal(h->count, 1000);
	assert_close_above(load_hist_percentile(h, 50), 500 * US);
	assert_close_above(load_hist_percentile(h, 90), 900 * US);
	assert_close_above(load_hist_percentile(h, 99), 990 * US);
	assert_close_above(load_hist_percentile(h, 99.9), 999 * US); /* not 1000: rank 999 */
	assert_int_equal(load_hist_percentile(h, 100), 1000 * US);
	assert_int_equal(load_hist_percentile(h, 0), 1 * US);
	/* The bucket's highest value, 500.999 us: documented rounding up. */
	assert_int_equal(load_hist_percentile(h, 50), 500 * US + 999);
	/* mean of 1..1000 us = 500.5 us, exactly */
	assert_true(load_hist_mean_ns(h) == 500500.0);
	free(h);
}

/* Two clusters: 90 fast, 10 slow. p50 and p90 in the first, p99 in the second. */
static void test_bimodal(void **state)
{
	struct load_hist *h = new_hist();
	(void)state;

	for (int i = 0; i < 90; i++)
		load_hist_record(h, 40 * US + 300);
	for (int i = 0; i < 10; i++)
		load_hist_record(h, 2 * MS + 123456);
	assert_close_above(load_hist_percentile(h, 50), 40 * US + 300);
	assert_close_above(load_hist_percentile(h, 90), 40 * US + 300);
	assert_close_above(load_hist_percentile(h, 90.01), 2 * MS + 123456);
	assert_int_equal(load_hist_percentile(h, 99), 2 * MS + 123456); /* clamped to max */
	assert_int_equal(h->sum_ns, 90 * (40 * US + 300) + 10 * (2 * MS + 123456));
	free(h);
}

/* The mean comes from the exact sum, not from bucket values. */
static void test_mean_exact(void **state)
{
	struct load_hist *h = new_hist();
	(void)state;

	load_hist_record(h, 1);
	load_hist_record(h, 2);
	load_hist_record(h, 60 * S + 7);
	assert_int_equal(h->sum_ns, 60 * S + 10);
	assert_true(load_hist_mean_ns(h) == (double)(60 * S + 10) / 3.0);
	assert_int_equal(h->min_ns, 1);
	assert_int_equal(h->max_ns, 60 * S + 7);
	free(h);
}

/* Random values over nine decades: every percentile within the bound. */
static void test_random_against_sort(void **state)
{
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct load_hist *h = new_hist();
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99 };
	(void)state;

	assert_non_null(v);
	for (size_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* log-uniform from 100 ns to ~100 s: mantissa times a power of two */
		v[i] = (100 + (x & 1023)) << ((x >> 10) % 30);
		load_hist_record(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++)
		assert_close_above(load_hist_percentile(h, ps[k]), exact_percentile(v, N, ps[k]));
	assert_int_equal(load_hist_percentile(h, 100), v[N - 1]);
	assert_int_equal(h->min_ns, v[0]);
	free(v);
	free(h);
}

/* Per-thread histograms merged = one histogram of everything. */
static void test_merge(void **state)
{
	struct load_hist *a = new_hist(), *b = new_hist(), *all = new_hist(), *empty = new_hist();
	(void)state;

	for (uint64_t i = 1; i <= 3000; i++) {
		uint64_t ns = i * i * 37; /* up to 333 ms */
		load_hist_record(i % 3 ? a : b, ns);
		load_hist_record(all, ns);
	}
	load_hist_merge(a, b);
	load_hist_merge(a, empty); /* an idle thread changes nothing, min included */
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->sum_ns, all->sum_ns);
	assert_int_equal(a->min_ns, all->min_ns);
	assert_int_equal(a->max_ns, all->max_ns);
	assert_memory_equal(a->bucket, all->bucket, sizeof(a->bucket));
	assert_int_equal(load_hist_percentile(a, 99), load_hist_percentile(all, 99));

	/* merging into an empty one copies */
	load_hist_merge(empty, all);
	assert_int_equal(empty->min_ns, 37);
	assert_int_equal(load_hist_percentile(empty, 50), load_hist_percentile(all, 50));
	free(a);
	free(b);
	free(all);
	free(empty);
}

/* Above 2^32 us everything shares the last bucket; max and p100 stay exact. */
static void test_overflow(void **state)
{
	struct load_hist *h = new_hist();
	uint64_t huge = (1ull << 33) * US + 5;
	(void)state;

	load_hist_record(h, 10 * US);
	load_hist_record(h, huge);
	assert_int_equal(h->bucket[LOAD_HIST_BUCKETS - 1], 1);
	assert_int_equal(load_hist_percentile(h, 100), huge);
	assert_int_equal(load_hist_percentile(h, 99), huge); /* bucket high clamped to max */
	assert_close_above(load_hist_percentile(h, 50), 10 * US);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_linear_percentiles),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_mean_exact),
		cmocka_unit_test(test_random_against_sort),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
