/* The latency monitor's reconstruction: see monitor_recon.h.
 *
 * Size (1570 lines): not split in this change, on purpose. Issue 19 lays the
 * agent out by feature in one behaviour-neutral move (same TAP count, the
 * same BPF instructions), and splitting here first would mix a move into the
 * 6.1 work. Its seams, marked below: histograms, names, state, pair keys, the
 * socket and thread tables (two index LRUs of one shape, to become one
 * generic list), events, the walk, and the report; mc_hist_merge and
 * mc_recon_hist have no caller and go then. */
#include "monitor/recon.h"

#include <stddef.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/index_list.h"

#define NIL MC_INDEX_NIL
#define WALK_STEPS 1024     /* events one request may cross */
#define WALK_DEPTH 16       /* nested hops */
#define WALK_HOPS 64        /* hops one request may make */
#define POD_SLOTS 4096      /* per-pod event counts (pods per node) */

/* ----------------------------------------------------------------- names */

const char *mc_cat_name(enum mc_cat c)
{
	static const char *const n[MC_CATS] = {"proxy", "kernel", "app", "remote"};

	return c < MC_CATS ? n[c] : "total";
}

const char *mc_part_name(enum mc_part p)
{
	static const char *const n[MC_PARTS] = {"proxy_out",   "proxy_in",     "kernel_out",
						"kernel_node", "kernel_in",    "kernel_other",
						"app",         "remote",       "nested"};

	return p < MC_PARTS ? n[p] : "?";
}

enum mc_cat mc_part_cat(enum mc_part p)
{
	switch (p) {
	case MC_PART_PROXY_OUT:
	case MC_PART_PROXY_IN:
		return MC_CAT_PROXY;
	case MC_PART_KERNEL_OUT:
	case MC_PART_KERNEL_NODE:
	case MC_PART_KERNEL_IN:
	case MC_PART_KERNEL_OTHER:
		return MC_CAT_KERNEL;
	case MC_PART_APP:
		return MC_CAT_APP;
	case MC_PART_REMOTE:
		return MC_CAT_REMOTE;
	default:
		return MC_CATS;
	}
}

/* ----------------------------------------------------------------- state */

struct ref { /* a socket slot as it was when referenced */
	uint32_t slot, gen;
};

/* Sends are kept in one pool, oldest reused first, so a busy socket (a
 * sidecar's shared upstream connection) keeps as much history as the others
 * together: about pool size / send rate seconds. Each socket links its own. */
struct recref {
	uint32_t idx;
	uint32_t seq; /* the record's sequence number when linked (it wraps: 2^32 sends) */
};

struct sendrec {
	uint64_t ts;
	uint64_t end;      /* bytes sent on the socket up to and including this send */
	uint32_t bytes;
	uint32_t seq;      /* bumped each time the record is reused */
	struct recref prev; /* the socket's previous send */
	struct ref pred;   /* the receive it came from (pred.slot NIL: none) */
	uint64_t pred_ts;
	uint64_t pred_end; /* bytes received on pred's socket up to that receive */
};

struct rrecv {
	struct ref s;
	uint64_t ts, end;
};

enum phase { PH_NONE, PH_REQ, PH_RESP, PH_DONE };

struct pkey {
	uint32_t type, scope;
	struct mc_addr a, b;
	uint32_t ap, bp;
};
enum { KEY_NONE, KEY_OUT, KEY_NODE, KEY_REV };

struct rsock {
	uint64_t cookie; /* 0: free */
	uint32_t gen;
	uint32_t pod_id;
	uint8_t role, phase, req_nested, aligned;
	uint16_t lport, rport;
	struct mc_addr laddr, raddr;
	uint64_t sent, rcvd;
	int64_t rdelta;      /* peer's send offset = our receive offset + rdelta */
	struct ref peer;
	uint64_t first_ts, max_ts;
	uint64_t last_recv_ts, last_recv_end; /* role 1: the response so far */
	uint64_t req_ts;                      /* role 1: first send of the request */
	struct rrecv last_pred;               /* sidecar sockets: what the last send came from */
	struct rrecv lastr;                   /* this socket's latest receive */
	struct ref up;                        /* downstream sidecar sockets (2, 4): where their
					       * request went; up_ts: when */
	uint64_t up_ts;
	struct mc_index_node ix; /* the socket table (by cookie) */
	uint32_t knext[2];
	uint32_t open_prev, open_next; /* role 1 in PH_RESP: the idle list */
	uint8_t in_open, has_isn, pad[2];
	uint32_t isn_c, isn_s; /* the connection's client and server ISN + 1 (has_isn) */
	struct recref last_send; /* newest send in the pool (idx NIL: none) */
};

/* A sidecar thread's requests read and not forwarded yet, on its downstream
 * sockets (roles 2 and 4), oldest first: a proxy forwards them in about the
 * order it read them (one event loop batch reads several, then writes several).
 * Responses need no guess: a downstream socket remembers the upstream socket
 * its request went to (HTTP/1 carries one request at a time per connection,
 * also in shared pools). */
#define FWD_MAX 32
struct fwdq {
	uint8_t n;
	struct rrecv e[FWD_MAX]; /* the latest receive of each socket waiting */
};

struct rthread {
	uint32_t tid; /* 0: free */
	struct mc_index_node ix; /* the thread table (by tid) */
	struct ref open_inbound; /* role-6 socket of a request it serves (slot NIL: none) */
	struct rrecv last[MC_MON_ROLES]; /* latest receive per socket role */
	uint8_t last_role;               /* role of the latest receive (0: none) */
	struct fwdq *fwd;                /* sidecar threads: [0] role 2, [1] role 4; on use */
};

struct pending {
	struct ref s;
	uint64_t req_ts; /* the walk never goes back further */
	uint64_t end_ts, end;
	uint64_t next_try; /* retries: not before this event time */
};

#define MAX_RETRY 1024 /* walks waiting for a late send event */

/* per-call distributions kept for each hop */
enum { HH_TOTAL, HH_PROXY_OUT, HH_PROXY_IN, HH_KERNEL, HH_APP, HOP_HISTS };
static const char *const hh_name[HOP_HISTS] = {"total", "proxy_out", "proxy_in", "kernel", "app"};

struct hopstat {
	uint32_t client_pod, server_pod; /* server 0: not recorded on this node */
	struct mc_addr svc;
	uint16_t svc_port, used;
	uint64_t calls;
	uint64_t part_ns[MC_PARTS];
	struct mc_hist *h; /* HOP_HISTS, allocated with the hop */
};

struct podcount {
	uint32_t pod_id;
	uint64_t events;
};

