/*
 * The reconstruction's state, shared by its files (not an API: recon.h is):
 *   recon.c   lifecycle, events in (what each send came from), idle responses
 *   tables.c  sockets (by cookie; by pair key, to find a socket's peer), threads
 *   walk.c    the walk back from a response to its request, and the accounting
 *   report.c  names and the JSON report
 */
#ifndef MESHCUT_AGENT_MONITOR_RECON_INT_H
#define MESHCUT_AGENT_MONITOR_RECON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "monitor/index_list.h"
#include "monitor/recon.h"

#define NIL MC_INDEX_NIL
#define WALK_STEPS 1024     /* events one request may cross */
#define WALK_DEPTH 16       /* nested hops */
#define WALK_HOPS 64        /* hops one request may make */
#define POD_SLOTS 4096      /* per-pod event counts (pods per node) */

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
extern const char *const hh_name[HOP_HISTS];

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
extern const char *const fail_name[F_REASONS];

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

/* the socket a reference names, if it still holds the same socket (every
 * step of the walk: inline) */
static inline struct rsock *recon_deref(struct mc_recon *r, struct ref ref)
{
	struct rsock *s;

	if (ref.slot == NIL || ref.slot >= r->o.max_sockets)
		return NULL;
	s = &r->socks[ref.slot];
	return s->cookie && s->gen == ref.gen ? s : NULL;
}

/* tables.c */
/* the other end of a socket, as it was at time ts (NULL: not recorded) */
struct rsock *recon_peer_of(struct mc_recon *r, uint32_t slot, uint64_t ts);
void recon_open_add(struct mc_recon *r, uint32_t i);
void recon_open_remove(struct mc_recon *r, uint32_t i);
/* the event's socket slot, added (maybe evicting the least recent) if new */
uint32_t recon_sock_get(struct mc_recon *r, const struct mc_mon_event *e);
struct rthread *recon_thread_get(struct mc_recon *r, uint32_t tid);

/* walk.c: walk what is ready (force: no more events) */
void recon_process(struct mc_recon *r, uint64_t now, bool force);

#endif
