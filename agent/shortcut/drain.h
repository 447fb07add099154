/*
 * Leaving the shortcut without losing a byte.
 *
 * Deleting a live socket from the SOCKHASH frees its unread redirected bytes,
 * and a direction that redirected must never race a later TCP byte. So a pair
 * leaves in three steps: (1) both directions are forced to TCP (new messages go
 * over TCP; the receiver reads its redirected bytes first, then TCP, in order),
 * (2) a grace period lets any sendmsg that decided to redirect before the flip
 * finish, (3) once each side's reader has consumed every redirected byte
 * (sent == consumed), both sockets are deleted from the SOCKHASH and are plain
 * TCP sockets again (FIONREAD, splice, close semantics all back to normal).
 * Right before it deletes, the drain looks at both directions once more: a
 * direction that is not TCP any more (a datapath defect) is flipped again and
 * gets a new grace period, and is counted, instead of being deleted under a
 * sender that still redirects.
 *
 * Used by the agent's periodic sweep (mode changes, demoted pairs, lone ends)
 * and by uninstall (every pair).
 */
#ifndef MESHCUT_AGENT_DRAIN_H
#define MESHCUT_AGENT_DRAIN_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>
#include "sock_shortcut.h"

/* what the drain does to the SOCKHASH (the BPF map by default; tests fake it) */
struct mc_drain_ops {
	bool (*present)(void *ctx, const struct mc_sock_key *k); /* socket still in it */
	void (*remove)(void *ctx, const struct mc_sock_key *k);
	void *ctx;
};

struct mc_drainer {
	struct mc_pair *pairs; /* mmap of mc_pairs */
	uint32_t n;
	int socks_fd;          /* the SOCKHASH */
	struct mc_drain_ops ops;
	uint64_t *flip_ns;     /* per slot: when the pair was forced to TCP, 0 = not yet */
	uint64_t mode_leaves[MC_KIND_MAX]; /* pairs this drain moved to TCP for a mode
					    * change before the datapath did (its own
					    * count is to_tcp[MC_TCP_MODE]) */
	struct mc_conn_id *flip_id; /* per slot: which connection that was */
	uint64_t closed_unread; /* pairs both of whose sockets closed while this
				 * drain still counted redirected bytes unread: an
				 * app that closed without reading them, or a recv
				 * hook that missed bytes (tests that read every
				 * byte assert 0) */
	uint64_t redirect_after_flip; /* pairs found with a direction off TCP again
				       * after this drain flipped them (never, with
				       * a datapath that only moves towards TCP):
				       * flipped again, not deleted */
	uint64_t *progress_ns; /* stamped (mc_now_ns, __atomic) while a sweep moves
				* through the slots: the agent's liveness (NULL: none) */
	/* each socket the default ops deleted from the SOCKHASH that had been
	 * sent redirected bytes, by cookie, with the namespace it most likely
	 * lives in (the client's): its reader gets woken (waker.h; NULL: none) */
	void (*removed)(void *ctx, uint64_t sock_cookie, uint64_t netns_hint);
	void *removed_ctx;
};

struct mc_drain_result {
	uint32_t waiting;        /* pairs forced to TCP, backlog not yet consumed */
	uint32_t deleted;        /* pairs removed from the SOCKHASH in this sweep */
	uint64_t backlog_bytes;  /* redirected bytes still unread in waiting pairs */
};

int mc_drainer_init(struct mc_drainer *d, struct mc_pair *pairs, uint32_t n, int socks_fd);
void mc_drainer_free(struct mc_drainer *d);

/* One sweep over every pair. all: every pair leaves (uninstall); otherwise a
 * pair leaves when its kind is not in modes, when a direction is on TCP (a
 * pair leaves as a whole: the datapath moves both, and the drain finishes a
 * leave it finds half done), or when it is a lone end whose direction went to
 * TCP. */
void mc_drain_sweep(struct mc_drainer *d, uint32_t modes, bool all, uint64_t now_ns,
		    uint64_t grace_ns, struct mc_drain_result *r);

/* pairs holding sockets that are still in the SOCKHASH */
uint32_t mc_pairs_live(const struct mc_pair *pairs, uint32_t n);

uint64_t mc_now_ns(void);

#endif