/* why a request's path could not be rebuilt */
enum fail_reason {
	F_GONE,      /* a socket on the path left the socket table (evicted) */
	F_NO_SEND,   /* the send a receive read is no longer kept (or was never seen) */
	F_CAUSAL,    /* byte numbering of a connection was off: fixed for the next ones */
	F_NO_PRED,   /* a send with no earlier receive by its thread */
	F_NO_PEER,   /* a server-side socket whose peer is not recorded */
	F_HOPS,      /* the hops did not nest (concurrent requests mixed up) */
	F_TOO_LONG,  /* too many events or hops */
	F_WAITED,    /* a send event never came */
	F_DROPPED,   /* too many walks waiting */
	F_INFLIGHT,  /* the session ended before the response was known to be complete */
	F_REASONS,
};
static const char *const fail_name[F_REASONS] = {"socket_evicted", "send_not_kept", "numbering",
						 "no_receive_before_send", "no_peer", "hops_mixed",
						 "too_long", "send_event_missing", "queue_full",
						 "in_flight_at_end"};

struct hopframe {
	uint32_t slot;           /* the hop's client socket (role 1) */
	uint32_t client_pod, server_pod;
	uint64_t start, end;
	uint64_t part_ns[MC_PARTS];
};

struct walk {
	struct hopframe done[WALK_HOPS];
	int ndone;
	struct hopframe stack[WALK_DEPTH];
	int depth;
	uint64_t cat_ns[MC_CATS];
	uint64_t start;
	enum fail_reason fail;
};

struct mc_recon {
	struct walk w; /* the walk in progress */
	struct mc_recon_opts o;
	struct rsock *socks;
	struct mc_index_list sock_ix;
	uint32_t *key_hash[2], key_hash_mask;
	uint32_t open_head;
	struct rthread *threads;
	struct mc_index_list thr_ix;
	struct pending *pend;
	uint32_t pend_head, pend_n;
	struct sendrec *recs;
	uint32_t rec_next;
	struct pending retry[MAX_RETRY];
	uint32_t nretry;
	struct hopstat *hops;
	uint32_t nhops;
	struct podcount pods[POD_SLOTS];
	struct mc_hist total, cat[MC_CATS];
	uint64_t watermark;
	struct mc_recon_counters c;
	uint64_t fails[F_REASONS];
	uint64_t no_peer[MC_MON_ROLES]; /* receives whose socket's peer was not found, by role */
	uint64_t events_by_role[MC_MON_ROLES];
};

static uint64_t sock_key(const void *e)
{
	return ((const struct rsock *)e)->cookie;
}

static uint64_t thread_key(const void *e)
{
	return ((const struct rthread *)e)->tid;
}

struct mc_recon *mc_recon_new(const struct mc_recon_opts *o)
{
	struct mc_recon *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->o = *o;
	if (!r->o.max_sockets)
		r->o.max_sockets = 16384;
	if (!r->o.max_threads)
		r->o.max_threads = 4096;
	if (!r->o.max_hops)
		r->o.max_hops = 256;
	if (!r->o.max_pending)
		r->o.max_pending = 8192;
	if (!r->o.max_sends)
		r->o.max_sends = 131072;
	if (!r->o.margin_ns)
		r->o.margin_ns = 100000;
	if (!r->o.max_wait_ns)
		r->o.max_wait_ns = 20000000;
	if (!r->o.idle_ns)
		r->o.idle_ns = 50000000;
	r->key_hash_mask = mc_pow2_at_least(2 * r->o.max_sockets) - 1;
	/* calloc: pages are only backed as the tables fill, up to the bound */
	r->socks = calloc(r->o.max_sockets, sizeof(*r->socks));
	r->key_hash[0] = malloc(((size_t)r->key_hash_mask + 1) * sizeof(uint32_t));
	r->key_hash[1] = malloc(((size_t)r->key_hash_mask + 1) * sizeof(uint32_t));
	r->threads = calloc(r->o.max_threads, sizeof(*r->threads));
	r->pend = calloc(r->o.max_pending, sizeof(*r->pend));
	r->recs = calloc(r->o.max_sends, sizeof(*r->recs));
	r->hops = calloc(r->o.max_hops, sizeof(*r->hops));
	if (!r->socks || !r->key_hash[0] || !r->key_hash[1] || !r->threads || !r->pend ||
	    !r->hops || !r->recs ||
	    mc_index_list_init(&r->sock_ix, r->socks, sizeof(*r->socks), offsetof(struct rsock, ix),
			       r->o.max_sockets, sock_key) ||
	    mc_index_list_init(&r->thr_ix, r->threads, sizeof(*r->threads),
			       offsetof(struct rthread, ix), r->o.max_threads, thread_key)) {
		mc_recon_free(r);
		return NULL;
	}
	memset(r->key_hash[0], 0xff, ((size_t)r->key_hash_mask + 1) * sizeof(uint32_t));
	memset(r->key_hash[1], 0xff, ((size_t)r->key_hash_mask + 1) * sizeof(uint32_t));
	r->open_head = NIL;
	return r;
}

void mc_recon_free(struct mc_recon *r)
{
	if (!r)
		return;
	free(r->socks);
	mc_index_list_free(&r->sock_ix);
	free(r->key_hash[0]);
	free(r->key_hash[1]);
	if (r->threads) {
		uint32_t i;

		for (i = 0; i < r->thr_ix.used; i++)
			free(r->threads[i].fwd);
	}
	free(r->threads);
	mc_index_list_free(&r->thr_ix);
	free(r->pend);
	free(r->recs);
	if (r->hops) {
		uint32_t i;

		for (i = 0; i < r->nhops; i++)
			free(r->hops[i].h);
	}
	free(r->hops);
	free(r);
}

size_t mc_recon_memory(const struct mc_recon *r)
{
	return sizeof(*r) + (size_t)r->o.max_sockets * sizeof(struct rsock) +
	       mc_index_list_memory(&r->sock_ix) +
	       2 * ((size_t)r->key_hash_mask + 1) * sizeof(uint32_t) +
	       (size_t)r->o.max_threads * sizeof(struct rthread) +
	       mc_index_list_memory(&r->thr_ix) +
	       (size_t)r->o.max_pending * sizeof(struct pending) +
	       (size_t)r->o.max_sends * sizeof(struct sendrec) +
	       (size_t)r->o.max_hops * (sizeof(struct hopstat) + HOP_HISTS * sizeof(struct mc_hist));
}

/* ------------------------------------------------------------ pair keys */

