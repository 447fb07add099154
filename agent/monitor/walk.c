/* The reconstruction's walk (recon_int.h; the method is in recon.h): from the
 * receive that completes a response back to the send that started its
 * request, charging each interval to a category, then the accounting. */
#include "monitor/recon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* First use of receiving socket y (or after lost events): number y's bytes
 * like its peer x's. Once an event of x after this receive (at ts, y's byte
 * `end`) shows that every send of x before it has arrived: by the last send of
 * x before the receive. Before that, if y has read exactly what x sent so far
 * (a connection seen from its start, e.g. one request per connection): the
 * same numbering. A wrong guess (a message in flight when the session
 * started) breaks causality in the walk and is made again. WALK_FAIL: the
 * send is not kept. */
static enum walk_rc align(const struct mc_recon *r, struct rsock *y, const struct rsock *x,
			  uint64_t ts, uint64_t end)
{
	const struct sendrec *from;

	if (x->max_ts > ts) {
		from = send_before(r, x, ts);
		if (!from)
			return WALK_FAIL;
		y->rdelta = (int64_t)(from->end - end);
	} else if (x->sent == end) {
		y->rdelta = 0;
	} else {
		return WALK_NOT_READY;
	}
	y->aligned = 1;
	return WALK_OK;
}

static enum walk_rc do_walk(struct mc_recon *r, const struct pending *p, struct walk *w)
{
	struct rsock *root = recon_deref(r, p->s), *s, *x;
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
		s = recon_deref(r, cur);
		if (!s)
			FAIL(F_GONE);
		if (ts < p->req_ts) /* before the request: the path mixed requests up */
			FAIL(F_HOPS);
		if (recv) {
			const struct sendrec *from;

			if (s->role == MC_MON_ROLE_APP_CLIENT && cur.slot != w->stack[w->depth - 1].slot &&
			    !push_hop(w, cur.slot, s, ts))
				FAIL(F_TOO_LONG);
			x = recon_peer_of(r, cur.slot, ts);
			if (!x)
				r->no_peer[s->role]++;
			if (x) {
				uint64_t off;

				if (!s->aligned) {
					enum walk_rc rc = align(r, s, x, ts, end);

					if (rc == WALK_NOT_READY)
						return rc;
					if (rc == WALK_FAIL)
						FAIL(F_NO_SEND);
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
		struct rsock *s = recon_deref(r, p->s);

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
void recon_process(struct mc_recon *r, uint64_t now, bool force)
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
