/* The latency monitor's histograms (hist.h). */
#include "monitor/hist.h"

static unsigned hist_index(uint64_t v)
{
	unsigned e, idx;

	if (v < MC_HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= 5 */
	idx = (e - 4) * MC_HIST_SUB + (unsigned)((v >> (e - 5)) & (MC_HIST_SUB - 1));
	return idx < MC_HIST_BUCKETS ? idx : MC_HIST_BUCKETS - 1;
}

/* [lo, hi) of a bucket */
static void hist_bounds(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	unsigned e, sub;

	if (idx < MC_HIST_SUB) {
		*lo = idx;
		*hi = idx + 1;
		return;
	}
	e = idx / MC_HIST_SUB + 4;
	sub = idx % MC_HIST_SUB;
	*lo = (uint64_t)(MC_HIST_SUB + sub) << (e - 5);
	*hi = (uint64_t)(MC_HIST_SUB + sub + 1) << (e - 5);
}

void mc_hist_add(struct mc_hist *h, uint64_t ns)
{
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->b[hist_index(ns)]++;
}

double mc_hist_mean_ns(const struct mc_hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}

uint64_t mc_hist_percentile(const struct mc_hist *h, double p)
{
	uint64_t rank, seen = 0, lo, hi;
	unsigned i;

	if (!h->count)
		return 0;
	if (p <= 0)
		p = 0;
	rank = (uint64_t)((p / 100.0) * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < MC_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			hist_bounds(i, &lo, &hi);
			if (hi - lo <= 1)
				return lo;
			lo = lo + (hi - lo) / 2;
			return lo > h->max_ns ? h->max_ns : lo;
		}
	}
	return h->max_ns;
}