static bool addr_loopback(const struct mc_addr *a)
{
	if (a->w[0] == 0 && a->w[1] == 0 && a->w[2] == __builtin_bswap32(0xffff))
		return (__builtin_bswap32(a->w[3]) >> 24) == 127;
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == 0 &&
	       (a->w[3] == __builtin_bswap32(1) || a->w[3] == __builtin_bswap32(6));
}

static int ep_cmp(const struct mc_addr *a, uint32_t ap, const struct mc_addr *b, uint32_t bp)
{
	int c = memcmp(a, b, sizeof(*a));

	return c ? c : (ap < bp ? -1 : ap > bp);
}

/* The connection's sequence numbers in place of the client's port: NAT can
 * give the two ends of one connection different ports (a conntrack clash:
 * after many short connections to a service, REDIRECT to 15001 also rewrites
 * the app's source port, and the sidecar sees another port than the app), but
 * never different ISNs. Addresses stay in the key (REDIRECT keeps the source
 * address). Events without them (has_isn 0) pair by port. */
static void key_isn(const struct rsock *s, struct pkey *key)
{
	if (!s->has_isn)
		return;
	key->ap = s->isn_c;
	key->bp = s->isn_s;
}

/* key k (0 or 1) of a socket; KEY_NONE when it has none */
static void key_of(const struct rsock *s, int k, struct pkey *key)
{
	memset(key, 0, sizeof(*key));
	if (k == 0) {
		switch (s->role) {
		case MC_MON_ROLE_APP_CLIENT: /* 1: its own address, which 2 sees as remote */
			key->type = KEY_OUT;
			key->scope = s->pod_id;
			key->a = s->laddr;
			key->ap = s->lport;
			key_isn(s, key);
			return;
		case MC_MON_ROLE_OUT_DOWN:
			key->type = KEY_OUT;
			key->scope = s->pod_id;
			key->a = s->raddr;
			key->ap = s->rport;
			key_isn(s, key);
			return;
		case MC_MON_ROLE_OUT_UP: /* 3: pod IPs are unique on the node */
			key->type = KEY_NODE;
			key->a = s->laddr;
			key->ap = s->lport;
			key->b = s->raddr;
			key_isn(s, key);
			return;
		case MC_MON_ROLE_IN_DOWN:
			key->type = KEY_NODE;
			key->a = s->raddr;
			key->ap = s->rport;
			key->b = s->laddr;
			key_isn(s, key);
			return;
		case MC_MON_ROLE_IN_UP:
		case MC_MON_ROLE_APP_SERVER:
			break; /* the exact reverse 4-tuple */
		default:
			return;
		}
	} else if (s->role != MC_MON_ROLE_APP_CLIENT) {
		return; /* an app socket may also talk to a peer directly (not captured) */
	}
	key->type = KEY_REV;
	key->scope = (addr_loopback(&s->laddr) || addr_loopback(&s->raddr)) ? s->pod_id : 0;
	if (ep_cmp(&s->laddr, s->lport, &s->raddr, s->rport) <= 0) {
		key->a = s->laddr;
		key->ap = s->lport;
		key->b = s->raddr;
		key->bp = s->rport;
	} else {
		key->a = s->raddr;
		key->ap = s->rport;
		key->b = s->laddr;
		key->bp = s->lport;
	}
}

static uint32_t key_hash(const struct mc_recon *r, const struct pkey *k)
{
	const uint32_t *w = (const uint32_t *)k;
	uint64_t h = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < sizeof(*k) / 4; i++)
		h = mc_mix64(h ^ w[i]);
	return (uint32_t)h & r->key_hash_mask;
}

static bool roles_pair(uint32_t type, uint8_t a, uint8_t b)
{
	switch (type) {
	case KEY_OUT:
		return (a == MC_MON_ROLE_APP_CLIENT && b == MC_MON_ROLE_OUT_DOWN) ||
		       (b == MC_MON_ROLE_APP_CLIENT && a == MC_MON_ROLE_OUT_DOWN);
	case KEY_NODE:
		return (a == MC_MON_ROLE_OUT_UP && b == MC_MON_ROLE_IN_DOWN) ||
		       (b == MC_MON_ROLE_OUT_UP && a == MC_MON_ROLE_IN_DOWN);
	case KEY_REV:
		return true;
	}
	return false;
}

static void key_link(struct mc_recon *r, uint32_t slot)
{
	struct rsock *s = &r->socks[slot];
	struct pkey k;
	int i;

	for (i = 0; i < 2; i++) {
		uint32_t h;

		s->knext[i] = NIL;
		key_of(s, i, &k);
		if (k.type == KEY_NONE)
			continue;
		h = key_hash(r, &k);
		s->knext[i] = r->key_hash[i][h];
		r->key_hash[i][h] = slot;
	}
}

static void key_unlink(struct mc_recon *r, uint32_t slot)
{
	struct rsock *s = &r->socks[slot];
	struct pkey k;
	int i;

	for (i = 0; i < 2; i++) {
		uint32_t *p;

		key_of(s, i, &k);
		if (k.type == KEY_NONE)
			continue;
		for (p = &r->key_hash[i][key_hash(r, &k)]; *p != NIL; p = &r->socks[*p].knext[i]) {
			if (*p == slot) {
				*p = s->knext[i];
				break;
			}
		}
	}
}

static struct rsock *deref(struct mc_recon *r, struct ref ref)
{
	struct rsock *s;

	if (ref.slot == NIL || ref.slot >= r->o.max_sockets)
		return NULL;
	s = &r->socks[ref.slot];
	return s->cookie && s->gen == ref.gen ? s : NULL;
}

/* the other end of a socket, as it was at time ts: short connections reuse
 * addresses and ports at once, so of the sockets holding the same key, the
 * newest that already existed then */
static struct rsock *peer_of(struct mc_recon *r, uint32_t slot, uint64_t ts)
{
	struct rsock *s = &r->socks[slot], *best = NULL, *p;
	uint32_t best_slot = NIL, it;
	struct pkey k, pk;
	int i, j;

	if ((p = deref(r, s->peer)) && p->first_ts <= ts)
		return p;
	for (i = 0; i < 2; i++) {
		key_of(s, i, &k);
		if (k.type == KEY_NONE)
			continue;
		for (j = 0; j < 2; j++) { /* the peer may hold the same key as its key 0 or 1 */
			for (it = r->key_hash[j][key_hash(r, &k)]; it != NIL; it = r->socks[it].knext[j]) {
				p = &r->socks[it];
				if (it == slot || !roles_pair(k.type, s->role, p->role))
					continue;
				key_of(p, j, &pk);
				if (memcmp(&k, &pk, sizeof(k)) || p->first_ts > ts)
					continue;
				if (!best || p->first_ts > best->first_ts) {
					best = p;
					best_slot = it;
				}
			}
		}
	}
	if (best) {
		s->peer = (struct ref){best_slot, best->gen};
		if (!deref(r, best->peer))
			best->peer = (struct ref){slot, s->gen};
	}
	return best;
}

