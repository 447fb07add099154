/* load_hist: log-linear latency histogram (see load_hist.h). */
#include "load_hist.h"

#include <string.h>

void load_hist_init(struct load_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

/* Lowest microsecond of bucket i. */
static uint64_t low_us(size_t i)
{
	if (i < LOAD_HIST_LINEAR)
		return i;
	size_t k = i - LOAD_HIST_LINEAR;
	unsigned e = LOAD_HIST_FIRST_EXP + (unsigned)(k / LOAD_HIST_SUB);
	uint64_t sub = k % LOAD_HIST_SUB;
	return (LOAD_HIST_SUB + sub) << (e - LOAD_HIST_SUB_BITS);
}

uint64_t load_hist_bucket_low(size_t i)
{
	return low_us(i) * 1000;
}

uint64_t load_hist_bucket_high(size_t i)
{
	if (i + 1 >= LOAD_HIST_BUCKETS)
		return UINT64_MAX;
	return low_us(i + 1) * 1000 - 1; /* buckets are contiguous */
}

void load_hist_merge(struct load_hist *dst, const struct load_hist *src)
{
	for (size_t i = 0; i < LOAD_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t load_hist_percentile(const struct load_hist *h, double p)
{
	if (!h->count)
		return 0;
	if (p <= 0)
		return h->min_ns;
	if (p >= 100)
		return h->max_ns;

	/* rank = ceil(p% of count), without libm and without 99.9 * 1000 / 100
	 * (= 999.0000000000001 in binary) becoming 1000. */
	double x = p / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)x;
	if ((double)rank < x * (1 - 1e-12))
		rank++;
	if (rank < 1)
		rank = 1;

	uint64_t seen = 0;
	for (size_t i = 0; i < LOAD_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = load_hist_bucket_high(i);
			return v < h->min_ns ? h->min_ns : v > h->max_ns ? h->max_ns : v;
		}
	}
	return h->max_ns; /* not reached: the buckets add up to count */
}

double load_hist_mean_ns(const struct load_hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0;
}
