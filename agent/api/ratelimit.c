/* Per-caller input limits of the agent's API: see ratelimit.h. */
#include "api/ratelimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

/* ---------------------------------------------------------------- token bucket */

#define NANO 1000000000ull

int mc_ratelimit_init(struct mc_ratelimit *rl, unsigned int tokens, unsigned int period_s,
		      unsigned int burst, size_t keys)
{
	memset(rl, 0, sizeof(*rl));
	if (tokens == 0 || period_s == 0 || period_s > MC_RL_MAX_PERIOD || burst == 0 ||
	    burst > MC_RL_MAX_BURST || keys == 0)
		return -1;
	rl->e = calloc(keys, sizeof(*rl->e));
	if (!rl->e)
		return -1;
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = tokens;
	rl->unit = (uint64_t)period_s * NANO;
	rl->full = (uint64_t)burst * rl->unit;
	rl->cap = keys;
	return 0;
}

void mc_ratelimit_fini(struct mc_ratelimit *rl)
{
	if (!rl->e)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->e);
	rl->e = NULL;
}

/* a token per period/rate: a token is `unit` (period in ns) units, and every
 * elapsed nanosecond adds `rate` units, exactly */
static void refill(const struct mc_ratelimit *rl, struct mc_rl_entry *e, uint64_t now_ns)
{
	uint64_t dt;

	if (now_ns <= e->last_ns)
		return; /* no time went by (or the clock went back): nothing to add */
	dt = now_ns - e->last_ns;
	if (dt >= rl->full / rl->rate) /* also keeps dt * rate from overflowing */
		e->units = rl->full;
	else if ((e->units += dt * rl->rate) > rl->full)
		e->units = rl->full;
	e->last_ns = now_ns;
}

/* the key's entry; a new one takes a free slot, else the slot of a key whose
 * bucket is full again (it is as good as forgotten), else the least recently
 * refilled one */
static struct mc_rl_entry *rl_slot(struct mc_ratelimit *rl, uint64_t key, uint64_t now_ns)
{
	struct mc_rl_entry *victim = NULL;
	size_t i;

	for (i = 0; i < rl->n; i++)
		if (rl->e[i].key == key)
			return &rl->e[i];
	if (rl->n < rl->cap) {
		victim = &rl->e[rl->n++];
	} else {
		for (i = 0; i < rl->n; i++) {
			refill(rl, &rl->e[i], now_ns);
			if (rl->e[i].units >= rl->full) {
				victim = &rl->e[i];
				break;
			}
			if (!victim || rl->e[i].last_ns < victim->last_ns)
				victim = &rl->e[i];
		}
	}
	victim->key = key;
	victim->units = rl->full;
	victim->last_ns = now_ns;
	return victim;
}

bool mc_ratelimit_take(struct mc_ratelimit *rl, uint64_t key, uint64_t now_ns, uint32_t *retry_ms)
{
	struct mc_rl_entry *e;
	bool ok;

	pthread_mutex_lock(&rl->lock);
	e = rl_slot(rl, key, now_ns);
	refill(rl, e, now_ns);
	ok = e->units >= rl->unit;
	if (ok)
		e->units -= rl->unit;
	else if (retry_ms) /* ceil((unit - have) / rate) ns, in ms rounded up */
		*retry_ms = (uint32_t)(((rl->unit - e->units + rl->rate - 1) / rl->rate + 999999) / 1000000);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

/* ---------------------------------------------------------------- connections */

int mc_connlimit_init(struct mc_connlimit *cl, unsigned int per_key, unsigned int total,
		      size_t keys)
{
	memset(cl, 0, sizeof(*cl));
	if (per_key == 0 || total == 0 || keys == 0)
		return -1;
	cl->e = calloc(keys, sizeof(*cl->e));
	if (!cl->e)
		return -1;
	pthread_mutex_init(&cl->lock, NULL);
	cl->per_key = per_key;
	cl->total_cap = total;
	cl->cap = keys;
	return 0;
}

void mc_connlimit_fini(struct mc_connlimit *cl)
{
	if (!cl->e)
		return;
	pthread_mutex_destroy(&cl->lock);
	free(cl->e);
	cl->e = NULL;
}

/* slots with open == 0 are free */
static struct mc_conn_entry *cl_find(struct mc_connlimit *cl, uint64_t key, bool add)
{
	struct mc_conn_entry *free_slot = NULL;
	size_t i;

	for (i = 0; i < cl->cap; i++) {
		if (cl->e[i].open && cl->e[i].key == key)
			return &cl->e[i];
		if (!cl->e[i].open && !free_slot)
			free_slot = &cl->e[i];
	}
	if (add && free_slot)
		free_slot->key = key;
	return add ? free_slot : NULL;
}

int mc_connlimit_enter(struct mc_connlimit *cl, uint64_t key)
{
	struct mc_conn_entry *e;
	int rc = 0;

	pthread_mutex_lock(&cl->lock);
	if (cl->total >= cl->total_cap) {
		rc = -2;
	} else if (!(e = cl_find(cl, key, true))) {
		rc = -2; /* more keys with open connections than slots: as good as full */
	} else if (e->open >= cl->per_key) {
		rc = -1;
	} else {
		e->open++;
		cl->total++;
	}
	pthread_mutex_unlock(&cl->lock);
	return rc;
}

void mc_connlimit_leave(struct mc_connlimit *cl, uint64_t key)
{
	struct mc_conn_entry *e;

	pthread_mutex_lock(&cl->lock);
	e = cl_find(cl, key, false);
	if (e) {
		e->open--;
		cl->total--;
	}
	pthread_mutex_unlock(&cl->lock);
}

/* ---------------------------------------------------------------- the agent's */

void mc_limits_init(struct mc_limits *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->setup, NULL);
	l->burst = MC_RL_BURST;
	l->tokens = MC_RL_RATE;
	l->period_s = 1;
}