/* -------------------------------------------------------- socket table */

static void open_remove(struct mc_recon *r, uint32_t i)
{
	struct rsock *s = &r->socks[i];

	if (!s->in_open)
		return;
	if (s->open_prev != NIL)
		r->socks[s->open_prev].open_next = s->open_next;
	else
		r->open_head = s->open_next;
	if (s->open_next != NIL)
		r->socks[s->open_next].open_prev = s->open_prev;
	s->in_open = 0;
}

static void open_add(struct mc_recon *r, uint32_t i)
{
	struct rsock *s = &r->socks[i];

	if (s->in_open)
		return;
	s->open_prev = NIL;
	s->open_next = r->open_head;
	if (r->open_head != NIL)
		r->socks[r->open_head].open_prev = i;
	r->open_head = i;
	s->in_open = 1;
}

/* what an evicted socket leaves: its pair keys, its place among open responses,
 * and every reference to it (gen) */
static void sock_forget(struct mc_recon *r, uint32_t i)
{
	struct rsock *s = &r->socks[i];

	key_unlink(r, i);
	open_remove(r, i);
	s->cookie = 0;
	s->gen++;
}

static uint32_t sock_get(struct mc_recon *r, const struct mc_mon_event *e)
{
	uint32_t i = mc_index_list_find(&r->sock_ix, e->sock);
	struct rsock *s;
	bool evicted;
	uint32_t gen;

	if (i != NIL)
		return i;
	/* slots fill in order; once full, the least recent is reused */
	i = mc_index_list_take(&r->sock_ix, &evicted);
	if (evicted) {
		sock_forget(r, i);
		r->c.evicted_sockets++;
	}
	s = &r->socks[i];
	gen = s->gen;
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->cookie = e->sock;
	s->pod_id = e->pod_id;
	s->role = e->role;
	s->laddr = e->laddr;
	s->raddr = e->raddr;
	s->lport = e->lport;
	s->rport = e->rport;
	s->first_ts = e->ts;
	if (e->snd_base || e->rcv_base) {
		/* bpf/monitor.h: an active (client) socket's snd_base is its ISN, a
		 * passive one's its ISN + 1; rcv_base is the peer's ISN + 1 */
		bool active = e->role == MC_MON_ROLE_APP_CLIENT || e->role == MC_MON_ROLE_OUT_UP ||
			      e->role == MC_MON_ROLE_IN_UP;

		s->has_isn = 1;
		s->isn_c = active ? e->snd_base + 1 : e->rcv_base;
		s->isn_s = active ? e->rcv_base : e->snd_base;
	}
	s->peer.slot = NIL;
	s->last_pred.s.slot = NIL;
	s->lastr.s.slot = NIL;
	s->up.slot = NIL;
	s->last_send.idx = NIL;
	s->open_prev = s->open_next = NIL;
	key_link(r, i);
	mc_index_list_insert(&r->sock_ix, i, s->cookie);
	return i;
}

/* -------------------------------------------------------- thread table */

static struct rthread *thread_get(struct mc_recon *r, uint32_t tid)
{
	uint32_t i = mc_index_list_find(&r->thr_ix, tid);
	struct rthread *t;
	bool evicted;
	int k;

	if (i != NIL)
		return &r->threads[i];
	i = mc_index_list_take(&r->thr_ix, &evicted);
	t = &r->threads[i];
	if (evicted) {
		r->c.evicted_threads++;
		free(t->fwd);
	}
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->open_inbound.slot = NIL;
	for (k = 0; k < MC_MON_ROLES; k++)
		t->last[k].s.slot = NIL;
	mc_index_list_insert(&r->thr_ix, i, tid);
	return t;
}

/* ---------------------------------------------------------------- events */

static void pod_count(struct mc_recon *r, uint32_t pod_id)
{
	uint32_t h = (uint32_t)mc_mix64(pod_id) & (POD_SLOTS - 1), n;

	for (n = 0; n < POD_SLOTS; n++, h = (h + 1) & (POD_SLOTS - 1)) {
		if (r->pods[h].events && r->pods[h].pod_id != pod_id)
			continue;
		r->pods[h].pod_id = pod_id;
		r->pods[h].events++;
		return;
	}
}

static void enqueue(struct mc_recon *r, uint32_t slot)
{
	struct rsock *s = &r->socks[slot];
	struct pending *p;

	if (s->req_nested) {
		r->c.nested_exchanges++;
		return; /* part of an outer request's walk */
	}
	if (r->pend_n == r->o.max_pending) { /* the oldest is given up */
		r->pend_head = (r->pend_head + 1) % r->o.max_pending;
		r->pend_n--;
		r->c.pending_dropped++;
		r->c.incomplete++;
		r->fails[F_DROPPED]++;
	}
	p = &r->pend[(r->pend_head + r->pend_n) % r->o.max_pending];
	p->s = (struct ref){slot, s->gen};
	p->req_ts = s->req_ts;
	p->end_ts = s->last_recv_ts;
	p->end = s->last_recv_end;
	r->pend_n++;
}

/* the receive a sidecar's send came from is on the socket of the other side */
static uint8_t proxy_source(uint8_t role)
{
	switch (role) {
	case MC_MON_ROLE_OUT_DOWN:
		return MC_MON_ROLE_OUT_UP;
	case MC_MON_ROLE_OUT_UP:
		return MC_MON_ROLE_OUT_DOWN;
	case MC_MON_ROLE_IN_DOWN:
		return MC_MON_ROLE_IN_UP;
	case MC_MON_ROLE_IN_UP:
		return MC_MON_ROLE_IN_DOWN;
	}
	return 0;
}

static void fwd_note(struct rthread *t, uint8_t role, const struct rrecv *rv)
{
	struct fwdq *q;
	int i;

	if (!t->fwd && !(t->fwd = calloc(2, sizeof(*t->fwd))))
		return;
	q = &t->fwd[role == MC_MON_ROLE_IN_DOWN];
	for (i = 0; i < q->n; i++) {
		if (q->e[i].s.slot == rv->s.slot && q->e[i].s.gen == rv->s.gen) {
			q->e[i] = *rv; /* more of the same message: keeps its place */
			return;
		}
	}
	if (q->n == FWD_MAX) { /* never forwarded (e.g. answered by the proxy itself) */
		memmove(&q->e[0], &q->e[1], (FWD_MAX - 1) * sizeof(q->e[0]));
		q->n--;
	}
	q->e[q->n++] = *rv;
}

