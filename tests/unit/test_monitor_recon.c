/* Unit tests of agent/monitor/recon.h: the latency monitor's reconstruction of a
 * request's path from socket send/receive events. Synthetic chains with known
 * intervals: each interval lands in its category and hop, the categories add
 * up to the end-to-end latency, nested hops are not double counted, a peer on
 * another node becomes "remote", late send events are waited for, and the
 * tables stay bounded whatever the number of connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/recon.h"

#define US 1000ull
#define MS (1000ull * US)

static struct mc_addr v4(const char *s)
{
	struct mc_addr a = {{0, 0, htonl(0xffff), 0}};

	assert_int_equal(inet_pton(AF_INET, s, &a.w[3]), 1);
	return a;
}

struct sock_def {
	uint64_t cookie;
	uint32_t pod, tid;
	uint8_t role;
	const char *la, *ra;
	uint16_t lp, rp;
	uint32_t sb, rb; /* snd_base, rcv_base (bpf/monitor.h); 0: not known */
};

static struct mc_mon_event ev(const struct sock_def *d, uint8_t dir, uint64_t ts, uint32_t bytes)
{
	struct mc_mon_event e = {0};

	e.ts = ts;
	e.sock = d->cookie;
	e.tid = d->tid;
	e.tgid = d->tid;
	e.pod_id = d->pod;
	e.bytes = bytes;
	e.dir = dir;
	e.role = d->role;
	e.lport = d->lp;
	e.rport = d->rp;
	e.laddr = v4(d->la);
	e.raddr = v4(d->ra);
	e.snd_base = d->sb;
	e.rcv_base = d->rb;
	return e;
}

/* one hop client (pod 1) -> server (pod 2): the six sockets of Istio's table */
struct hop {
	struct sock_def s[7];
};

static void hop_init(struct hop *h, uint64_t base, uint32_t cpod, const char *cip, uint32_t spod,
		     const char *sip, uint32_t app_tid_c, uint32_t app_tid_s, uint16_t eph)
{
	/* sidecar threads: 100 + pod */
	h->s[1] = (struct sock_def){base + 1, cpod, app_tid_c, 1, cip, "10.96.0.10", eph, 9080, 0, 0};
	h->s[2] = (struct sock_def){base + 2, cpod, 100 + cpod, 2, "127.0.0.1", cip, 15001, eph, 0, 0};
	h->s[3] = (struct sock_def){base + 3, cpod, 100 + cpod, 3, cip, sip, (uint16_t)(eph + 1), 9080, 0, 0};
	h->s[4] = (struct sock_def){base + 4, spod, 100 + spod, 4, sip, cip, 15006, (uint16_t)(eph + 1), 0, 0};
	h->s[5] = (struct sock_def){base + 5, spod, 100 + spod, 5, "127.0.0.6", sip, (uint16_t)(eph + 2), 9080, 0, 0};
	h->s[6] = (struct sock_def){base + 6, spod, app_tid_s, 6, sip, "127.0.0.6", 9080, (uint16_t)(eph + 2), 0, 0};
}

struct captured {
	int n;
	struct mc_request_result last;
	uint64_t app_sum, kernel_sum;
};

static void on_request(void *ctx, const struct mc_request_result *r)
{
	struct captured *c = ctx;

	c->n++;
	c->last = *r;
	c->app_sum += r->cat_ns[MC_CAT_APP];
	c->kernel_sum += r->cat_ns[MC_CAT_KERNEL];
}

static struct mc_recon *new_recon(struct captured *c, uint32_t max_sockets)
{
	struct mc_recon_opts o = {.on_request = on_request, .ctx = c, .max_sockets = max_sockets};
	struct mc_recon *r = mc_recon_new(&o);

	assert_non_null(r);
	return r;
}

#define E(r, d, dir, ts, b)                                                                       \
	do {                                                                                      \
		struct mc_mon_event e_ = ev(d, dir, ts, b);                                        \
		mc_recon_event(r, &e_);                                                           \
	} while (0)

/* one request through one hop starting at t (us offsets as in the comments);
 * the app takes app_us. Returns the end time. */
