/* The latency monitor's histograms: fixed size, so a session's memory does
 * not grow with the number of requests it sees. */
#ifndef MESHCUT_AGENT_MONITOR_HIST_H
#define MESHCUT_AGENT_MONITOR_HIST_H

#include <stdint.h>

/* log-linear: exact below 32 ns, then 32 buckets per power of two (~3%), up to 2^40 ns */
#define MC_HIST_SUB 32
#define MC_HIST_BUCKETS ((40 - 4) * MC_HIST_SUB)

struct mc_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t b[MC_HIST_BUCKETS];
};

void mc_hist_add(struct mc_hist *h, uint64_t ns);
double mc_hist_mean_ns(const struct mc_hist *h);
/* p in [0, 100]; the middle of the bucket holding that rank */
uint64_t mc_hist_percentile(const struct mc_hist *h, double p);

#endif