/* the oldest message read on a socket of this role and not forwarded yet */
static bool fwd_take(struct rthread *t, uint8_t role, uint64_t before, struct rrecv *out)
{
	struct fwdq *q;

	if (!t->fwd)
		return false;
	q = &t->fwd[role == MC_MON_ROLE_IN_DOWN];
	if (!q->n || q->e[0].ts > before)
		return false;
	*out = q->e[0];
	memmove(&q->e[0], &q->e[1], (size_t)(q->n - 1) * sizeof(q->e[0]));
	q->n--;
	return true;
}

static void ingest(struct mc_recon *r, const struct mc_mon_event *e)
{
	struct rthread *t;
	struct rsock *s;
	uint32_t slot;

	if (!e->sock || e->role == MC_MON_ROLE_NONE || e->role >= MC_MON_ROLES || !e->bytes)
		return;
	r->c.events++;
	if (e->flags & MC_MON_F_EXIT_TS)
		r->c.exit_ts_events++;
	if (e->ts > r->watermark)
		r->watermark = e->ts;
	pod_count(r, e->pod_id);
	r->events_by_role[e->role]++;
	slot = sock_get(r, e);
	s = &r->socks[slot];
	if (e->ts > s->max_ts)
		s->max_ts = e->ts;
	t = thread_get(r, e->tid);
	if (e->dir == MC_MON_RECV) {
		struct rrecv *lr = &t->last[e->role];

		s->rcvd += e->bytes;
		lr->s = (struct ref){slot, s->gen};
		lr->ts = e->ts;
		lr->end = s->rcvd;
		t->last_role = e->role;
		s->lastr = *lr;
		if (e->role == MC_MON_ROLE_OUT_DOWN || e->role == MC_MON_ROLE_IN_DOWN)
			fwd_note(t, e->role, lr);
		if (e->role == MC_MON_ROLE_APP_SERVER)
			t->open_inbound = (struct ref){slot, s->gen};
		if (e->role == MC_MON_ROLE_APP_CLIENT && (s->phase == PH_REQ || s->phase == PH_RESP)) {
			s->phase = PH_RESP;
			s->last_recv_ts = e->ts;
			s->last_recv_end = s->rcvd;
			open_add(r, slot);
		}
		return;
	}

	/* a send: remember the receive it came from */
	{
		struct sendrec *sr;
		const struct rrecv *src = NULL;
		uint8_t want = proxy_source(e->role);
		struct rrecv taken;

		if (want == MC_MON_ROLE_OUT_DOWN || want == MC_MON_ROLE_IN_DOWN) {
			/* a sidecar forwards a request (to 3 or 5): the oldest request it
			 * read downstream and has not forwarded yet; else more of what
			 * this socket's last send forwarded; else its latest read there */
			struct rsock *d;

			if (fwd_take(t, want, e->ts, &taken))
				src = &taken;
			else if (s->last_pred.s.slot != NIL && s->last_pred.ts <= e->ts && s->sent)
				src = &s->last_pred;
			else if (t->last[want].s.slot != NIL)
				src = &t->last[want];
			if (src && src != &s->last_pred)
				s->last_pred = *src;
			if (src && (d = deref(r, src->s))) {
				d->up = (struct ref){slot, s->gen};
				d->up_ts = e->ts;
			}
		} else if (want) {
			/* a sidecar answers downstream (on 2 or 4): from the upstream
			 * socket the request went to, what it read there since */
			struct rsock *u = deref(r, s->up);

			if (u && u->lastr.s.slot != NIL && u->lastr.ts >= s->up_ts && u->lastr.ts <= e->ts)
				src = &u->lastr;
			else if (t->last[want].s.slot != NIL)
				src = &t->last[want];
			else if (t->last_role)
				src = &t->last[t->last_role];
		} else if (t->last_role) {
			src = &t->last[t->last_role]; /* an app: its thread's latest read */
		}
		s->sent += e->bytes;
		sr = &r->recs[r->rec_next];
		sr->seq++; /* whoever linked the old content no longer finds it */
		sr->prev = s->last_send;
		s->last_send = (struct recref){r->rec_next, sr->seq};
		r->rec_next = (r->rec_next + 1) % r->o.max_sends;
		sr->ts = e->ts;
		sr->end = s->sent;
		sr->bytes = e->bytes;
		sr->pred.slot = NIL;
		if (src && src->ts <= e->ts) {
			sr->pred = src->s;
			sr->pred_ts = src->ts;
			sr->pred_end = src->end;
		}
	}
	if (e->role == MC_MON_ROLE_APP_SERVER && t->open_inbound.slot == slot)
		t->open_inbound.slot = NIL;
	if (e->role == MC_MON_ROLE_APP_CLIENT) {
		if (s->phase == PH_RESP) {
			open_remove(r, slot);
			enqueue(r, slot); /* the next request: the response is complete */
		}
		if (s->phase != PH_REQ) {
			s->phase = PH_REQ;
			s->req_ts = e->ts;
			/* a thread serving a request that calls a service: a nested hop */
			s->req_nested = deref(r, t->open_inbound) != NULL;
		}
	}
}

/* ------------------------------------------------------------------ walk */

enum walk_rc { WALK_OK, WALK_NOT_READY, WALK_FAIL };

static enum mc_part kernel_part(uint8_t a, uint8_t b)
{
	uint8_t lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo == MC_MON_ROLE_APP_CLIENT && hi == MC_MON_ROLE_OUT_DOWN)
		return MC_PART_KERNEL_OUT;
	if (lo == MC_MON_ROLE_OUT_UP && hi == MC_MON_ROLE_IN_DOWN)
		return MC_PART_KERNEL_NODE;
	if (lo == MC_MON_ROLE_IN_UP && hi == MC_MON_ROLE_APP_SERVER)
		return MC_PART_KERNEL_IN;
	return MC_PART_KERNEL_OTHER;
}

static void charge(struct walk *w, enum mc_part part, uint64_t ns, const struct rsock *s)
{
	struct hopframe *top = &w->stack[w->depth - 1];
	enum mc_cat c = mc_part_cat(part);

	top->part_ns[part] += ns;
	if (c < MC_CATS)
		w->cat_ns[c] += ns;
	/* the server of a hop: whoever owns its inbound side */
	if (s && !top->server_pod &&
	    (s->role == MC_MON_ROLE_IN_DOWN || s->role == MC_MON_ROLE_IN_UP ||
	     s->role == MC_MON_ROLE_APP_SERVER))
		top->server_pod = s->pod_id;
}