static uint64_t one_request(struct mc_recon *r, struct hop *h, uint64_t t, uint64_t app_us)
{
	uint64_t a = app_us * US;

	E(r, &h->s[1], MC_MON_SEND, t, 100);               /* T_send1 */
	E(r, &h->s[2], MC_MON_RECV, t + 10 * US, 100);     /* kernel 10 */
	E(r, &h->s[3], MC_MON_SEND, t + 30 * US, 120);     /* proxy 20 */
	E(r, &h->s[4], MC_MON_RECV, t + 45 * US, 120);     /* kernel 15 */
	E(r, &h->s[5], MC_MON_SEND, t + 75 * US, 110);     /* proxy 30 */
	E(r, &h->s[6], MC_MON_RECV, t + 80 * US, 110);     /* kernel 5 */
	E(r, &h->s[6], MC_MON_SEND, t + 80 * US + a, 300); /* app */
	E(r, &h->s[5], MC_MON_RECV, t + 90 * US + a, 300); /* kernel 10 */
	E(r, &h->s[4], MC_MON_SEND, t + 100 * US + a, 320); /* proxy 10 */
	E(r, &h->s[3], MC_MON_RECV, t + 120 * US + a, 320); /* kernel 20 */
	E(r, &h->s[2], MC_MON_SEND, t + 130 * US + a, 310); /* proxy 10 */
	E(r, &h->s[1], MC_MON_RECV, t + 137 * US + a, 310); /* kernel 7 */
	return t + 137 * US + a;
}

static void test_one_hop(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop h;
	uint64_t t = 1000 * MS, end = 0;
	json_t *rep, *hop0;
	int i;

	(void)state;
	hop_init(&h, 1000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	for (i = 0; i < 10; i++) {
		end = one_request(r, &h, t, 5000);
		t = end + 50 * US;
		mc_recon_tick(r, end + 10 * MS);
	}
	E(r, &h.s[1], MC_MON_SEND, t, 100); /* completes the last one */
	mc_recon_tick(r, t + 10 * MS);
	assert_int_equal(c.n, 10);
	assert_int_equal(c.last.end_ns - c.last.start_ns, (5000 + 137) * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_KERNEL], 67 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_PROXY], 70 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_APP], 5000 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_REMOTE], 0);
	rep = mc_recon_report(r, NULL, NULL);
	assert_int_equal(json_integer_value(json_object_get(rep, "requests")), 10);
	hop0 = json_array_get(json_object_get(rep, "hops"), 0);
	assert_non_null(hop0);
	assert_string_equal(json_string_value(json_object_get(hop0, "client")), "pod#1");
	assert_string_equal(json_string_value(json_object_get(hop0, "server")), "pod#2");
	assert_true(json_real_value(json_object_get(hop0, "app_us")) == 5000.0);
	assert_true(json_real_value(json_object_get(json_object_get(hop0, "parts_us"), "proxy_out")) == 30.0);
	assert_true(json_real_value(json_object_get(json_object_get(hop0, "parts_us"), "proxy_in")) == 40.0);
	assert_true(json_real_value(json_object_get(json_object_get(hop0, "parts_us"), "kernel_out")) == 17.0);
	assert_true(json_real_value(json_object_get(json_object_get(hop0, "parts_us"), "kernel_node")) == 35.0);
	assert_true(json_real_value(json_object_get(json_object_get(hop0, "parts_us"), "kernel_in")) == 15.0);
	{
		double share = json_real_value(json_object_get(
			json_object_get(json_object_get(rep, "categories"), "app"), "share"));
		assert_true(share > 0.97 && share < 0.98);
	}
	json_decref(rep);
	mc_recon_free(r);
}

