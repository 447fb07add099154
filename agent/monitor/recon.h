/*
 * The latency monitor's reconstruction: from the send/receive events of
 * registered pods' sockets (bpf/monitor.h) to each request's path, split into
 * proxy, kernel, application (and "remote": a peer this node does not see).
 * Pure user space (no BPF), so the unit tests feed it synthetic events.
 *
 * The intervals (docs/monitor.md has the full definition). For one hop,
 * 1 app A -> 2 sidecar A, 3 sidecar A -> 4 sidecar B, 5 sidecar B -> 6 app B and
 * back, a request runs from T_send(1) to T_recv(1) and crosses 11 intervals,
 * each in exactly one category:
 *   kernel  send on a socket -> receive on its peer  (1->2, 3->4, 5->6, 6->5, 4->3, 2->1)
 *   proxy   receive -> send inside a sidecar          (2->3, 4->5, 5->4, 3->2)
 *   app     receive -> send inside an app             (6->6; an app that calls other
 *           services has several: recv(6) -> send(1'), recv(1') -> send(1''), ...,
 *           recv(1'') -> send(6), and the hops it calls are their own hops)
 *
 * How a request's path is found, backwards from the receive that completes a
 * response on an app's client socket (role 1; "completes": the next event on
 * that socket is a send, or it stays idle):
 *   - a receive on Y came from the send on Y's peer X that sent the last byte it
 *     read (byte counts per direction; peers are paired from their addresses as
 *     Istio's table stores them, with the connection's ISNs in place of the
 *     client's port for 1 <-> 2 and 3 <-> 4, which NAT may rewrite): a kernel
 *     interval;
 *   - a send by thread T came from the latest receive by T before it (for a
 *     sidecar: on the socket of the other side, 2 <-> 3, 4 <-> 5): a proxy or an
 *     app interval;
 *   - a receive on a client socket (1, 3, 5) whose peer is not recorded (another
 *     node, an unregistered pod) came from the latest send on that same socket:
 *     a "remote" interval;
 *   - the walk stops at the send on the starting socket: T_send(1).
 * The intervals are consecutive, so they add up to the request's latency exactly.
 * Requests whose client socket belongs to a thread that is itself serving a
 * request (it received on a role-6 socket and has not answered yet) are nested
 * hops: they are part of the outer request's walk, not requests of their own.
 *
 * Bounded memory whatever the number of connections: fixed-size tables of
 * sockets and threads (least recently used ones are evicted), a bounded queue of
 * pending walks, fixed histograms.
 */
#ifndef MESHCUT_AGENT_MONITOR_RECON_H
#define MESHCUT_AGENT_MONITOR_RECON_H

#include <linux/types.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor.h" /* bpf/monitor.h: the BPF contract */
#include "monitor/hist.h"

/* --------------------------------------------------------------- results */

enum mc_cat { MC_CAT_PROXY, MC_CAT_KERNEL, MC_CAT_APP, MC_CAT_REMOTE, MC_CATS };

/* where an interval of one hop went */
enum mc_part {
	MC_PART_PROXY_OUT,   /* client's sidecar: 2 -> 3 and 3 -> 2 */
	MC_PART_PROXY_IN,    /* server's sidecar: 4 -> 5 and 5 -> 4 */
	MC_PART_KERNEL_OUT,  /* 1 <-> 2 */
	MC_PART_KERNEL_NODE, /* 3 <-> 4 */
	MC_PART_KERNEL_IN,   /* 5 <-> 6 */
	MC_PART_KERNEL_OTHER,/* any other recorded pair (e.g. app to app over loopback) */
	MC_PART_APP,         /* the server app's own time (the hops it calls excluded) */
	MC_PART_REMOTE,      /* behind a peer this node does not record */
	MC_PART_NESTED,      /* hops this hop's server called */
	MC_PARTS,
};

const char *mc_cat_name(enum mc_cat c);
const char *mc_part_name(enum mc_part p);
enum mc_cat mc_part_cat(enum mc_part p); /* MC_CATS for MC_PART_NESTED */

/* one request, as handed to the on_request callback */
struct mc_request_result {
	uint64_t start_ns, end_ns;     /* T_send(1), T_recv(1) */
	uint64_t cat_ns[MC_CATS];      /* adds up to end - start */
	uint32_t hops;
};

struct mc_recon_opts {
	uint32_t max_sockets;   /* default 16384 */
	uint32_t max_threads;   /* default 4096 */
	uint32_t max_hops;      /* distinct (client, server) hops kept; default 256 */
	uint32_t max_pending;   /* walks waiting; default 8192 */
	uint32_t max_sends;     /* sends kept, all sockets together; default 131072 */
	uint64_t margin_ns;     /* wait before walking (late events); default 2 ms */
	uint64_t max_wait_ns;   /* give up waiting for a send event; default 200 ms */
	uint64_t idle_ns;       /* a response with no further event is complete; default 50 ms */
	void (*on_request)(void *ctx, const struct mc_request_result *r);
	void *ctx;
};

struct mc_recon;

struct mc_recon *mc_recon_new(const struct mc_recon_opts *o);
void mc_recon_free(struct mc_recon *r);
void mc_recon_event(struct mc_recon *r, const struct mc_mon_event *e);
/* walk what is ready (now: CLOCK_MONOTONIC ns, the events' clock) */
void mc_recon_tick(struct mc_recon *r, uint64_t now_ns);
/* end of the session: walk everything complete, drop the rest */
void mc_recon_flush(struct mc_recon *r);

struct mc_recon_counters {
	uint64_t events, exit_ts_events;
	uint64_t requests, incomplete, nested_exchanges;
	uint64_t walk_retries, evicted_sockets, evicted_threads, pending_dropped;
	uint64_t realigned;
	uint32_t sockets, threads, hops; /* in use now */
};
void mc_recon_counters(const struct mc_recon *r, struct mc_recon_counters *c);
size_t mc_recon_memory(const struct mc_recon *r); /* bytes reserved (the bound) */

/* pod id -> "namespace/name" (NULL: unknown) */
typedef const char *(*mc_pod_namer)(void *ctx, uint32_t pod_id);

/* {"requests", "total": {...}, "categories": {"proxy": {mean_us, p50_us, p90_us,
 * p99_us, share}, ...}, "hops": [...], "pods": {...}, "reconstruction": {...}} */
json_t *mc_recon_report(const struct mc_recon *r, mc_pod_namer namer, void *ctx);

#endif