static bool push_hop(struct walk *w, uint32_t slot, const struct rsock *s, uint64_t end)
{
	struct hopframe *f;

	if (w->depth == WALK_DEPTH)
		return false;
	f = &w->stack[w->depth++];
	memset(f, 0, sizeof(*f));
	f->slot = slot;
	f->client_pod = s->pod_id;
	f->end = end;
	return true;
}

static bool pop_hop(struct walk *w, uint64_t start)
{
	struct hopframe *f = &w->stack[--w->depth];

	f->start = start;
	if (w->ndone == WALK_HOPS)
		return false;
	w->done[w->ndone++] = *f;
	if (w->depth > 0)
		w->stack[w->depth - 1].part_ns[MC_PART_NESTED] += f->end - f->start;
	return true;
}

static const struct sendrec *rec_get(const struct mc_recon *r, struct recref ref)
{
	const struct sendrec *sr;

	if (ref.idx == NIL || ref.idx >= r->o.max_sends)
		return NULL;
	sr = &r->recs[ref.idx];
	return sr->seq == ref.seq ? sr : NULL;
}

/* the send on x that holds byte `off` (x's send numbering), newest first */
static const struct sendrec *send_holding(const struct mc_recon *r, const struct rsock *x,
					  uint64_t off)
{
	const struct sendrec *sr;
	uint32_t n = 0;

	for (sr = rec_get(r, x->last_send); sr && n < r->o.max_sends; sr = rec_get(r, sr->prev), n++) {
		if (sr->end - sr->bytes < off && off <= sr->end)
			return sr;
		if (sr->end < off)
			return NULL;
	}
	return NULL;
}

/* the latest send on x at or before ts */
static const struct sendrec *send_before(const struct mc_recon *r, const struct rsock *x,
					 uint64_t ts)
{
	const struct sendrec *sr;
	uint32_t n = 0;

	for (sr = rec_get(r, x->last_send); sr && n < r->o.max_sends; sr = rec_get(r, sr->prev), n++)
		if (sr->ts <= ts)
			return sr;
	return NULL;
}

static enum walk_rc do_walk(struct mc_recon *r, const struct pending *p, struct walk *w)
{
	struct rsock *root = deref(r, p->s), *s, *x;
	const struct sendrec *sr = NULL;
	struct ref cur = p->s;
	uint64_t ts = p->end_ts, end = p->end;
	bool recv = true;
	int steps = 0;

#ifdef MC_RECON_DEBUG
#define FAIL(reason)                                                                               \
	do {                                                                                       \
		w->fail = (reason);                                                                \
		fprintf(stderr, "fail %s at step %d: %s on role %u (pod %u) ts %llu end %llu\n",   \
			fail_name[reason], steps, recv ? "recv" : "send", s ? s->role : 0,          \
			s ? s->pod_id : 0, (unsigned long long)ts, (unsigned long long)end);        \
		return WALK_FAIL;                                                                  \
	} while (0)
#else
#define FAIL(reason)                                                                               \
	do {                                                                                       \
		w->fail = (reason);                                                                \
		return WALK_FAIL;                                                                  \
	} while (0)
#endif
	if (!root) {
		w->fail = F_GONE;
		return WALK_FAIL;
	}
	memset(w, 0, sizeof(*w));
	push_hop(w, p->s.slot, root, p->end_ts);
	for (steps = 0; steps < WALK_STEPS; steps++) {
		s = deref(r, cur);
		if (!s)
			FAIL(F_GONE);
		if (ts < p->req_ts) /* before the request: the path mixed requests up */
			FAIL(F_HOPS);
		if (recv) {
			const struct sendrec *from;

			if (s->role == MC_MON_ROLE_APP_CLIENT && cur.slot != w->stack[w->depth - 1].slot &&
			    !push_hop(w, cur.slot, s, ts))
				FAIL(F_TOO_LONG);
			x = peer_of(r, cur.slot, ts);
			if (!x)
				r->no_peer[s->role]++;
			if (x) {
				uint64_t off;

				if (!s->aligned) {
					/* first use (or lost events): number y's bytes like x's.
					 * Once an event of x after this receive shows that every
					 * send of x before it has arrived: by the last send of x
					 * before the receive. Before that, if y has read exactly
					 * what x sent so far (a connection seen from its start,
					 * e.g. one request per connection): the same numbering.
					 * A wrong guess (a message in flight when the session
					 * started) breaks causality below and is made again. */
					if (x->max_ts > ts) {
						from = send_before(r, x, ts);
						if (!from)
							FAIL(F_NO_SEND);
						s->rdelta = (int64_t)(from->end - end);
					} else if (x->sent == end) {
						s->rdelta = 0;
					} else {
						return WALK_NOT_READY;
					}
					s->aligned = 1;
				}
				off = end + (uint64_t)s->rdelta;
				if (off > x->sent)
					return WALK_NOT_READY; /* its send event is on its way */
				from = send_holding(r, x, off);
				if (from && from->ts > ts) { /* cannot be: the numbering is off */
					s->aligned = 0;
					r->c.realigned++;
					FAIL(F_CAUSAL);
				}
				if (!from)
					FAIL(F_NO_SEND);
				charge(w, kernel_part(s->role, x->role), ts - from->ts, s);
				cur = s->peer;
			} else if (s->role == MC_MON_ROLE_APP_CLIENT || s->role == MC_MON_ROLE_OUT_UP ||
				   s->role == MC_MON_ROLE_IN_UP) {
				/* a peer we do not record answered what this socket sent */
				from = send_before(r, s, ts);
				if (!from)
					FAIL(F_NO_SEND);
				charge(w, MC_PART_REMOTE, ts - from->ts, s);
			} else {
				FAIL(F_NO_PEER);
			}
			sr = from;
			ts = from->ts;
			recv = false;
			continue;
		}
		/* a send (sr) on s */
		if (s->role == MC_MON_ROLE_APP_CLIENT) {
			if (cur.slot == p->s.slot) {
				if (w->depth != 1 || !pop_hop(w, ts))
					FAIL(F_HOPS);
				w->start = ts;
				return WALK_OK;
			}
			if (cur.slot == w->stack[w->depth - 1].slot && (w->depth < 2 || !pop_hop(w, ts)))
				FAIL(F_HOPS);
		}
		if (sr->pred.slot == NIL || sr->pred_ts > ts)
			FAIL(F_NO_PRED);
		if (mc_mon_role_is_proxy(s->role))
			charge(w,
			       s->role <= MC_MON_ROLE_OUT_UP ? MC_PART_PROXY_OUT : MC_PART_PROXY_IN,
			       ts - sr->pred_ts, s);
		else
			charge(w, MC_PART_APP, ts - sr->pred_ts, s);
		cur = sr->pred;
		end = sr->pred_end;
		ts = sr->pred_ts;
		recv = true;
	}
	FAIL(F_TOO_LONG);
#undef FAIL
}

