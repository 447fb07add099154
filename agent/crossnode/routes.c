/*
 * The cross-node shortcut's view of the node's routes: the overlay devices
 * (our program on their ingress) and the other nodes' pod CIDRs routed
 * through them (mc_tc_remote), learnt from the routing table.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

static bool is_overlay_link(struct mc_tc *t, const struct mc_link *l)
{
	size_t i;

	if (t->opts.n_overlays) {
		for (i = 0; i < t->opts.n_overlays; i++)
			if (!strcmp(l->name, t->opts.overlays[i]))
				return true;
		return false;
	}
	return !strcmp(l->kind, "vxlan") || !strcmp(l->kind, "geneve");
}

struct ovl_set {
	struct mc_tc *t;
	int ifindex[MC_TC_MAX_OVERLAYS];
	char name[MC_TC_MAX_OVERLAYS][16];
	unsigned mtu[MC_TC_MAX_OVERLAYS];
	size_t n;
};

static int collect_overlay(const struct mc_link *l, void *vctx)
{
	struct ovl_set *s = vctx;

	if (is_overlay_link(s->t, l) && s->n < MC_TC_MAX_OVERLAYS) {
		s->ifindex[s->n] = l->ifindex;
		snprintf(s->name[s->n], sizeof(s->name[0]), "%s", l->name);
		s->mtu[s->n] = l->mtu;
		s->n++;
	}
	return 0;
}

static bool in_set(const struct ovl_set *s, int ifindex)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->ifindex[i] == ifindex)
			return true;
	return false;
}

struct cidr_set {
	struct mc_tc_lpm_key key[MC_TC_MAX_REMOTE];
	struct mc_tc_remote val[MC_TC_MAX_REMOTE];
	size_t n;
	const struct ovl_set *ovl;
};

static int collect_route(const struct mc_nl_route *r, void *vctx)
{
	struct cidr_set *s = vctx;
	struct mc_tc_lpm_key k = {0};

	if (r->type != RTN_UNICAST || r->table != RT_TABLE_MAIN || !r->dst_len || !r->oif ||
	    !in_set(s->ovl, r->oif) || s->n >= MC_TC_MAX_REMOTE)
		return 0;
	if (r->family == AF_INET) {
		k.addr.w[2] = htonl(0xffff);
		memcpy(&k.addr.w[3], r->dst, 4);
		k.prefixlen = 96u + r->dst_len;
	} else {
		if (r->dst[0] == 0xfe && (r->dst[1] & 0xc0) == 0x80)
			return 0; /* link-local */
		memcpy(k.addr.w, r->dst, 16);
		k.prefixlen = r->dst_len;
	}
	s->key[s->n] = k;
	s->val[s->n].ovl_ifindex = (uint32_t)r->oif;
	s->n++;
	return 0;
}

/* Overlay devices and the pod CIDRs routed through them, as the node has
 * them now: attach to new overlays, let go of old ones, and make the remote
 * CIDR table exactly the routes. An overlay is usable for pods' packets
 * (mc_tc_ovls) only once its ingress carries our program: the answers of a
 * flow taken at a veth must come back through it. */
void tc_sync_overlays(struct mc_tc *t)
{
	static struct cidr_set cidrs;
	struct att_entry *recs;
	struct ovl_set ovl = {.t = t};
	struct mc_tc_lpm_key k, stale[64], *prev = NULL;
	size_t i, j, n, nstale = 0;
	int err;

	if (mc_nl_links(collect_overlay, &ovl))
		return;
	for (i = 0; i < ovl.n; i++) {
		struct mc_tc_ovl v = {.mtu = ovl.mtu[i]};
		struct mc_tc_att rec;

		err = tc_ensure_attached(t, ovl.ifindex[i], MC_TC_ROLE_OVL, ovl.name[i], &rec);
		if (err) {
			pr_warn("cross: attach to the overlay %s: %s (pods keep the host path to it)",
				ovl.name[i], strerror(-err));
			bpf_map_delete_elem(MFD(t, mc_tc_ovls), &ovl.ifindex[i]);
			continue;
		}
		bpf_map_update_elem(MFD(t, mc_tc_ovls), &ovl.ifindex[i], &v, BPF_ANY);
	}
	n = tc_all_records(t, &recs);
	for (i = 0; i < n; i++)
		if (recs[i].rec.role == MC_TC_ROLE_OVL && !in_set(&ovl, recs[i].ifindex))
			tc_release_dev(t, recs[i].ifindex, &recs[i].rec, "no longer an overlay device");

	memset(&cidrs, 0, sizeof(cidrs));
	cidrs.ovl = &ovl;
	if (mc_nl_routes(AF_INET, collect_route, &cidrs) || mc_nl_routes(AF_INET6, collect_route, &cidrs))
		return; /* keep what we have */
	for (i = 0; i < cidrs.n; i++)
		bpf_map_update_elem(MFD(t, mc_tc_remote), &cidrs.key[i], &cidrs.val[i], BPF_ANY);
	while (nstale < 64 && bpf_map_get_next_key(MFD(t, mc_tc_remote), prev, &k) == 0) {
		bool want = false;

		for (j = 0; j < cidrs.n; j++)
			if (!memcmp(&cidrs.key[j], &k, sizeof(k)))
				want = true;
		if (!want)
			stale[nstale++] = k;
		prev = &k;
	}
	for (i = 0; i < nstale; i++)
		bpf_map_delete_elem(MFD(t, mc_tc_remote), &stale[i]);
}
