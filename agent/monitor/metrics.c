/* The latency monitor's /metrics (metrics.h): cumulative over sessions, so a
 * scrape between sessions still shows what they saw. */
#include "monitor/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "monitor/session.h"
#include "prom.h"

/* Prometheus buckets (seconds) of meshcut_monitor_request_seconds */
static const double prom_le[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
				 0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25,
				 0.5,     1,        2.5,     5,      10};
#define PROM_NB (sizeof(prom_le) / sizeof(prom_le[0]))

struct prom_hist {
	uint64_t b[PROM_NB]; /* not cumulative: cumulated when printed */
	uint64_t count;
	double sum;
};

static struct {
	pthread_mutex_t lock; /* sessions' threads vs scrapes */
	struct prom_hist prom[MC_CATS + 1];
	uint64_t requests, incomplete, events, dropped, unregistered;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

void mc_monitor_metrics_request(void *ctx, const struct mc_request_result *r)
{
	double v[MC_CATS + 1];
	int k;
	size_t b;

	(void)ctx;
	for (k = 0; k < MC_CATS; k++)
		v[k] = (double)r->cat_ns[k] / 1e9;
	v[MC_CATS] = (double)(r->end_ns - r->start_ns) / 1e9;
	pthread_mutex_lock(&P.lock);
	P.requests++;
	for (k = 0; k <= MC_CATS; k++) {
		struct prom_hist *h = &P.prom[k];

		h->count++;
		h->sum += v[k];
		for (b = 0; b < PROM_NB; b++) {
			if (v[k] <= prom_le[b]) {
				h->b[b]++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&P.lock);
}

void mc_monitor_metrics_session(uint64_t incomplete, uint64_t events, uint64_t dropped,
				uint64_t unregistered)
{
	pthread_mutex_lock(&P.lock);
	P.incomplete += incomplete;
	P.events += events;
	P.dropped += dropped;
	P.unregistered += unregistered;
	pthread_mutex_unlock(&P.lock);
}

char *mc_monitor_metrics_text(struct mc_agent *a)
{
	char *out = NULL;
	size_t len = 0;
	FILE *b = open_memstream(&out, &len); /* grows as needed */
	char labels[64];
	bool running;
	int k;
	size_t i;

	if (!b)
		return NULL;
	(void)a;
	running = mc_monitor_running();
	pthread_mutex_lock(&P.lock);
	mc_prom_one(b, "meshcut_monitor_running", "gauge",
		    "A latency monitor session runs (its BPF programs are loaded).", running);
	mc_prom_family(b, "meshcut_monitor_request_seconds", "histogram",
		       "Requests seen by latency monitor sessions: per request, the time of each "
		       "category (total: end to end).");
	for (k = 0; k <= MC_CATS; k++) {
		const struct prom_hist *h = &P.prom[k];
		const char *name = mc_cat_name((enum mc_cat)k);
		uint64_t cum = 0;

		for (i = 0; i < PROM_NB; i++) {
			cum += h->b[i];
			snprintf(labels, sizeof(labels), "category=\"%s\",le=\"%g\"", name, prom_le[i]);
			mc_prom_u64(b, "meshcut_monitor_request_seconds_bucket", labels, cum);
		}
		snprintf(labels, sizeof(labels), "category=\"%s\",le=\"+Inf\"", name);
		mc_prom_u64(b, "meshcut_monitor_request_seconds_bucket", labels, h->count);
		snprintf(labels, sizeof(labels), "category=\"%s\"", name);
		mc_prom_f64(b, "meshcut_monitor_request_seconds_sum", labels, h->sum);
		mc_prom_u64(b, "meshcut_monitor_request_seconds_count", labels, h->count);
	}
	mc_prom_one(b, "meshcut_monitor_incomplete_total", "counter",
		    "Requests whose path could not be rebuilt.", P.incomplete);
	mc_prom_one(b, "meshcut_monitor_events_total", "counter",
		    "Socket events recorded by latency monitor sessions.", P.events);
	mc_prom_one(b, "meshcut_monitor_events_dropped_total", "counter",
		    "Events lost (ring buffer full).", P.dropped);
	pthread_mutex_unlock(&P.lock);
	if (fclose(b)) {
		free(out);
		return NULL;
	}
	return out;
}
