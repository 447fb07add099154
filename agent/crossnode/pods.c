/*
 * The cross-node shortcut for registered pods: our program on a pod's host
 * veth, and its endpoints (mc_tc_eps) while it is registered.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "crossnode/tc.h"
#include "log.h"

static bool mac_zero(const uint8_t *m)
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

static bool same_ip(const struct mc_addr *a, const struct mc_addr *b)
{
	return !mc_addr_zero(a) && !memcmp(a, b, sizeof(*a));
}

/* Does the node route the pod's addresses to this veth (routed CNI) or to
 * the bridge it is a port of (bridge CNI)? Then the host path would deliver
 * there too, and the registration's host_ifindex is believable. */
static int check_routes(const struct mc_pod *pod, const struct mc_link *l, char *why, size_t len)
{
	const struct mc_addr *ips[2] = {&pod->ip4, &pod->ip6};
	char buf[64];
	int i, oif, err;

	for (i = 0; i < 2; i++) {
		if (mc_addr_zero(ips[i]))
			continue;
		err = mc_addr_v4(ips[i]) ? mc_nl_route_get(AF_INET, (const uint8_t *)&ips[i]->w[3], &oif)
					 : mc_nl_route_get(AF_INET6, (const uint8_t *)ips[i]->w, &oif);
		if (err || !oif || (oif != l->ifindex && oif != l->master)) {
			snprintf(why, len, "the node routes %s to ifindex %d, not to %s or its bridge",
				 mc_format_ip(ips[i], buf, sizeof(buf)), err ? 0 : oif, l->name);
			return -1;
		}
	}
	return 0;
}

static void put_eps(struct mc_tc *t, const struct mc_pod *pod, const struct mc_tc_ep *ep)
{
	const struct mc_addr *ips[2] = {&pod->ip4, &pod->ip6};
	int i;

	for (i = 0; i < 2; i++)
		if (!mc_addr_zero(ips[i]))
			bpf_map_update_elem(MFD(t, mc_tc_eps), ips[i], ep, BPF_ANY);
}

static void del_eps(struct mc_tc *t, const struct mc_addr *ip4, const struct mc_addr *ip6,
		    uint32_t ifindex)
{
	const struct mc_addr *ips[2] = {ip4, ip6};
	struct mc_tc_ep ep;
	int i;

	for (i = 0; i < 2; i++)
		if (ips[i] && !mc_addr_zero(ips[i]) &&
		    bpf_map_lookup_elem(MFD(t, mc_tc_eps), ips[i], &ep) == 0 &&
		    (!ifindex || ep.ifindex == ifindex))
			bpf_map_delete_elem(MFD(t, mc_tc_eps), ips[i]);
}

void tc_pod_attach(struct mc_tc *t, const struct mc_pod *pod)
{
	struct att_entry *recs;
	struct mc_link l, master;
	struct mc_tc_ep ep = {0};
	struct mc_tc_att rec;
	int ifx = (int)pod->host_ifindex, err;
	char why[160];
	size_t i, n;

	if (!ifx) {
		pr_info("cross: pod %.*s registered without its host veth: it keeps the host path",
			(int)sizeof(pod->key), pod->key);
		return;
	}
	if (mac_zero(pod->mac)) {
		pr_info("cross: pod %.*s registered without its MAC: it keeps the host path",
			(int)sizeof(pod->key), pod->key);
		return;
	}
	err = tc_link(ifx, &l);
	if (err || strcmp(l.kind, "veth")) {
		pr_warn("cross: pod %.*s: its host veth (ifindex %d) %s: it keeps the host path",
			(int)sizeof(pod->key), pod->key, ifx,
			err ? "does not exist on this node" : "is not a veth");
		return;
	}
	if (check_routes(pod, &l, why, sizeof(why))) {
		pr_warn("cross: pod %.*s: %s: it keeps the host path", (int)sizeof(pod->key), pod->key, why);
		return;
	}
	/* an earlier veth of this pod (restarted with a new one), or a veth that
	 * still claims its addresses: let go of it */
	n = tc_all_records(t, &recs);
	for (i = 0; i < n; i++) {
		const struct mc_tc_att *r = &recs[i].rec;

		if (r->role != MC_TC_ROLE_POD || recs[i].ifindex == ifx)
			continue;
		if (r->netns_cookie == pod->netns_cookie || same_ip(&r->ip4, &pod->ip4) ||
		    same_ip(&r->ip6, &pod->ip6))
			tc_release_dev(t, recs[i].ifindex, r, "the pod has another veth now");
	}
	/* the same veth re-registered with other addresses: drop the old ones */
	if (bpf_map_lookup_elem(MFD(t, mc_tc_att), &ifx, &rec) == 0 && rec.role == MC_TC_ROLE_POD)
		del_eps(t, same_ip(&rec.ip4, &pod->ip4) ? NULL : &rec.ip4,
			same_ip(&rec.ip6, &pod->ip6) ? NULL : &rec.ip6, (uint32_t)ifx);
	err = tc_ensure_attached(t, ifx, MC_TC_ROLE_POD, l.name, &rec);
	if (err) {
		pr_warn("cross: pod %.*s: attach to %s: %s: it keeps the host path",
			(int)sizeof(pod->key), pod->key, l.name, strerror(-err));
		del_eps(t, &pod->ip4, &pod->ip6, (uint32_t)ifx);
		return;
	}
	rec.netns_cookie = pod->netns_cookie;
	rec.pod_id = pod->pod_id;
	rec.ip4 = pod->ip4;
	rec.ip6 = pod->ip6;
	bpf_map_update_elem(MFD(t, mc_tc_att), &ifx, &rec, BPF_ANY);

	ep.ifindex = (uint32_t)ifx;
	ep.mtu = l.mtu;
	memcpy(ep.mac, pod->mac, 6);
	/* the source MAC the host path gives packets into the pod: its bridge's
	 * (bridge CNI) or the veth's own (routed CNI) */
	if (l.master && tc_link(l.master, &master) == 0 && master.has_mac)
		memcpy(ep.gw_mac, master.mac, 6);
	else
		memcpy(ep.gw_mac, l.mac, 6);
	ep.pod_id = pod->pod_id;
	ep.netns_cookie = pod->netns_cookie;
	put_eps(t, pod, &ep);
	pr_debug("cross: pod %.*s on %s (ifindex %d)", (int)sizeof(pod->key), pod->key, l.name, ifx);
}