/* client -> front -> leaf: front's app calls leaf inside its own request */
static void test_nested(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop a, b;
	uint64_t t = 5000 * MS, t2, end;
	json_t *rep, *hops;
	size_t i;
	int n;

	(void)state;
	hop_init(&a, 1000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	/* front's app thread (22) is the client of the second hop */
	hop_init(&b, 2000, 2, "10.244.1.11", 3, "10.244.1.12", 22, 33, 50000);
	for (n = 0; n < 3; n++) {
		E(r, &a.s[1], MC_MON_SEND, t, 100);
		E(r, &a.s[2], MC_MON_RECV, t + 10 * US, 100);
		E(r, &a.s[3], MC_MON_SEND, t + 30 * US, 120);
		E(r, &a.s[4], MC_MON_RECV, t + 45 * US, 120);
		E(r, &a.s[5], MC_MON_SEND, t + 75 * US, 110);
		E(r, &a.s[6], MC_MON_RECV, t + 80 * US, 110);
		/* front's app: 100 us, then the leaf hop (app 2000 us), then 50 us */
		t2 = one_request(r, &b, t + 180 * US, 2000);
		E(r, &a.s[6], MC_MON_SEND, t2 + 50 * US, 300);
		E(r, &a.s[5], MC_MON_RECV, t2 + 60 * US, 300);
		E(r, &a.s[4], MC_MON_SEND, t2 + 70 * US, 320);
		E(r, &a.s[3], MC_MON_RECV, t2 + 90 * US, 320);
		E(r, &a.s[2], MC_MON_SEND, t2 + 100 * US, 310);
		E(r, &a.s[1], MC_MON_RECV, t2 + 107 * US, 310);
		end = t2 + 107 * US;
		t = end + 100 * US;
	}
	E(r, &a.s[1], MC_MON_SEND, t, 100);
	mc_recon_tick(r, t + 10 * MS);
	assert_int_equal(c.n, 3); /* the leaf calls are not requests of their own */
	/* app: front 100 + 50, leaf 2000 */
	assert_int_equal(c.last.cat_ns[MC_CAT_APP], 2150 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_KERNEL], 2 * 67 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_PROXY], 2 * 70 * US);
	assert_int_equal(c.last.end_ns - c.last.start_ns,
			 c.last.cat_ns[0] + c.last.cat_ns[1] + c.last.cat_ns[2] + c.last.cat_ns[3]);
	rep = mc_recon_report(r, NULL, NULL);
	hops = json_object_get(rep, "hops");
	assert_int_equal(json_array_size(hops), 2);
	for (i = 0; i < 2; i++) {
		json_t *h = json_array_get(hops, i);
		const char *srv = json_string_value(json_object_get(h, "server"));

		assert_int_equal(json_integer_value(json_object_get(h, "calls")), 3);
		if (!strcmp(srv, "pod#3")) {
			assert_true(json_real_value(json_object_get(h, "app_us")) == 2000.0);
			assert_true(json_real_value(json_object_get(h, "mean_us")) > 2136.0);
		} else {
			assert_string_equal(srv, "pod#2");
			assert_true(json_real_value(json_object_get(h, "app_us")) == 150.0);
			assert_true(json_real_value(json_object_get(h, "nested_us")) == 2137.0);
		}
	}
	json_decref(rep);
	mc_recon_free(r);
}

/* the server is on another node: its sockets are not recorded here */
static void test_remote(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop h;
	uint64_t t = 100 * MS;
	int i;

	(void)state;
	hop_init(&h, 3000, 1, "10.244.1.10", 9, "10.244.2.10", 11, 99, 40000);
	for (i = 0; i < 2; i++) {
		E(r, &h.s[1], MC_MON_SEND, t, 100);
		E(r, &h.s[2], MC_MON_RECV, t + 10 * US, 100);
		E(r, &h.s[3], MC_MON_SEND, t + 30 * US, 120);
		E(r, &h.s[3], MC_MON_RECV, t + 830 * US, 320); /* 800 us on the other node */
		E(r, &h.s[2], MC_MON_SEND, t + 840 * US, 310);
		E(r, &h.s[1], MC_MON_RECV, t + 850 * US, 310);
		t += 1 * MS;
	}
	E(r, &h.s[1], MC_MON_SEND, t, 100);
	mc_recon_tick(r, t + 10 * MS);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.last.cat_ns[MC_CAT_REMOTE], 800 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_KERNEL], 20 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_PROXY], 30 * US);
	mc_recon_free(r);
}

/* NAT gave the two ends of a connection different ports (a conntrack clash:
 * after many short connections, REDIRECT also rewrites the app's source port
 * to 15001, and the sidecar sees another port than the app; the same on the
 * node hop). The connection's sequence numbers still pair them; without them
 * the client's time would all be "remote" (the control run shows it). */
