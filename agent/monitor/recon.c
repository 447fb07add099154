/* The latency monitor's reconstruction (recon.h): its lifecycle, the events
 * coming in (each send remembers the receive it came from), and responses
 * that went idle. The tables are in tables.c, the walk in walk.c, the report
 * in report.c (recon_int.h). */
#include "monitor/recon_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
	slot = recon_sock_get(r, e);
	s = &r->socks[slot];
	if (e->ts > s->max_ts)
		s->max_ts = e->ts;
	t = recon_thread_get(r, e->tid);
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
			recon_open_add(r, slot);
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
			if (src && (d = recon_deref(r, src->s))) {
				d->up = (struct ref){slot, s->gen};
				d->up_ts = e->ts;
			}
		} else if (want) {
			/* a sidecar answers downstream (on 2 or 4): from the upstream
			 * socket the request went to, what it read there since */
			struct rsock *u = recon_deref(r, s->up);

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
			recon_open_remove(r, slot);
			enqueue(r, slot); /* the next request: the response is complete */
		}
		if (s->phase != PH_REQ) {
			s->phase = PH_REQ;
			s->req_ts = e->ts;
			/* a thread serving a request that calls a service: a nested hop */
			s->req_nested = recon_deref(r, t->open_inbound) != NULL;
		}
	}
}

void mc_recon_event(struct mc_recon *r, const struct mc_mon_event *e)
{
	ingest(r, e);
	if (r->pend_n || r->nretry)
		recon_process(r, r->watermark, false);
}

/* responses that stay idle are complete */
static void close_idle(struct mc_recon *r, uint64_t now, bool flushing)
{
	uint32_t i = r->open_head, next;

	while (i != NIL) {
		struct rsock *s = &r->socks[i];

		next = s->open_next;
		if (now >= s->last_recv_ts + r->o.idle_ns) {
			recon_open_remove(r, i);
			s->phase = PH_DONE;
			enqueue(r, i);
		} else if (flushing) {
			recon_open_remove(r, i);
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
	recon_process(r, now_ns, false);
}

void mc_recon_flush(struct mc_recon *r)
{
	/* what went idle before the last event is complete; younger ones are not known to be */
	close_idle(r, r->watermark, true);
	recon_process(r, r->watermark, true);
}

void mc_recon_counters(const struct mc_recon *r, struct mc_recon_counters *c)
{
	*c = r->c;
	c->sockets = r->sock_ix.used;
	c->threads = r->thr_ix.used;
	c->hops = r->nhops;
}