static const char *period_name(unsigned int period_s)
{
	return period_s == 3600 ? "hour" : period_s == 60 ? "minute" : "second";
}

int mc_limits_parse_rate(const char *s, unsigned int *tokens, unsigned int *period_s)
{
	unsigned long n;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	n = strtoul(s, &end, 10);
	if (n == 0 || n > MC_RL_MAX_TOKENS || *end != '/' || end[1] == '\0' || end[2] != '\0')
		return -1;
	switch (end[1]) {
	case 's': *period_s = 1; break;
	case 'm': *period_s = 60; break;
	case 'h': *period_s = 3600; break;
	default: return -1;
	}
	*tokens = (unsigned int)n;
	return 0;
}

int mc_limits_configure(struct mc_limits *l, unsigned int burst, unsigned int tokens,
			unsigned int period_s)
{
	struct mc_ratelimit probe;

	if (mc_ratelimit_init(&probe, tokens, period_s, burst, 1))
		return -1;
	mc_ratelimit_fini(&probe);
	l->burst = burst;
	l->tokens = tokens;
	l->period_s = period_s;
	return 0;
}

/* the tables, set up once on first use (after mc_limits_configure); ready */
static bool limits_ready(struct mc_limits *l)
{
	bool ready;

	pthread_mutex_lock(&l->setup);
	if (!l->set_up) {
		l->set_up = true;
		l->ready = mc_ratelimit_init(&l->requests, l->tokens, l->period_s, l->burst,
					     MC_RL_KEYS) == 0 &&
			   mc_connlimit_init(&l->conns, MC_CONN_PER_NETNS, MC_CONN_FOREIGN, 256) == 0;
	}
	ready = l->ready;
	pthread_mutex_unlock(&l->setup);
	return ready;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int mc_limits_request(struct mc_limits *l, uint64_t netns, uint64_t own_netns, char *msg,
		      size_t msglen)
{
	uint32_t retry = 0;

	if (!limits_ready(l) || netns == own_netns)
		return 0;
	if (mc_ratelimit_take(&l->requests, netns, now_ns(), &retry))
		return 0;
	snprintf(msg, msglen,
		 "rate limit: too many registration requests from this network namespace "
		 "(%u at once, then %u per %s); retry in %u ms",
		 l->burst, l->tokens, period_name(l->period_s), retry);
	return 429;
}

struct conn_token {
	uint64_t netns;
};

/* answer before the request and end the connection: the caller reads the
 * answer, then end of stream. Whatever it already sent is discarded here, so
 * libmicrohttpd reads end of stream and never sees a request to serve. */
static void refuse(int fd, int status, const char *reason, const char *text)
{
	char body[160], buf[400];
	int bl, n;

	bl = snprintf(body, sizeof(body), "{\"error\": \"%s\", \"status\": %d}\n", text, status);
	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
		     "Content-Length: %d\r\n\r\n%s",
		     status, reason, bl, body);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)!send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_RDWR); /* the caller cannot send any more from now on */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

void mc_limits_conn_opened(struct mc_limits *l, int fd, uint64_t own_netns, void **ctx)
{
	struct conn_token *t;
	uint64_t netns = 0;
	int rc;

	*ctx = NULL;
	if (!limits_ready(l) || fd < 0 || mc_sock_netns_cookie(fd, &netns) || netns == own_netns)
		return;
	rc = mc_connlimit_enter(&l->conns, netns);
	if (rc == 0) {
		t = malloc(sizeof(*t));
		if (t) {
			t->netns = netns;
			*ctx = t;
			return;
		}
		mc_connlimit_leave(&l->conns, netns);
	}
	if (rc == -1)
		refuse(fd, 429, "Too Many Requests",
		       "too many open connections from this network namespace");
	else
		refuse(fd, 503, "Service Unavailable", "too many open connections from pods");
}

void mc_limits_conn_closed(struct mc_limits *l, void **ctx)
{
	struct conn_token *t = *ctx;

	if (!t)
		return;
	mc_connlimit_leave(&l->conns, t->netns);
	free(t);
	*ctx = NULL;
}
