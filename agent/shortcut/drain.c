/* Leaving the shortcut without losing a byte: see drain.h. */
#include "shortcut/drain.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "control.h"

#ifdef MC_TEST_WIDEN_WINDOW
#include <unistd.h>
/* Test builds only (tests/integration/race.t): a millisecond between reading
 * a pair's backlog and deleting its sockets. The protocol does not depend on
 * that moment being short: a sender that counts after the read sees TCP (the
 * flip came first) and does not redirect. A sender that put its direction
 * back to REDIRECT would redirect in it, and the delete would free its bytes. */
#define widen_window() usleep(1000)
#else
#define widen_window() ((void)0)
#endif

uint64_t mc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool map_present(void *ctx, const struct mc_sock_key *k)
{
	const struct mc_drainer *d = ctx;
	__u64 cookie;

	return bpf_map_lookup_elem(d->socks_fd, k, &cookie) == 0;
}

static void map_remove(void *ctx, const struct mc_sock_key *k)
{
	const struct mc_drainer *d = ctx;
	const struct mc_pair *p = k->slot < d->n ? &d->pairs[k->slot] : NULL;
	__u64 cookie = 0;
	bool known = d->removed && p && k->side < 2 &&
		     __atomic_load_n(&p->redirected[k->side], __ATOMIC_RELAXED) &&
		     bpf_map_lookup_elem(d->socks_fd, k, &cookie) == 0;

	/* only a reader that was sent redirected bytes can have spent an edge
	 * on them; both ends of a pair live in the client's namespace but for
	 * a pair of sidecars, whose server end is in another pod's */
	if (bpf_map_delete_elem(d->socks_fd, k) == 0 && known)
		d->removed(d->removed_ctx, cookie, p->id.client_netns);
}

int mc_drainer_init(struct mc_drainer *d, struct mc_pair *pairs, uint32_t n, int socks_fd)
{
	d->pairs = pairs;
	d->n = n;
	d->socks_fd = socks_fd;
	memset(d->mode_leaves, 0, sizeof(d->mode_leaves));
	d->redirect_after_flip = 0;
	d->closed_unread = 0;
	d->progress_ns = NULL;
	d->ops.present = map_present;
	d->ops.remove = map_remove;
	d->ops.ctx = d;
	d->removed = NULL;
	d->removed_ctx = NULL;
	d->flip_ns = calloc(n, sizeof(*d->flip_ns));
	d->flip_id = calloc(n, sizeof(*d->flip_id));
	if (!d->flip_ns || !d->flip_id) {
		mc_drainer_free(d);
		return -ENOMEM;
	}
	return 0;
}

void mc_drainer_free(struct mc_drainer *d)
{
	free(d->flip_ns);
	free(d->flip_id);
	d->flip_ns = NULL;
	d->flip_id = NULL;
}

static int64_t backlog_of(const struct mc_pair *p, int side)
{
	uint64_t sent = __atomic_load_n(&p->sent[side], __ATOMIC_ACQUIRE);
	uint64_t consumed = __atomic_load_n(&p->consumed[side], __ATOMIC_ACQUIRE);

	return (int64_t)(sent - consumed);
}

static bool in_sockhash(const struct mc_drainer *d, uint32_t slot)
{
	struct mc_sock_key k = {.slot = slot, .side = MC_SIDE_CLIENT};

	if (d->ops.present(d->ops.ctx, &k))
		return true;
	k.side = MC_SIDE_SERVER;
	return d->ops.present(d->ops.ctx, &k);
}

static bool should_leave(const struct mc_pair *p, uint32_t modes, bool all)
{
	uint32_t d0 = __atomic_load_n(&p->dir[0], __ATOMIC_ACQUIRE);
	uint32_t d1 = __atomic_load_n(&p->dir[1], __ATOMIC_ACQUIRE);

	if (all || !(modes & mc_kind_mode(p->id.kind)))
		return true;
	/* both on TCP, or a leave seen between its two stores */
	if (d0 == MC_DIR_TCP || d1 == MC_DIR_TCP)
		return true;
	/* a lone end (its peer never arrived) that already went to TCP */
	return p->refs == 1 && (d0 == MC_DIR_EARLY_TCP || d1 == MC_DIR_EARLY_TCP);
}

uint32_t mc_pairs_live(const struct mc_pair *pairs, uint32_t n)
{
	uint32_t i, live = 0;

	for (i = 0; i < n; i++)
		if (__atomic_load_n(&pairs[i].refs, __ATOMIC_ACQUIRE) &&
		    !(__atomic_load_n(&pairs[i].flags, __ATOMIC_ACQUIRE) & MC_PAIR_DELETED))
			live++;
	return live;
}