static struct hopstat *hop_of(struct mc_recon *r, const struct hopframe *f)
{
	const struct rsock *c = &r->socks[f->slot];
	uint32_t i;

	for (i = 0; i < r->nhops; i++) {
		struct hopstat *h = &r->hops[i];

		if (h->client_pod == f->client_pod && h->server_pod == f->server_pod &&
		    (f->server_pod || (!memcmp(&h->svc, &c->raddr, sizeof(h->svc)) &&
				       h->svc_port == c->rport)))
			return h;
	}
	if (r->nhops == r->o.max_hops)
		return NULL;
	r->hops[r->nhops].h = calloc(HOP_HISTS, sizeof(struct mc_hist));
	if (!r->hops[r->nhops].h)
		return NULL;
	r->hops[r->nhops].client_pod = f->client_pod;
	r->hops[r->nhops].server_pod = f->server_pod;
	r->hops[r->nhops].svc = c->raddr;
	r->hops[r->nhops].svc_port = c->rport;
	r->hops[r->nhops].used = 1;
	return &r->hops[r->nhops++];
}

static void account(struct mc_recon *r, const struct walk *w, uint64_t end_ts)
{
	struct mc_request_result res = {.start_ns = w->start, .end_ns = end_ts};
	int i, k;

	r->c.requests++;
	mc_hist_add(&r->total, end_ts - w->start);
	for (k = 0; k < MC_CATS; k++) {
		mc_hist_add(&r->cat[k], w->cat_ns[k]);
		res.cat_ns[k] = w->cat_ns[k];
	}
	for (i = 0; i < w->ndone; i++) {
		struct hopstat *h = hop_of(r, &w->done[i]);

		if (!h)
			continue;
		const uint64_t *pn = w->done[i].part_ns;

		h->calls++;
		for (k = 0; k < MC_PARTS; k++)
			h->part_ns[k] += pn[k];
		mc_hist_add(&h->h[HH_TOTAL], w->done[i].end - w->done[i].start);
		mc_hist_add(&h->h[HH_PROXY_OUT], pn[MC_PART_PROXY_OUT]);
		mc_hist_add(&h->h[HH_PROXY_IN], pn[MC_PART_PROXY_IN]);
		mc_hist_add(&h->h[HH_KERNEL], pn[MC_PART_KERNEL_OUT] + pn[MC_PART_KERNEL_NODE] +
						  pn[MC_PART_KERNEL_IN] + pn[MC_PART_KERNEL_OTHER]);
		mc_hist_add(&h->h[HH_APP], pn[MC_PART_APP]);
	}
	res.hops = (uint32_t)w->ndone;
	if (r->o.on_request)
		r->o.on_request(r->o.ctx, &res);
}

static void walk_done(struct mc_recon *r, const struct pending *p, enum walk_rc rc)
{
	if (rc == WALK_OK) {
		account(r, &r->w, p->end_ts);
		return;
	}
	if (rc == WALK_NOT_READY) {
		struct rsock *s = deref(r, p->s);

		if (s)
			s->aligned = 0; /* waited too long: the byte numbering may be off */
		r->fails[F_WAITED]++;
	} else {
		r->fails[r->w.fail]++;
	}
	r->c.incomplete++;
}

/* Walk what is ready. Events come in the order their calls returned, and
 * `now` is the latest event time seen (or the clock, when events stop): a
 * walk that needs a send event not seen yet (its call returned after the
 * receive that read it) waits in the retry list. force: no more events. */
static void process(struct mc_recon *r, uint64_t now, bool force)
{
	uint32_t i;

	for (i = 0; i < r->nretry;) {
		struct pending *p = &r->retry[i];
		enum walk_rc rc;

		if (!force && now < p->next_try) {
			i++;
			continue;
		}
		rc = do_walk(r, p, &r->w);
		if (rc == WALK_NOT_READY && !force && now < p->end_ts + r->o.max_wait_ns) {
			p->next_try = now + r->o.margin_ns;
			r->c.walk_retries++;
			i++;
			continue;
		}
		walk_done(r, p, rc);
		r->retry[i] = r->retry[--r->nretry];
	}
	while (r->pend_n) {
		struct pending *p = &r->pend[r->pend_head];
		enum walk_rc rc;

		if (!force && now < p->end_ts + r->o.margin_ns)
			break;
		rc = do_walk(r, p, &r->w);
		if (rc == WALK_NOT_READY && !force && r->nretry < MAX_RETRY) {
			p->next_try = now + r->o.margin_ns;
			r->retry[r->nretry++] = *p;
			r->c.walk_retries++;
		} else {
			walk_done(r, p, rc);
		}
		r->pend_head = (r->pend_head + 1) % r->o.max_pending;
		r->pend_n--;
	}
}

void mc_recon_event(struct mc_recon *r, const struct mc_mon_event *e)
{
	ingest(r, e);
	if (r->pend_n || r->nretry)
		process(r, r->watermark, false);
}

/* responses that stay idle are complete */
static void close_idle(struct mc_recon *r, uint64_t now, bool flushing)
{
	uint32_t i = r->open_head, next;

	while (i != NIL) {
		struct rsock *s = &r->socks[i];

		next = s->open_next;
		if (now >= s->last_recv_ts + r->o.idle_ns) {
			open_remove(r, i);
			s->phase = PH_DONE;
			enqueue(r, i);
		} else if (flushing) {
			open_remove(r, i);
			s->phase = PH_DONE;
			if (!s->req_nested) {
				r->c.incomplete++;
				r->fails[F_INFLIGHT]++;
			}
		}
		i = next;
	}
}

void mc_recon_tick(struct mc_recon *r, uint64_t now_ns)
{
	close_idle(r, now_ns, false);
	process(r, now_ns, false);
}

void mc_recon_flush(struct mc_recon *r)
{
	/* what went idle before the last event is complete; younger ones are not known to be */
	close_idle(r, r->watermark, true);
	process(r, r->watermark, true);
}

void mc_recon_counters(const struct mc_recon *r, struct mc_recon_counters *c)
{
	*c = r->c;
	c->sockets = r->sock_ix.used;
	c->threads = r->thr_ix.used;
	c->hops = r->nhops;
}

/* ---------------------------------------------------------------- report */

static double us(double ns)
{
	return (double)(int64_t)(ns / 10.0 + (ns >= 0 ? 0.5 : -0.5)) / 100.0; /* 0.01 us */
}

