/*
 * The cross-node shortcut's flows: handed to the host's conntrack when they
 * leave the shortcut alive, forgotten when they are over.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "crossnode/tc_conntrack.h"
#include "log.h"

#define CLOSED_KEEP_NS (120ull * 1000000000) /* conntrack's TIME_WAIT/CLOSE timeouts */
#define ORPHAN_KEEP_NS (5ull * 1000000000)

uint64_t tc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns() */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Live flows leave the shortcut: each one is first handed to the host's
 * conntrack of the network namespace we are in (crossnode/tc_conntrack.h), so
 * that its FIN or RST on the host path is not INVALID. The flows of device
 * ifindex (a pod's veth, or the overlay they went to), or with ifindex 0,
 * every flow whose pod's veth is recorded in network namespace netns. */
void tc_handover_flows(int flows_fd, int att_fd, int ifindex, uint64_t netns, struct handover *h)
{
	struct mc_tc_flow_key cur, next, *prev = NULL;
	struct mc_ct *ct = NULL;
	struct mc_tc_flow f;
	struct mc_tc_att rec;
	int rc;

	while (bpf_map_get_next_key(flows_fd, prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(flows_fd, &cur, &f) || MC_TC_FLOW_CLOSED(f.flags))
			continue;
		if (ifindex ? f.ifindex != (uint32_t)ifindex && f.ovl_ifindex != (uint32_t)ifindex
			    : bpf_map_lookup_elem(att_fd, &f.ifindex, &rec) || rec.node_netns != netns)
			continue;
		if (!ct && !(ct = mc_ct_open())) {
			rc = -errno;
		} else {
			rc = mc_ct_handover(ct, &cur, &f);
		}
		if (rc > 0) {
			h->handed++;
		} else if (rc < 0) {
			if (!h->failed++)
				h->err = rc;
		}
	}
	mc_ct_close(ct);
}

/* a device's live flows leave the shortcut (it is released or gone) */
void tc_handover_flows_of(struct mc_tc *t, int ifindex)
{
	struct handover h = {0};

	tc_handover_flows(MFD(t, mc_tc_flows), MFD(t, mc_tc_att), ifindex, 0, &h);
	t->flows_handed += h.handed;
	t->handover_errors += h.failed;
	if (h.handed || h.failed)
		pr_info("cross: %u live flows of ifindex %d handed to the host's conntrack%s%s", h.handed,
			ifindex, h.failed ? "; failed for some (they may end by timeouts): " : "",
			h.failed ? strerror(-h.err) : "");
}

void tc_delete_eps_of(struct mc_tc *t, int ifindex)
{
	struct mc_addr cur, next, *prev = NULL, dead[64];
	struct mc_tc_ep ep;
	size_t n = 0, i;

	while (bpf_map_get_next_key(MFD(t, mc_tc_eps), prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (n < 64 && bpf_map_lookup_elem(MFD(t, mc_tc_eps), &cur, &ep) == 0 &&
		    ep.ifindex == (uint32_t)ifindex)
			dead[n++] = cur;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(MFD(t, mc_tc_eps), &dead[i]);
}

/* ------------------------------------------------------------ flow GC */

static bool flow_expired(struct mc_tc *t, const struct mc_tc_flow_key *k, const struct mc_tc_flow *f,
			 uint64_t now)
{
	struct mc_tc_ep ep;

	if (now < f->seen_ns)
		return false;
	if (MC_TC_FLOW_CLOSED(f->flags) && now - f->seen_ns > CLOSED_KEEP_NS)
		return true;
	if (now - f->seen_ns > t->est_timeout_ns) /* what conntrack would do to an idle flow */
		return true;
	/* its pod went, or lives behind another veth now: the flow died with it */
	return (bpf_map_lookup_elem(MFD(t, mc_tc_eps), &k->pod, &ep) || ep.ifindex != f->ifindex) &&
	       now - f->seen_ns > ORPHAN_KEEP_NS;
}

/* Forget flows that are over. A flow is never forgotten while it may still
 * send a packet the host's conntrack would call INVALID (a FIN, an RST) */
void tc_gc_flows(struct mc_tc *t)
{
	enum { MAX_DEAD = 4096 };
	static struct mc_tc_flow_key dead[MAX_DEAD];
	struct mc_tc_flow_key cur, next, *prev = NULL;
	uint64_t now = tc_now_ns();
	uint32_t total = 0, gone = 0;
	struct mc_tc_flow f;
	size_t n = 0, i;

	while (bpf_map_get_next_key(MFD(t, mc_tc_flows), prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(MFD(t, mc_tc_flows), &cur, &f))
			continue;
		total++;
		if (n < MAX_DEAD && flow_expired(t, &cur, &f, now))
			dead[n++] = cur;
	}
	for (i = 0; i < n; i++) {
		/* again, in case a new SYN took the 4-tuple meanwhile */
		if (bpf_map_lookup_elem(MFD(t, mc_tc_flows), &dead[i], &f) || !flow_expired(t, &dead[i], &f, tc_now_ns()))
			continue;
		if (bpf_map_delete_elem(MFD(t, mc_tc_flows), &dead[i]) == 0)
			gone++;
	}
	t->flows_expired += gone;
	t->flows_live = total - gone;
}