static void nat_hop(struct hop *h, bool with_isn)
{
	hop_init(h, 5000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	h->s[2].rp = 18297; /* the app's port 40000, as the sidecar sees it */
	h->s[4].rp = 29001; /* 3's port 40001, as 4 sees it */
	if (!with_isn)
		return;
	/* ISNs: 1 -> 2 client 1000, server 5000; 3 -> 4 client 0xfffffff0 (wraps),
	 * server 7000. Active sockets: snd_base = own ISN, rcv_base = peer's + 1;
	 * passive: snd_base = own ISN + 1, rcv_base = peer's + 1. */
	h->s[1].sb = 1000, h->s[1].rb = 5001;
	h->s[2].sb = 5001, h->s[2].rb = 1001;
	h->s[3].sb = 0xfffffff0u, h->s[3].rb = 7001;
	h->s[4].sb = 7001, h->s[4].rb = 0xfffffff1u;
	h->s[5].sb = 300, h->s[5].rb = 401;
	h->s[6].sb = 401, h->s[6].rb = 301;
}

static void test_nat_port(void **state)
{
	int with_isn;

	(void)state;
	for (with_isn = 0; with_isn < 2; with_isn++) {
		struct captured c = {0};
		struct mc_recon *r = new_recon(&c, 0);
		struct hop h;
		uint64_t t = 1000 * MS, end;
		int i;

		nat_hop(&h, with_isn);
		for (i = 0; i < 5; i++) {
			end = one_request(r, &h, t, 500);
			t = end + 50 * US;
			mc_recon_tick(r, end + 10 * MS);
		}
		E(r, &h.s[1], MC_MON_SEND, t, 100);
		mc_recon_tick(r, t + 10 * MS);
		assert_int_equal(c.n, 5);
		if (with_isn) {
			assert_int_equal(c.last.cat_ns[MC_CAT_REMOTE], 0);
			assert_int_equal(c.last.cat_ns[MC_CAT_KERNEL], 67 * US);
			assert_int_equal(c.last.cat_ns[MC_CAT_PROXY], 70 * US);
			assert_int_equal(c.last.cat_ns[MC_CAT_APP], 500 * US);
		} else { /* the control: by ports alone, 1 finds no peer */
			assert_int_equal(c.last.cat_ns[MC_CAT_REMOTE], (500 + 137) * US);
		}
		mc_recon_free(r);
	}
}

/* the response's send event arrives after the receive that read it (the
 * sender's call ran the receiver inline and returned later), and even after
 * the client's next request: the walk waits for it */
static void test_late_send(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop h;
	uint64_t t = 100 * MS;

	(void)state;
	hop_init(&h, 4000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	one_request(r, &h, t, 100); /* aligns the byte counts */
	t += 1 * MS;
	E(r, &h.s[1], MC_MON_SEND, t, 100);
	E(r, &h.s[2], MC_MON_RECV, t + 10 * US, 100);
	E(r, &h.s[3], MC_MON_SEND, t + 30 * US, 120);
	E(r, &h.s[4], MC_MON_RECV, t + 45 * US, 120);
	E(r, &h.s[5], MC_MON_SEND, t + 75 * US, 110);
	E(r, &h.s[6], MC_MON_RECV, t + 80 * US, 110);
	E(r, &h.s[6], MC_MON_SEND, t + 180 * US, 300);
	E(r, &h.s[5], MC_MON_RECV, t + 190 * US, 300);
	E(r, &h.s[4], MC_MON_SEND, t + 200 * US, 320);
	E(r, &h.s[3], MC_MON_RECV, t + 220 * US, 320);
	/* sidecar A's send to the app: event delayed */
	E(r, &h.s[1], MC_MON_RECV, t + 237 * US, 310);
	E(r, &h.s[1], MC_MON_SEND, t + 300 * US, 100); /* next request */
	mc_recon_tick(r, t + 5 * MS);
	assert_int_equal(c.n, 1); /* the first request; the second waits */
	E(r, &h.s[2], MC_MON_SEND, t + 230 * US, 310);
	mc_recon_tick(r, t + 6 * MS);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.last.end_ns - c.last.start_ns, 237 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_KERNEL], 67 * US);
	mc_recon_free(r);
}

/* a response read in two pieces: the kernel interval ends at the read that
 * completed it; an idle connection completes its last response */