static void pod_detach(struct mc_tc *t, const struct mc_pod *pod)
{
	struct mc_tc_att rec;
	int ifx = (int)pod->host_ifindex;

	del_eps(t, &pod->ip4, &pod->ip6, (uint32_t)ifx);
	if (!ifx || bpf_map_lookup_elem(MFD(t, mc_tc_att), &ifx, &rec) || rec.role != MC_TC_ROLE_POD)
		return;
	if (rec.netns_cookie && rec.netns_cookie != pod->netns_cookie)
		return; /* another pod's now */
	tc_release_dev(t, ifx, &rec, "pod deregistered");
}

/* a pod veth changed (MTU, bridge): its endpoint follows */
void tc_refresh_pod_dev(struct mc_tc *t, int ifindex)
{
	struct mc_tc_att rec;
	struct mc_link l, master;
	struct mc_tc_ep ep;
	const struct mc_addr *ips[2] = {&rec.ip4, &rec.ip6};
	int i;

	if (bpf_map_lookup_elem(MFD(t, mc_tc_att), &ifindex, &rec) || rec.role != MC_TC_ROLE_POD ||
	    tc_link(ifindex, &l))
		return;
	for (i = 0; i < 2; i++) {
		if (mc_addr_zero(ips[i]) || bpf_map_lookup_elem(MFD(t, mc_tc_eps), ips[i], &ep) ||
		    ep.ifindex != (uint32_t)ifindex)
			continue;
		ep.mtu = l.mtu;
		if (l.master && tc_link(l.master, &master) == 0 && master.has_mac)
			memcpy(ep.gw_mac, master.mac, 6);
		else
			memcpy(ep.gw_mac, l.mac, 6);
		bpf_map_update_elem(MFD(t, mc_tc_eps), ips[i], &ep, BPF_ANY);
	}
}

/* records whose device went while nobody listened */
void tc_check_records(struct mc_tc *t)
{
	struct att_entry *recs;
	struct mc_link l;
	size_t i, n = tc_all_records(t, &recs);

	for (i = 0; i < n; i++) {
		if (tc_link(recs[i].ifindex, &l) == -ENODEV ||
		    (l.name[0] && strncmp(l.name, recs[i].rec.name, sizeof(l.name))))
			tc_forget_dev(t, recs[i].ifindex);
		else if (recs[i].rec.role == MC_TC_ROLE_POD)
			tc_refresh_pod_dev(t, recs[i].ifindex);
	}
}

void mc_tc_pod_added(struct mc_agent *a, const struct mc_pod *pod)
{
	struct mc_tc *t = mc_tc_of(a);

	pthread_mutex_lock(&t->lock);
	if (t->ready)
		tc_pod_attach(t, pod);
	pthread_mutex_unlock(&t->lock);
}

void mc_tc_pod_removed(struct mc_agent *a, const struct mc_pod *pod)
{
	struct mc_tc *t = mc_tc_of(a);

	pthread_mutex_lock(&t->lock);
	if (t->ready)
		pod_detach(t, pod);
	pthread_mutex_unlock(&t->lock);
}

