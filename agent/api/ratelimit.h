/*
 * Input limits of the agent's Unix socket, per caller network namespace (the
 * netns cookie read from the socket: the only identity a caller cannot fake).
 *
 *  - mc_ratelimit: a token bucket per key (burst, then rate per second).
 *    Registration and deregistration take a token; an empty bucket is a 429.
 *  - mc_connlimit: open connections per key, and in total for every key but
 *    the agent's own namespace, so one pod (or a few) trickling bytes slowly
 *    cannot hold every connection slot the API has (libmicrohttpd's timeout is
 *    an idle timeout: a byte every few seconds keeps a connection).
 *
 * Both are fixed-size tables under a mutex, safe from the API's connection
 * threads. struct mc_limits is the agent's pair of them (defaults below),
 * owned by struct mc_agent and used by agent/api/api.c.
 */
#ifndef MESHCUT_AGENT_RATELIMIT_H
#define MESHCUT_AGENT_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_RL_BURST 20       /* registration requests at once, per netns */
#define MC_RL_RATE 5         /* then per second (both: --reg-burst, --reg-rate) */
#define MC_RL_MAX_BURST 10000
#define MC_RL_MAX_TOKENS 1000000 /* per period */
#define MC_RL_MAX_PERIOD 3600    /* s */
#define MC_RL_KEYS 1024      /* namespaces tracked (LRU beyond) */
#define MC_CONN_PER_NETNS 8  /* open API connections per netns */
#define MC_CONN_FOREIGN 48   /* all netns but the agent's own together (of 64) */

struct mc_rl_entry {
	uint64_t key;
	uint64_t last_ns; /* last refill */
	uint64_t units; /* `unit` per token: exact integer refills */
};

struct mc_ratelimit {
	pthread_mutex_t lock;
	uint64_t rate, unit, full; /* tokens per period; the period in ns (= units per
				    * token); a full bucket in units */
	size_t cap, n;
	struct mc_rl_entry *e;
};

/* burst tokens at once, then `tokens` per period_s seconds (1..MC_RL_MAX_PERIOD);
 * 0, or -1 (bad arguments, no memory) */
int mc_ratelimit_init(struct mc_ratelimit *rl, unsigned int tokens, unsigned int period_s,
		      unsigned int burst, size_t keys);
void mc_ratelimit_fini(struct mc_ratelimit *rl);
/* take a token for key at now_ns (CLOCK_MONOTONIC): true when allowed;
 * otherwise false and, if retry_ms, how long until a token is back */
bool mc_ratelimit_take(struct mc_ratelimit *rl, uint64_t key, uint64_t now_ns, uint32_t *retry_ms);

struct mc_conn_entry {
	uint64_t key;
	unsigned int open;
};

struct mc_connlimit {
	pthread_mutex_t lock;
	unsigned int per_key, total_cap, total;
	size_t cap;
	struct mc_conn_entry *e;
};

int mc_connlimit_init(struct mc_connlimit *cl, unsigned int per_key, unsigned int total,
		      size_t keys);
void mc_connlimit_fini(struct mc_connlimit *cl);
/* 0 when key may open one more connection (counted), -1 when over its own
 * limit, -2 when over the total */
int mc_connlimit_enter(struct mc_connlimit *cl, uint64_t key);
void mc_connlimit_leave(struct mc_connlimit *cl, uint64_t key);

/* --- the agent's limits (struct mc_agent's; for agent/api/api.c) --- */

struct mc_limits {
	pthread_mutex_t setup;  /* the tables are set up on first use */
	bool set_up, ready;     /* ready: set up, and with memory for them */
	unsigned int burst, tokens, period_s;
	struct mc_ratelimit requests;
	struct mc_connlimit conns;
};

/* the defaults (MC_RL_BURST, MC_RL_RATE per second); nothing allocated yet */
void mc_limits_init(struct mc_limits *l);

/* "N/s", "N/m" or "N/h" (N per second, minute, hour): 0, or -1 when malformed */
int mc_limits_parse_rate(const char *s, unsigned int *tokens, unsigned int *period_s);
/* registration requests per netns: burst at once, then tokens per period_s.
 * Call before the API serves (the limits are set up on first use); 0, or -1
 * when out of range (then the defaults stay). */
int mc_limits_configure(struct mc_limits *l, unsigned int burst, unsigned int tokens,
			unsigned int period_s);

/* 0 when the caller in netns may make one more registration request now;
 * otherwise 429 with a message. Requests from own_netns are not limited. */
int mc_limits_request(struct mc_limits *l, uint64_t netns, uint64_t own_netns, char *msg,
		      size_t msglen);

/* On an accepted API connection (fd): count it against its netns. When that
 * netns (or all foreign ones together) is over its limit, answer a 429 on the
 * socket and shut it down; libmicrohttpd then closes it. *ctx must be given
 * back to mc_limits_conn_closed. Connections from own_netns are not limited. */
void mc_limits_conn_opened(struct mc_limits *l, int fd, uint64_t own_netns, void **ctx);
void mc_limits_conn_closed(struct mc_limits *l, void **ctx);

#endif