static void test_partial_reads_and_idle(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop h;
	uint64_t t = 100 * MS;

	(void)state;
	hop_init(&h, 5000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	one_request(r, &h, t, 100);
	t += 1 * MS;
	E(r, &h.s[1], MC_MON_SEND, t, 100);
	E(r, &h.s[2], MC_MON_RECV, t + 10 * US, 60);
	E(r, &h.s[2], MC_MON_RECV, t + 12 * US, 40);
	E(r, &h.s[3], MC_MON_SEND, t + 30 * US, 120);
	E(r, &h.s[4], MC_MON_RECV, t + 45 * US, 120);
	E(r, &h.s[5], MC_MON_SEND, t + 75 * US, 110);
	E(r, &h.s[6], MC_MON_RECV, t + 80 * US, 110);
	E(r, &h.s[6], MC_MON_SEND, t + 180 * US, 300);
	E(r, &h.s[5], MC_MON_RECV, t + 190 * US, 300);
	E(r, &h.s[4], MC_MON_SEND, t + 200 * US, 320);
	E(r, &h.s[3], MC_MON_RECV, t + 220 * US, 320);
	E(r, &h.s[2], MC_MON_SEND, t + 230 * US, 200);
	E(r, &h.s[2], MC_MON_SEND, t + 231 * US, 110);
	E(r, &h.s[1], MC_MON_RECV, t + 235 * US, 200);
	E(r, &h.s[1], MC_MON_RECV, t + 240 * US, 110);
	mc_recon_tick(r, t + 3 * MS); /* not idle yet */
	assert_int_equal(c.n, 1);
	mc_recon_tick(r, t + 100 * MS);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.last.end_ns - c.last.start_ns, 240 * US);
	/* kernel: 12 (last piece) + 15 + 5 + 10 + 20 + 9 (second send -> second read) */
	assert_int_equal(c.last.cat_ns[MC_CAT_KERNEL], 71 * US);
	assert_int_equal(c.last.cat_ns[MC_CAT_PROXY], (18 + 30 + 10 + 11) * US);
	mc_recon_free(r);
}

/* 100,000 connections: the tables stay at their bound */
static void test_bounded(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 1024);
	struct mc_recon_counters k;
	size_t mem = mc_recon_memory(r);
	struct hop h;
	uint64_t t = 100 * MS;
	int i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		hop_init(&h, 10000 + (uint64_t)i * 10, 1, "10.244.1.10", 2, "10.244.1.11",
			 (uint32_t)(1000 + i % 3000), 22, (uint16_t)(30000 + (i * 3) % 30000));
		t = one_request(r, &h, t, 10) + 10 * US;
		E(r, &h.s[1], MC_MON_SEND, t, 100);
		t += 10 * US;
		if (i % 64 == 0)
			mc_recon_tick(r, t);
	}
	mc_recon_tick(r, t + 10 * MS);
	mc_recon_counters(r, &k);
	assert_true(k.sockets <= 1024);
	assert_true(k.threads <= 4096);
	assert_int_equal(mc_recon_memory(r), mem);
	assert_true(k.evicted_sockets > 500000);
	/* recent requests are still reconstructed while the table churns */
	assert_true(c.n > 90000);
	mc_recon_free(r);
}

/* two requests at once through one single-threaded sidecar per pod: it reads
 * both, then forwards both (one event loop batch); the answers come back in
 * the other order. Each request keeps its own app time. */
