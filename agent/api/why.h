/*
 * "Why is this pod not accelerated?": what the agent remembers and reports
 * for `meshcut why` (agent/cli/why.c).
 *
 * Refusals: the agent keeps the last MC_REFUSALS_MAX refused registrations
 * (pod name and namespace when the request said them, its IPs, the caller's
 * netns cookie, the HTTP status and the reason it answered), one entry per
 * caller's network namespace (a pod that retries updates its entry and its
 * count; a pod cannot push others out by making up names), the oldest given
 * way when the table is full. A successful registration from that namespace
 * forgets its refusal. Only in memory: a restarted agent
 * remembers none (the pod's termination message still says it). Served to an
 * admin (GET /v1/refusals): they name other pods.
 *
 * Live pairs of a pod: its slots in the pair table (mc_pairs) whose
 * connection the pod's network namespace opened (id.client_netns): its
 * outbound pairs (app <-> its sidecar), its inbound pairs (its sidecar <->
 * its app) and the sidecar-to-sidecar pairs it opened (node pairs it serves
 * are charged to their client). The datapath counts fallbacks to TCP per pair
 * kind for the whole node only, not per pod.
 */
#ifndef MESHCUT_AGENT_WHY_H
#define MESHCUT_AGENT_WHY_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <linux/types.h>

#include "sock_shortcut.h" /* MC_KIND_* */

struct mc_pair;

#define MC_REFUSALS_MAX 64

struct mc_refusal {
	uint64_t seq;   /* 0: free; larger: more recent */
	uint64_t netns; /* the caller's netns cookie (0: unknown) */
	char key[320];  /* "namespace/name", "" when the request did not say it */
	char ips[2][48];
	int status;
	char reason[320];
	time_t at;      /* CLOCK_REALTIME seconds, latest */
	uint32_t count; /* refusals folded into this entry */
};

struct mc_refusals {
	pthread_mutex_t lock;
	uint64_t seq;
	struct mc_refusal e[MC_REFUSALS_MAX];
};

void mc_refusals_init(struct mc_refusals *t);
/* key may be NULL or ""; ip4/ip6 NULL or "" when unknown */
void mc_refusals_add(struct mc_refusals *t, const char *key, const char *ip4, const char *ip6,
		     uint64_t netns, int status, const char *reason, time_t now);
/* that pod registered: forget its refusals (same key, or same netns; the
 * agent passes only the netns: a name is a label anybody may give) */
void mc_refusals_forget(struct mc_refusals *t, const char *key, uint64_t netns);
/* newest first: [{"pod", "ips", "netns_cookie", "status", "reason", "at", "count"}] */
json_t *mc_refusals_json(struct mc_refusals *t);

/* The entries of a GET /v1/pods list that match pod ("namespace/name") or ip
 * (any spelling mc_parse_ip takes); both NULL: all. Steals list. NULL with a
 * message in err for an ip that is not one. */
json_t *mc_why_filter(json_t *list, const char *pod, const char *ip, char *err, size_t errlen);

/* {"outbound"|"node_local"|"inbound": {"pairs", "waiting", "redirected", "tcp"}} for
 * the pairs netns opened: pairs = both ends joined, waiting = one end only;
 * redirected / tcp = directions (two per pair) on the shortcut / on TCP */
json_t *mc_why_pairs(const struct mc_pair *pairs, uint32_t n, uint64_t netns);

/* the same counts, per pair kind: [kind][MC_TALLY_*], of the pairs netns
 * opened, or (netns 0) of every pair on the node (/metrics) */
enum { MC_TALLY_JOINED, MC_TALLY_WAITING, MC_TALLY_REDIRECTED, MC_TALLY_TCP, MC_TALLY_N };
void mc_pairs_tally(const struct mc_pair *pairs, uint32_t n, uint64_t netns,
		    uint32_t c[MC_KIND_MAX][MC_TALLY_N]);

#endif
