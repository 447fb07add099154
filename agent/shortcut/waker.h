/*
 * Readers woken after their socket left the shortcut.
 *
 * tcp_bpf's recv() returns redirected bytes alone, before any TCP bytes
 * queued behind them. A reader that takes a short read for "drained" (an
 * edge-triggered one: HAProxy, nginx, Envoy) spends the edge the TCP bytes
 * brought on the read that empties the redirected ones, and then waits with
 * bytes queued until more arrive (docs/semantics.md). Once the drain has
 * deleted a socket from the SOCKHASH (its reader read every redirected byte),
 * the waker gives its readers one more wakeup: bpf/wake.h says how. A reader
 * with nothing queued gets none; one woken for nothing reads EAGAIN.
 *
 * An iter/tcp walks the sockets of the network namespace of the thread that
 * opens it, so a pass enters the pods' namespaces, from a thread of its own
 * (setns: CAP_SYS_ADMIN, which the agent has). It finds them where the
 * container runtime bind-mounts them (netns_dir: /var/run/netns for
 * containerd and CRI-O, `ip netns` for the test cluster), opens each only for
 * the pass and walks those whose cookie is a registered pod's, the ones the
 * queued sockets' pairs name first (a pass ends once it found them all; each
 * iter/tcp walk scans the node's whole TCP hash table). Between passes
 * the waker holds no namespace: a held one would outlive its pod, and the
 * pod's registration with it (podwatch.h waits for the kernel to free it).
 * Without netns_dir (or without the iterator: a kernel that refuses it) no
 * reader is woken: the behaviour before the waker, counted as missed.
 *
 * Thread-safe: the drain queues, the serve loop runs passes.
 */
#ifndef MESHCUT_AGENT_WAKER_H
#define MESHCUT_AGENT_WAKER_H

#include <pthread.h>
#include <stdint.h>

struct wake;
struct bpf_link;

/* a socket to wake, and the namespace it most likely lives in (0: unknown) */
struct mc_wake_sock {
	uint64_t cookie, netns;
};

struct mc_waker {
	pthread_mutex_t lock;
	const char *netns_dir; /* NULL or "": off */
	struct wake *skel;     /* loaded at the first pass that needs it */
	struct bpf_link *link;
	int state;             /* 0: not loaded yet, 1: ready, -errno: off */
	struct mc_wake_sock *queued;
	uint32_t n_queued, cap_queued;
	uint64_t woken, errors, missed; /* totals (__atomic), for the stats */
	int warned;
};

void mc_waker_init(struct mc_waker *w, const char *netns_dir);
void mc_waker_free(struct mc_waker *w);
/* a socket the drain deleted from the SOCKHASH; the drain's `removed`
 * callback as it is (drain.h), with the waker as its context */
void mc_waker_queue(void *waker, uint64_t sock_cookie, uint64_t netns_hint);
/* wake every queued socket's readers, walking the namespaces of the pods
 * whose netns cookies are in pods[n_pods] (none: nobody is woken, the queued
 * sockets count as missed): the number woken, or -errno */
int mc_waker_run(struct mc_waker *w, const uint64_t *pods, uint32_t n_pods);
/* the same in every namespace in netns_dir but the agent's own, for an
 * uninstall, which has no registry */
int mc_waker_run_any(struct mc_waker *w);

#endif