static void test_concurrent_sidecar(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop a, b;
	uint64_t t = 200 * MS;
	json_t *rep;

	(void)state;
	/* one client thread (11), sidecar threads 101 and 102, app threads 22, 23 */
	hop_init(&a, 6000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	hop_init(&b, 6100, 1, "10.244.1.10", 2, "10.244.1.11", 11, 23, 41000);
	E(r, &a.s[1], MC_MON_SEND, t + 0 * US, 100);
	E(r, &b.s[1], MC_MON_SEND, t + 1 * US, 100);
	E(r, &a.s[2], MC_MON_RECV, t + 10 * US, 100);
	E(r, &b.s[2], MC_MON_RECV, t + 11 * US, 100);
	E(r, &a.s[3], MC_MON_SEND, t + 20 * US, 120);
	E(r, &b.s[3], MC_MON_SEND, t + 21 * US, 120);
	E(r, &a.s[4], MC_MON_RECV, t + 30 * US, 120);
	E(r, &b.s[4], MC_MON_RECV, t + 31 * US, 120);
	E(r, &a.s[5], MC_MON_SEND, t + 40 * US, 110);
	E(r, &b.s[5], MC_MON_SEND, t + 41 * US, 110);
	E(r, &a.s[6], MC_MON_RECV, t + 45 * US, 110);
	E(r, &b.s[6], MC_MON_RECV, t + 46 * US, 110);
	E(r, &b.s[6], MC_MON_SEND, t + 100 * US, 300); /* b's app: 54 us */
	E(r, &b.s[5], MC_MON_RECV, t + 110 * US, 300);
	E(r, &b.s[4], MC_MON_SEND, t + 120 * US, 320);
	E(r, &b.s[3], MC_MON_RECV, t + 130 * US, 320);
	E(r, &b.s[2], MC_MON_SEND, t + 140 * US, 310);
	E(r, &b.s[1], MC_MON_RECV, t + 150 * US, 310);
	E(r, &a.s[6], MC_MON_SEND, t + 200 * US, 300); /* a's app: 155 us */
	E(r, &a.s[5], MC_MON_RECV, t + 210 * US, 300);
	E(r, &a.s[4], MC_MON_SEND, t + 220 * US, 320);
	E(r, &a.s[3], MC_MON_RECV, t + 230 * US, 320);
	E(r, &a.s[2], MC_MON_SEND, t + 240 * US, 310);
	E(r, &a.s[1], MC_MON_RECV, t + 250 * US, 310);
	mc_recon_tick(r, t + 100 * MS); /* both responses went idle: complete */
	assert_int_equal(c.n, 2);
	rep = mc_recon_report(r, NULL, NULL);
	{
		json_t *app = json_object_get(json_object_get(rep, "categories"), "app");
		json_t *tot = json_object_get(rep, "total");

		/* (54 + 155) / 2 and (149 + 250) / 2 */
		assert_true(json_real_value(json_object_get(app, "mean_us")) == 104.5);
		assert_true(json_real_value(json_object_get(tot, "mean_us")) == 199.5);
	}
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "reconstruction"),
							    "incomplete")),
			 0);
	json_decref(rep);
	mc_recon_free(r);
}

/* a short connection's ports are reused by the next one before the first is
 * walked: each end pairs with the socket that existed at the time */
static void test_port_reuse(void **state)
{
	struct captured c = {0};
	struct mc_recon *r = new_recon(&c, 0);
	struct hop a, b;
	uint64_t t = 300 * MS, end;

	(void)state;
	hop_init(&a, 7000, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000);
	hop_init(&b, 7100, 1, "10.244.1.10", 2, "10.244.1.11", 11, 22, 40000); /* same ports */
	end = one_request(r, &a, t, 100);
	one_request(r, &b, end + 20 * US, 300);
	mc_recon_tick(r, end + 100 * MS);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.app_sum, 400 * US);
	assert_int_equal(c.kernel_sum, 2 * 67 * US);
	mc_recon_free(r);
}

static void test_hist(void **state)
{
	struct mc_hist *h = calloc(1, sizeof(*h));
	uint64_t v;

	(void)state;
	assert_non_null(h);
	for (v = 1; v <= 10000; v++)
		mc_hist_add(h, v * US);
	assert_int_equal(h->count, 10000);
	assert_true(mc_hist_mean_ns(h) == 5000.5 * US);
	v = mc_hist_percentile(h, 50);
	assert_true(v > 4850 * US && v < 5150 * US);
	v = mc_hist_percentile(h, 99);
	assert_true(v > 9600 * US && v < 10200 * US);
	assert_int_equal(mc_hist_percentile(h, 100), 10000 * US);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_hop),   cmocka_unit_test(test_nested),
		cmocka_unit_test(test_remote),    cmocka_unit_test(test_late_send),
		cmocka_unit_test(test_partial_reads_and_idle), cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_concurrent_sidecar), cmocka_unit_test(test_port_reuse),
		cmocka_unit_test(test_nat_port),
		cmocka_unit_test(test_hist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
