/* The reconstruction's tables (recon_int.h): sockets, found by cookie and by
 * pair key (to find a socket's peer), threads, and the list of responses not
 * known to be complete yet. Both tables are index LRUs (index_list.h). */
#include "monitor/recon_int.h"

#include <stdlib.h>
#include <string.h>

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

/* the other end of a socket, as it was at time ts: short connections reuse
 * addresses and ports at once, so of the sockets holding the same key, the
 * newest that already existed then */
struct rsock *recon_peer_of(struct mc_recon *r, uint32_t slot, uint64_t ts)
{
	struct rsock *s = &r->socks[slot], *best = NULL, *p;
	uint32_t best_slot = NIL, it;
	struct pkey k, pk;
	int i, j;

	if ((p = recon_deref(r, s->peer)) && p->first_ts <= ts)
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
		if (!recon_deref(r, best->peer))
			best->peer = (struct ref){slot, s->gen};
	}
	return best;
}

/* -------------------------------------------------------- socket table */

void recon_open_remove(struct mc_recon *r, uint32_t i)
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

void recon_open_add(struct mc_recon *r, uint32_t i)
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
	recon_open_remove(r, i);
	s->cookie = 0;
	s->gen++;
}

uint32_t recon_sock_get(struct mc_recon *r, const struct mc_mon_event *e)
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

struct rthread *recon_thread_get(struct mc_recon *r, uint32_t tid)
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