static json_t *hist_json(const struct mc_hist *h)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f}", "mean_us", us(mc_hist_mean_ns(h)), "p50_us",
			 us((double)mc_hist_percentile(h, 50)), "p90_us",
			 us((double)mc_hist_percentile(h, 90)), "p99_us",
			 us((double)mc_hist_percentile(h, 99)), "max_us", us((double)h->max_ns));
}

static void addr_str(const struct mc_addr *a, uint16_t port, char *buf, size_t len)
{
	const uint8_t *b = (const uint8_t *)a;

	if (a->w[0] == 0 && a->w[1] == 0 && a->w[2] == __builtin_bswap32(0xffff))
		snprintf(buf, len, "%u.%u.%u.%u:%u", b[12], b[13], b[14], b[15], port);
	else
		snprintf(buf, len, "[%x:%x:%x:%x:%x:%x:%x:%x]:%u", b[0] << 8 | b[1], b[2] << 8 | b[3],
			 b[4] << 8 | b[5], b[6] << 8 | b[7], b[8] << 8 | b[9], b[10] << 8 | b[11],
			 b[12] << 8 | b[13], b[14] << 8 | b[15], port);
}

static const char *pod_name(mc_pod_namer namer, void *ctx, uint32_t id, char *buf, size_t len)
{
	const char *n = namer ? namer(ctx, id) : NULL;

	if (n)
		return n;
	snprintf(buf, len, "pod#%u", id);
	return buf;
}

json_t *mc_recon_report(const struct mc_recon *r, mc_pod_namer namer, void *ctx)
{
	json_t *o, *cats, *hops, *pods;
	double total_sum = (double)r->total.sum_ns;
	char nbuf[2][48], svc[64];
	uint32_t i;
	int k;

	cats = json_object();
	for (k = 0; k < MC_CATS; k++) {
		json_t *c = hist_json(&r->cat[k]);

		json_object_set_new(c, "share",
				    json_real(total_sum > 0 ? (double)r->cat[k].sum_ns / total_sum : 0.0));
		json_object_set_new(cats, mc_cat_name((enum mc_cat)k), c);
	}
	hops = json_array();
	for (i = 0; i < r->nhops; i++) {
		const struct hopstat *h = &r->hops[i];
		json_t *hj, *parts = json_object(), *med = json_object();
		double calls = (double)h->calls;
		double cat[MC_CATS] = {0};

		if (!h->calls)
			continue;
		for (k = 0; k < MC_PARTS; k++) {
			enum mc_cat c = mc_part_cat((enum mc_part)k);

			json_object_set_new(parts, mc_part_name((enum mc_part)k),
					    json_real(us((double)h->part_ns[k] / calls)));
			if (c < MC_CATS)
				cat[c] += (double)h->part_ns[k];
		}
		addr_str(&h->svc, h->svc_port, svc, sizeof(svc));
		hj = json_pack("{s:s, s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}",
			       "client", pod_name(namer, ctx, h->client_pod, nbuf[0], sizeof(nbuf[0])),
			       "server",
			       h->server_pod ? pod_name(namer, ctx, h->server_pod, nbuf[1], sizeof(nbuf[1]))
					     : "(not on this node)",
			       "service", svc, "calls", (json_int_t)h->calls, "per_request",
			       r->c.requests ? calls / (double)r->c.requests : 0.0, "mean_us",
			       us(mc_hist_mean_ns(&h->h[HH_TOTAL])), "p50_us",
			       us((double)mc_hist_percentile(&h->h[HH_TOTAL], 50)), "p99_us",
			       us((double)mc_hist_percentile(&h->h[HH_TOTAL], 99)), "proxy_us",
			       us(cat[MC_CAT_PROXY] / calls), "kernel_us", us(cat[MC_CAT_KERNEL] / calls),
			       "app_us", us(cat[MC_CAT_APP] / calls), "remote_us",
			       us(cat[MC_CAT_REMOTE] / calls), "nested_us",
			       us((double)h->part_ns[MC_PART_NESTED] / calls), "parts_us", parts);
		for (k = 0; k < HOP_HISTS; k++)
			json_object_set_new(med, hh_name[k],
					    json_real(us((double)mc_hist_percentile(&h->h[k], 50))));
		if (hj) {
			json_object_set_new(hj, "median_us", med);
			json_array_append_new(hops, hj);
		} else {
			json_decref(med);
		}
	}
	pods = json_object();
	for (i = 0; i < POD_SLOTS; i++) {
		if (!r->pods[i].events)
			continue;
		json_object_set_new(pods, pod_name(namer, ctx, r->pods[i].pod_id, nbuf[0], sizeof(nbuf[0])),
				    json_pack("{s:I}", "events", (json_int_t)r->pods[i].events));
	}
	o = json_pack("{s:I, s:o, s:o, s:o, s:o}", "requests", (json_int_t)r->c.requests, "total",
		      hist_json(&r->total), "categories", cats, "hops", hops, "pods", pods);
	json_object_set_new(
		o, "reconstruction",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:I}", "events",
			  (json_int_t)r->c.events, "send_exit_time_events",
			  (json_int_t)r->c.exit_ts_events, "incomplete", (json_int_t)r->c.incomplete,
			  "nested_exchanges", (json_int_t)r->c.nested_exchanges, "walk_retries",
			  (json_int_t)r->c.walk_retries, "realigned", (json_int_t)r->c.realigned,
			  "evicted_sockets", (json_int_t)r->c.evicted_sockets, "evicted_threads",
			  (json_int_t)r->c.evicted_threads, "pending_dropped",
			  (json_int_t)r->c.pending_dropped, "sockets", (int)r->sock_ix.used, "threads",
			  (int)r->thr_ix.used, "memory_bytes", (json_int_t)mc_recon_memory(r)));
	{
		json_t *fr = json_object();

		for (i = 0; i < F_REASONS; i++)
			if (r->fails[i])
				json_object_set_new(fr, fail_name[i], json_integer((json_int_t)r->fails[i]));
		json_object_set_new(json_object_get(o, "reconstruction"), "incomplete_by_reason", fr);
		fr = json_object();
		for (k = 1; k < MC_MON_ROLES; k++) {
			char key[8];

			snprintf(key, sizeof(key), "%d", k);
			json_object_set_new(fr, key,
					    json_pack("{s:I, s:I}", "events",
						      (json_int_t)r->events_by_role[k], "peer_not_found",
						      (json_int_t)r->no_peer[k]));
		}
		json_object_set_new(json_object_get(o, "reconstruction"), "by_socket_role", fr);
	}
	return o;
}
