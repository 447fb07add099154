/* load_hist: meshload's latency histogram, log-linear like HdrHistogram.
 *
 * Values are nanoseconds; buckets are microseconds:
 *   below 1024 us       one bucket per microsecond (exact to 1 us)
 *   1024 us .. 2^32 us  each power of two split into 128 buckets, so a bucket
 *                       is at most 1/128 (0.79 %) of the values it holds
 *   from 2^32 us (71 minutes) on: the last bucket (max stays exact)
 * 3840 buckets, 30 KiB. Count, sum, min and max are kept exactly, so the mean
 * and the max are exact; only the percentiles are bucketed.
 *
 * A percentile is the nearest-rank value (the smallest recorded value with at
 * least p % of the samples at or below it) rounded up to the highest value of
 * its bucket, then clamped to [min, max]. So it is never below the true value
 * and at most one bucket width above it: < 1 us below 1024 us, < 0.79 % above.
 *
 * Recording is one shift, one count-leading-zeros and four additions: meant for
 * the request loop. Histograms are not thread-safe: one per thread, merged at
 * the end. */
#ifndef MESHCUT_TESTS_LOAD_HIST_H
#define MESHCUT_TESTS_LOAD_HIST_H

#include <stddef.h>
#include <stdint.h>

#define LOAD_HIST_LINEAR 1024u /* 1-us buckets below this many us */
#define LOAD_HIST_SUB_BITS 7u  /* 2^7 buckets per power of two above */
#define LOAD_HIST_SUB (1u << LOAD_HIST_SUB_BITS)
#define LOAD_HIST_FIRST_EXP 10u /* log2(LOAD_HIST_LINEAR) */
#define LOAD_HIST_LAST_EXP 31u  /* highest power of two with its own buckets */
#define LOAD_HIST_BUCKETS \
	(LOAD_HIST_LINEAR + (LOAD_HIST_LAST_EXP - LOAD_HIST_FIRST_EXP + 1) * LOAD_HIST_SUB)

struct load_hist {
	uint64_t count;
	uint64_t sum_ns; /* exact: 2^64 ns is 584 years of summed latency */
	uint64_t min_ns, max_ns;
	uint64_t bucket[LOAD_HIST_BUCKETS];
};

void load_hist_init(struct load_hist *h);

/* Bucket of a value; the lowest and highest nanosecond value a bucket holds
 * (the last bucket's highest is UINT64_MAX). */
static inline size_t load_hist_index(uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (us < LOAD_HIST_LINEAR)
		return (size_t)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	if (e > LOAD_HIST_LAST_EXP)
		return LOAD_HIST_BUCKETS - 1;
	unsigned sub = (unsigned)(us >> (e - LOAD_HIST_SUB_BITS)) & (LOAD_HIST_SUB - 1);
	return LOAD_HIST_LINEAR + (e - LOAD_HIST_FIRST_EXP) * LOAD_HIST_SUB + sub;
}
uint64_t load_hist_bucket_low(size_t i);
uint64_t load_hist_bucket_high(size_t i);

static inline void load_hist_record(struct load_hist *h, uint64_t ns)
{
	h->bucket[load_hist_index(ns)]++;
	h->count++;
	h->sum_ns += ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* dst += src */
void load_hist_merge(struct load_hist *dst, const struct load_hist *src);

/* Percentile p in [0, 100] in ns as described above; 0 when empty. */
uint64_t load_hist_percentile(const struct load_hist *h, double p);

/* Exact mean in ns (from the sum), 0 when empty. */
double load_hist_mean_ns(const struct load_hist *h);

#endif