void mc_drain_sweep(struct mc_drainer *d, uint32_t modes, bool all, uint64_t now_ns,
		    uint64_t grace_ns, struct mc_drain_result *r)
{
	uint32_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < d->n; i++) {
		struct mc_pair *p = &d->pairs[i];
		struct mc_sock_key k = {.slot = i};
		int64_t b0, b1;

		/* a sweep that moves is progress (liveness.h) */
		if (d->progress_ns && !(i & 4095))
			__atomic_store_n(d->progress_ns, mc_now_ns(), __ATOMIC_RELAXED);
		if (!__atomic_load_n(&p->refs, __ATOMIC_ACQUIRE) ||
		    (__atomic_load_n(&p->flags, __ATOMIC_ACQUIRE) & MC_PAIR_DELETED)) {
			d->flip_ns[i] = 0;
			continue;
		}
		if (d->flip_ns[i] && memcmp(&d->flip_id[i], &p->id, sizeof(p->id)) != 0)
			d->flip_ns[i] = 0; /* the slot now holds another connection */
		if (!d->flip_ns[i]) {
			if (!should_leave(p, modes, all))
				continue;
			if (!all && !(modes & mc_kind_mode(p->id.kind)) && p->id.kind < MC_KIND_MAX &&
			    (__atomic_load_n(&p->dir[0], __ATOMIC_ACQUIRE) != MC_DIR_TCP ||
			     __atomic_load_n(&p->dir[1], __ATOMIC_ACQUIRE) != MC_DIR_TCP))
				__atomic_fetch_add(&d->mode_leaves[p->id.kind], 1, __ATOMIC_RELAXED);
			/* step 1: no new redirected message in either direction */
			__atomic_store_n(&p->dir[0], MC_DIR_TCP, __ATOMIC_RELEASE);
			__atomic_store_n(&p->dir[1], MC_DIR_TCP, __ATOMIC_RELEASE);
			d->flip_ns[i] = now_ns ? now_ns : 1;
			d->flip_id[i] = p->id;
		}
		/* the flip before the backlog: a sender counts, then looks at its
		 * direction again (sock_shortcut.bpf.c): one of the two sees the other */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		b0 = backlog_of(p, 0);
		b1 = backlog_of(p, 1);
		/* step 2 and 3: after the grace period, once both readers caught up */
		if (now_ns - d->flip_ns[i] >= grace_ns && (b0 > 0 || b1 > 0) &&
		    !in_sockhash(d, i)) {
			/* both sockets closed (and left the SOCKHASH) with bytes unread:
			 * nothing is left to lose */
			__atomic_fetch_or(&p->flags, MC_PAIR_DELETED, __ATOMIC_RELEASE);
			__atomic_fetch_add(&d->closed_unread, 1, __ATOMIC_RELAXED);
			d->flip_ns[i] = 0;
			continue;
		}
		if (now_ns - d->flip_ns[i] < grace_ns || b0 > 0 || b1 > 0) {
			r->waiting++;
			r->backlog_bytes += (uint64_t)(b0 > 0 ? b0 : 0) + (uint64_t)(b1 > 0 ? b1 : 0);
			continue;
		}
		if (memcmp(&d->flip_id[i], &p->id, sizeof(p->id)) != 0)
			continue; /* reused under us: start over next sweep */
		/* a direction only moves towards TCP: one that is not TCP now was
		 * put back after the flip, and its sender may still redirect.
		 * Flip it again and start a new grace period. */
		if (__atomic_load_n(&p->dir[0], __ATOMIC_ACQUIRE) != MC_DIR_TCP ||
		    __atomic_load_n(&p->dir[1], __ATOMIC_ACQUIRE) != MC_DIR_TCP) {
			__atomic_store_n(&p->dir[0], MC_DIR_TCP, __ATOMIC_RELEASE);
			__atomic_store_n(&p->dir[1], MC_DIR_TCP, __ATOMIC_RELEASE);
			__atomic_fetch_add(&d->redirect_after_flip, 1, __ATOMIC_RELAXED);
			d->flip_ns[i] = now_ns ? now_ns : 1;
			r->waiting++;
			continue;
		}
		widen_window();
		k.side = MC_SIDE_CLIENT;
		d->ops.remove(d->ops.ctx, &k);
		k.side = MC_SIDE_SERVER;
		d->ops.remove(d->ops.ctx, &k);
		__atomic_fetch_or(&p->flags, MC_PAIR_DELETED, __ATOMIC_RELEASE);
		d->flip_ns[i] = 0;
		r->deleted++;
	}
}
