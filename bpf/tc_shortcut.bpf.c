// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The cross-node shortcut: tc programs on registered pods' host veths and on
 * the overlay device. The contract (what is taken, what is handed on) is in
 * tc_shortcut.h; docs/cross-node.md explains why.
 */
#include "common.bpf.h"
#include "tc_shortcut.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_HLEN 14
#define IP_MF_OFFSET 0x3fff   /* IPv4 more-fragments flag and offset */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define PARSE_LEN 128         /* eth + IP + ICMP + inner IP + inner ports, both families */
#define TCP_PARSE_LEN4 (ETH_HLEN + 20 + 20) /* eth + IPv4 (no options) + TCP */
#define TCP_PARSE_LEN6 (ETH_HLEN + 40 + 20) /* eth + IPv6 + TCP */
#define SEEN_REFRESH_NS 1000000000ull

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#ifndef BPF_F_RECOMPUTE_CSUM
#define BPF_F_RECOMPUTE_CSUM (1ULL << 0)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_TC_MAX_FLOWS);
	__type(key, struct mc_tc_flow_key);
	__type(value, struct mc_tc_flow);
} mc_tc_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_TC_MAX_EPS);
	__type(key, struct mc_addr);
	__type(value, struct mc_tc_ep);
} mc_tc_eps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_TC_MAX_OVERLAYS);
	__type(key, __u32);
	__type(value, struct mc_tc_ovl);
} mc_tc_ovls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MC_TC_MAX_REMOTE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mc_tc_lpm_key);
	__type(value, struct mc_tc_remote);
} mc_tc_remote SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MC_TC_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mc_tc_lpm_key);
	__type(value, struct mc_tc_policy);
} mc_tc_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mc_tc_config);
} mc_tc_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MC_TC_PROG_MAX);
	__type(key, __u32);
	__type(value, struct mc_tc_stats);
} mc_tc_stats SEC(".maps");

/* the agent's record of what it attached where (never read here) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_TC_MAX_ATT);
	__type(key, __u32);
	__type(value, struct mc_tc_att);
} mc_tc_att SEC(".maps");

/* one parsed packet */
struct pkt {
	struct mc_addr src, dst;
	struct mc_addr in_src, in_dst; /* ICMP error: the packet it is about */
	__u32 seg_len;                 /* L3 bytes of one (GSO) segment */
	__be32 flowinfo;               /* IPv4 tos, or IPv6 flow info */
	__u16 sport, dport, in_sport, in_dport; /* network order */
	__u8 family;
	__u8 l4;                       /* IPPROTO_TCP, or IPPROTO_ICMP(V6) for an error */
	__u8 tcp_flags;
	__u8 ttl;
};

#define PARSED (-1)
#define PARSE_ERROR (-2)

static __always_inline void count(__u32 prog, int reason, struct __sk_buff *skb, bool error)
{
	struct mc_tc_stats *s = bpf_map_lookup_elem(&mc_tc_stats, &prog);

	if (!s)
		return;
	if (error)
		s->errors++;
	if (reason < 0) {
		s->redirected++;
		s->bytes += skb->len;
	} else {
		s->passed++;
		if (reason < MC_TC_P_MAX)
			s->pass[reason]++;
	}
}

static __always_inline int pass(__u32 prog, int reason, struct __sk_buff *skb)
{
	count(prog, reason, skb, false);
	return MC_TC_PASS;
}

static __always_inline int pass_error(__u32 prog, int reason, struct __sk_buff *skb)
{
	count(prog, reason, skb, true);
	return MC_TC_PASS;
}

static __always_inline void addr6(struct mc_addr *a, const struct in6_addr *s)
{
	a->w[0] = s->in6_u.u6_addr32[0];
	a->w[1] = s->in6_u.u6_addr32[1];
	a->w[2] = s->in6_u.u6_addr32[2];
	a->w[3] = s->in6_u.u6_addr32[3];
}

static __always_inline bool ext_header(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 50 || nh == 51 || nh == 60 || nh == 135 ||
	       nh == 139 || nh == 140 || nh == 253 || nh == 254;
}

/* the TCP header behind an L3 header of l3len bytes (gso: one segment's length) */
static __always_inline int parse_tcp(struct pkt *p, __u8 *tcp, void *data_end, __u32 l3len,
				     __u32 gso_size)
{
	if ((void *)(tcp + 20) > data_end)
		return PARSE_ERROR;
	p->l4 = IPPROTO_TCP;
	p->sport = *(__u16 *)tcp;
	p->dport = *(__u16 *)(tcp + 2);
	p->tcp_flags = tcp[13];
	if (gso_size)
		p->seg_len = l3len + (tcp[12] >> 4) * 4 + gso_size;
	return PARSED;
}

/* Make the packet's first want bytes (at most all of it) readable in place.
 * Only what the decision reads: pulling copies bytes out of the fragments,
 * and a TCP segment is a clone whose head it shares with the retransmission
 * queue, so a pull past its headers also allocates a new head (about 0.7 us
 * a segment here, more than the shortcut saves). Segments have their
 * headers in place already; only an ICMP error needs more (rare). */
static __always_inline int linear(struct __sk_buff *skb, __u32 want)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;

	if (want > skb->len)
		want = skb->len;
	if (data + want <= data_end)
		return 0;
	return bpf_skb_pull_data(skb, want) ? -1 : 0;
}

/* Parse the headers the decision needs. Returns PARSED for a TCP segment or
 * an ICMP error about a TCP segment, PARSE_ERROR when the packet could not be
 * read, and otherwise the reason to hand it on. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	__u32 proto = skb->protocol, gso_size = skb->gso_size;
	void *data, *data_end;

	if (skb->vlan_present)
		return MC_TC_P_NOT_IP;
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return MC_TC_P_NOT_IP;
	if (linear(skb, proto == bpf_htons(ETH_P_IP) ? TCP_PARSE_LEN4 : TCP_PARSE_LEN6))
		return PARSE_ERROR;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + ETH_HLEN;

		if ((void *)(ip + 1) > data_end)
			return PARSE_ERROR;
		if (ip->version != 4)
			return MC_TC_P_NOT_IP;
		if (ip->ihl != 5)
			return MC_TC_P_IP_OPTIONS;
		if (ip->frag_off & bpf_htons(IP_MF_OFFSET))
			return MC_TC_P_FRAGMENT;
		p->family = AF_INET;
		mc_addr_from_v4(&p->src, ip->saddr);
		mc_addr_from_v4(&p->dst, ip->daddr);
		p->ttl = ip->ttl;
		p->flowinfo = ip->tos;
		p->seg_len = bpf_ntohs(ip->tot_len);
		if (ip->protocol == IPPROTO_TCP)
			return parse_tcp(p, (void *)(ip + 1), data_end, 20, gso_size);
		if (ip->protocol == IPPROTO_ICMP) {
			__u8 *icmp, *ports;
			struct iphdr *in;

			if (linear(skb, PARSE_LEN))
				return PARSE_ERROR;
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			ip = data + ETH_HLEN;
			if ((void *)(ip + 1) > data_end)
				return PARSE_ERROR;
			icmp = (void *)(ip + 1);
			in = (void *)(icmp + 8);
			if ((void *)(in + 1) > data_end)
				return MC_TC_P_NOT_TCP;
			/* destination unreachable (frag needed), time exceeded, parameter problem */
			if (icmp[0] != 3 && icmp[0] != 11 && icmp[0] != 12)
				return MC_TC_P_NOT_TCP;
			if (in->version != 4 || in->protocol != IPPROTO_TCP || in->ihl < 5 ||
			    (in->frag_off & bpf_htons(0x1fff)))
				return MC_TC_P_NOT_TCP;
			ports = (void *)in + (in->ihl & 0xf) * 4;
			if ((void *)(ports + 4) > data_end)
				return MC_TC_P_NOT_TCP;
			p->l4 = IPPROTO_ICMP;
			mc_addr_from_v4(&p->in_src, in->saddr);
			mc_addr_from_v4(&p->in_dst, in->daddr);
			p->in_sport = *(__u16 *)ports;
			p->in_dport = *(__u16 *)(ports + 2);
			return PARSED;
		}
		return MC_TC_P_NOT_TCP;
	}

	{
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_ERROR;
		if (ip6->version != 6)
			return MC_TC_P_NOT_IP;
		p->family = AF_INET6;
		addr6(&p->src, &ip6->saddr);
		addr6(&p->dst, &ip6->daddr);
		p->ttl = ip6->hop_limit;
		p->flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		p->seg_len = 40 + bpf_ntohs(ip6->payload_len);
		if (ip6->nexthdr == IPPROTO_TCP)
			return parse_tcp(p, (void *)(ip6 + 1), data_end, 40, gso_size);
		if (ip6->nexthdr == IPPROTO_ICMPV6) {
			struct ipv6hdr *in;
			__u8 *icmp, *ports;

			if (linear(skb, PARSE_LEN))
				return PARSE_ERROR;
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			ip6 = data + ETH_HLEN;
			if ((void *)(ip6 + 1) > data_end)
				return PARSE_ERROR;
			icmp = (void *)(ip6 + 1);
			in = (void *)(icmp + 8);
			ports = (void *)(in + 1);
			/* destination unreachable, packet too big, time exceeded, parameter problem */
			if ((void *)(icmp + 8) > data_end || icmp[0] < 1 || icmp[0] > 4)
				return MC_TC_P_NOT_TCP;
			if ((void *)(ports + 4) > data_end)
				return MC_TC_P_NOT_TCP;
			if (in->version != 6 || in->nexthdr != IPPROTO_TCP)
				return MC_TC_P_NOT_TCP;
			p->l4 = IPPROTO_ICMPV6;
			addr6(&p->in_src, &in->saddr);
			addr6(&p->in_dst, &in->daddr);
			p->in_sport = *(__u16 *)ports;
			p->in_dport = *(__u16 *)(ports + 2);
			return PARSED;
		}
		if (ip6->nexthdr == 44)
			return MC_TC_P_FRAGMENT;
		if (ext_header(ip6->nexthdr))
			return MC_TC_P_IP_OPTIONS;
		return MC_TC_P_NOT_TCP;
	}
}

static __always_inline struct mc_tc_config *get_config(void)
{
	__u32 zero = 0;
	struct mc_tc_config *c = bpf_map_lookup_elem(&mc_tc_cfg, &zero);

	return (c && c->magic == MC_TC_CONFIG_MAGIC) ? c : NULL;
}

static __always_inline struct mc_tc_policy *policy_of(const struct mc_addr *a)
{
	struct mc_tc_lpm_key k = {.prefixlen = 128, .addr = *a};

	return bpf_map_lookup_elem(&mc_tc_policy, &k);
}

/* May a new flow between the local pod and peer take the shortcut? -1 yes,
 * or the reason why not. Addresses and configuration only. */
static __always_inline int decide(const struct mc_addr *pod, const struct mc_addr *peer)
{
	struct mc_control *ctl = mc_get_control();
	struct mc_tc_config *cfg = get_config();
	struct mc_tc_lpm_key k = {.prefixlen = 128, .addr = *peer};
	struct mc_tc_policy *a, *b;
	bool exception;

	if (!ctl || !(ctl->modes & MC_MODE_CROSS) || !cfg)
		return MC_TC_P_MODE;
	if (!bpf_map_lookup_elem(&mc_tc_remote, &k))
		return MC_TC_P_NOT_REMOTE;
	a = policy_of(peer);
	b = policy_of(pod);
	if ((a && a->action == MC_TC_POLICY_HOST) || (b && b->action == MC_TC_POLICY_HOST))
		return MC_TC_P_POLICY;
	exception = (a && a->action == MC_TC_POLICY_SHORTCUT) || (b && b->action == MC_TC_POLICY_SHORTCUT);
	if (cfg->keep_host_policy && !exception)
		return MC_TC_P_POLICY;
	return -1;
}

static __always_inline void touch(struct mc_tc_flow *f, __u32 bits)
{
	__u64 now = bpf_ktime_get_coarse_ns();

	if (bits && (f->flags & bits) != bits)
		__sync_fetch_and_or(&f->flags, bits);
	if (now - f->seen_ns > SEEN_REFRESH_NS)
		f->seen_ns = now;
}

static __always_inline __u32 close_bits(__u8 tcp_flags, bool from_pod)
{
	__u32 bits = 0;

	if (tcp_flags & TCP_RST)
		bits |= MC_TC_FLOW_RST;
	if (tcp_flags & TCP_FIN)
		bits |= from_pod ? MC_TC_FLOW_FIN_POD : MC_TC_FLOW_FIN_PEER;
	return bits;
}

static __always_inline bool syn_only(__u8 tcp_flags)
{
	return (tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN;
}

/* Insert a new flow; 0, or the reason to hand its SYN on */
static __always_inline int take(const struct mc_tc_flow_key *key, __u32 ifindex, __u32 ovl_ifindex,
				bool from_ovl, bool replace)
{
	struct mc_tc_flow f = {
		.created_ns = bpf_ktime_get_coarse_ns(),
		.flags = from_ovl ? MC_TC_FLOW_FROM_OVL : 0,
		.ifindex = ifindex,
		.ovl_ifindex = ovl_ifindex,
	};
	long err;

	f.seen_ns = f.created_ns;
	err = bpf_map_update_elem(&mc_tc_flows, key, &f, replace ? BPF_ANY : BPF_NOEXIST);
	if (err && err != -EEXIST) /* -EEXIST: the same SYN, retransmitted, on another CPU */
		return MC_TC_P_TABLE_FULL;
	return 0;
}

/* The L2/L3 rewrite the host's forwarding path would do: TTL (hop limit)
 * minus one, new MAC addresses (dmac NULL: left to bpf_redirect_neigh).
 * Returns 0 or -1. */
static __always_inline int rewrite(struct __sk_buff *skb, __u8 family, const __u8 *dmac,
				   const __u8 *smac)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (family == AF_INET) {
		struct iphdr *ip = data + ETH_HLEN;
		__u32 check;

		if ((void *)(ip + 1) > data_end)
			return -1;
		/* ip_decrease_ttl(): the header's sum does not change, so neither
		 * does a CHECKSUM_COMPLETE value */
		check = ip->check;
		check += bpf_htons(0x0100);
		ip->check = (__u16)(check + (check >= 0xFFFF));
		ip->ttl--;
	} else {
		struct ipv6hdr *ip6 = data + ETH_HLEN;
		__u8 hl;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		hl = ip6->hop_limit - 1;
		/* updates skb->csum when it is CHECKSUM_COMPLETE */
		if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, hop_limit), &hl, 1,
					BPF_F_RECOMPUTE_CSUM))
			return -1;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		eth = data;
	}
	if (!dmac)
		return 0;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, dmac, 6);
	__builtin_memcpy(eth->h_source, smac, 6);
	return 0;
}

static __always_inline bool is_overlay(__u32 ifindex)
{
	return bpf_map_lookup_elem(&mc_tc_ovls, &ifindex) != NULL;
}

/* From a pod to the overlay device. new_key: the flow to take (its SYN),
 * NULL for a packet of the flow fl, already taken. */
static __always_inline int to_overlay(struct __sk_buff *skb, struct pkt *p,
				      const struct mc_tc_flow_key *new_key, bool replace,
				      struct mc_tc_flow *fl)
{
	const __u32 prog = MC_TC_PROG_FROM_POD;
	struct bpf_fib_lookup f = {};
	struct mc_tc_stats *s;
	long rc;
	int r;

	if (p->ttl <= 1)
		return pass(prog, MC_TC_P_TTL, skb);
	f.family = p->family;
	f.l4_protocol = p->l4;
	if (p->l4 == IPPROTO_TCP) {
		f.sport = p->sport;
		f.dport = p->dport;
	}
	/* the length of one segment: the lookup checks it against the route's
	 * MTU (FRAG_NEEDED), GSO packets included */
	f.tot_len = (__u16)p->seg_len;
	f.ifindex = skb->ifindex;
	if (p->family == AF_INET) {
		f.tos = (__u8)p->flowinfo;
		f.ipv4_src = p->src.w[3];
		f.ipv4_dst = p->dst.w[3];
	} else {
		f.flowinfo = p->flowinfo;
		__builtin_memcpy(f.ipv6_src, p->src.w, 16);
		__builtin_memcpy(f.ipv6_dst, p->dst.w, 16);
	}
	rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	if (rc < 0)
		return pass_error(prog, MC_TC_P_FIB, skb);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH && !new_key && is_overlay(f.ifindex)) {
		/* a taken flow stays whole: the kernel resolves the neighbour */
		struct bpf_redir_neigh nh = {.nh_family = f.family};

		if (f.family == AF_INET)
			nh.ipv4_nh = f.ipv4_dst;
		else
			__builtin_memcpy(nh.ipv6_nh, f.ipv6_dst, 16);
		if (rewrite(skb, p->family, NULL, NULL))
			return pass_error(prog, MC_TC_P_FIB, skb);
		s = bpf_map_lookup_elem(&mc_tc_stats, &prog);
		if (s)
			s->neigh++;
		count(prog, -1, skb, false);
		return bpf_redirect_neigh(f.ifindex, &nh, sizeof(nh), 0);
	}
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return pass(prog, MC_TC_P_FRAG_NEEDED, skb);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return pass(prog, MC_TC_P_FIB, skb);
	/* the overlay this flow used so far needs no lookup */
	if (!(fl && fl->ovl_ifindex == f.ifindex)) {
		if (!is_overlay(f.ifindex))
			return pass(prog, MC_TC_P_NOT_OVERLAY, skb);
		if (fl)
			fl->ovl_ifindex = f.ifindex;
	}
	if (new_key) {
		r = take(new_key, skb->ifindex, f.ifindex, false, replace);
		if (r)
			return pass(prog, r, skb);
		s = bpf_map_lookup_elem(&mc_tc_stats, &prog);
		if (s)
			s->flows++;
	}
	if (rewrite(skb, p->family, f.dmac, f.smac)) {
		if (new_key)
			bpf_map_delete_elem(&mc_tc_flows, new_key);
		return pass_error(prog, MC_TC_P_FIB, skb);
	}
	count(prog, -1, skb, false);
	return bpf_redirect(f.ifindex, 0);
}

/* From the overlay into a local pod */
static __always_inline int to_pod(struct __sk_buff *skb, struct pkt *p, const struct mc_tc_ep *ep,
				  const struct mc_tc_flow_key *new_key, bool replace)
{
	const __u32 prog = MC_TC_PROG_FROM_OVL;
	struct mc_tc_ep e = *ep; /* the map value may change under us */
	struct mc_tc_stats *s;
	int r;

	if (p->ttl <= 1)
		return pass(prog, MC_TC_P_TTL, skb);
	if (p->seg_len > e.mtu)
		return pass(prog, MC_TC_P_FRAG_NEEDED, skb);
	if (new_key) {
		r = take(new_key, e.ifindex, 0, true, replace);
		if (r)
			return pass(prog, r, skb);
		s = bpf_map_lookup_elem(&mc_tc_stats, &prog);
		if (s)
			s->flows++;
	}
	if (rewrite(skb, p->family, e.mac, e.gw_mac)) {
		if (new_key)
			bpf_map_delete_elem(&mc_tc_flows, new_key);
		return pass_error(prog, MC_TC_P_NOT_OURS, skb);
	}
	count(prog, -1, skb, false);
	return bpf_redirect_peer(e.ifindex, 0);
}

/* ingress of a registered pod's host veth: what the pod sends */
SEC("tc")
int mc_tc_from_pod(struct __sk_buff *skb)
{
	const __u32 prog = MC_TC_PROG_FROM_POD;
	struct mc_tc_flow_key key = {.proto = IPPROTO_TCP};
	struct mc_tc_flow *fl;
	struct mc_tc_ep *ep;
	struct pkt p = {};
	int r;

	r = parse(skb, &p);
	if (r == PARSE_ERROR)
		return pass_error(prog, MC_TC_P_NOT_IP, skb);
	if (r != PARSED)
		return pass(prog, r, skb);
	if (p.l4 == IPPROTO_TCP) {
		bool replace = false;

		key.pod = p.src;
		key.peer = p.dst;
		key.pod_port = p.sport;
		key.peer_port = p.dport;
		fl = bpf_map_lookup_elem(&mc_tc_flows, &key);
		/* a taken flow, from the veth it was taken on (its pod's own) */
		if (fl && fl->ifindex == skb->ifindex &&
		    !(syn_only(p.tcp_flags) && MC_TC_FLOW_CLOSED(fl->flags))) {
			touch(fl, close_bits(p.tcp_flags, true));
			return to_overlay(skb, &p, NULL, false, fl);
		}
		/* most packets on a pod's veth: a flow that is not ours. One
		 * lookup decides it; the reasons are classified at SYNs only */
		if (!syn_only(p.tcp_flags))
			return pass(prog, MC_TC_P_NO_FLOW, skb);
		/* only the pod's own address, on its own veth */
		ep = bpf_map_lookup_elem(&mc_tc_eps, &p.src);
		if (!ep || ep->ifindex != skb->ifindex)
			return pass(prog, MC_TC_P_NOT_OURS, skb);
		/* a SYN: a new flow (or a closed one's 4-tuple again, or a pod's
		 * 4-tuple again behind a new veth) */
		r = decide(&key.pod, &key.peer);
		if (r >= 0) {
			if (fl)
				bpf_map_delete_elem(&mc_tc_flows, &key);
			return pass(prog, r, skb);
		}
		replace = fl != NULL;
		return to_overlay(skb, &p, &key, replace, NULL);
	}
	ep = bpf_map_lookup_elem(&mc_tc_eps, &p.src);
	if (!ep || ep->ifindex != skb->ifindex)
		return pass(prog, MC_TC_P_NOT_OURS, skb);
	/* an ICMP error the pod sends about a packet it received */
	if (!mc_addr_eq(&p.in_dst, &p.src))
		return pass(prog, MC_TC_P_NOT_OURS, skb);
	key.pod = p.in_dst;
	key.peer = p.in_src;
	key.pod_port = p.in_dport;
	key.peer_port = p.in_sport;
	fl = bpf_map_lookup_elem(&mc_tc_flows, &key);
	if (!fl)
		return pass(prog, MC_TC_P_NOT_TCP, skb);
	return to_overlay(skb, &p, NULL, false, fl);
}

/* ingress of the overlay device: what remote nodes send */
SEC("tc")
int mc_tc_from_ovl(struct __sk_buff *skb)
{
	const __u32 prog = MC_TC_PROG_FROM_OVL;
	struct mc_tc_flow_key key = {.proto = IPPROTO_TCP};
	struct mc_tc_flow *fl;
	struct mc_tc_ep *ep;
	struct pkt p = {};
	int r;

	r = parse(skb, &p);
	if (r == PARSE_ERROR)
		return pass_error(prog, MC_TC_P_NOT_IP, skb);
	if (r != PARSED)
		return pass(prog, r, skb);
	ep = bpf_map_lookup_elem(&mc_tc_eps, &p.dst);
	if (!ep)
		return pass(prog, MC_TC_P_NOT_OURS, skb);

	if (p.l4 == IPPROTO_TCP) {
		bool replace;

		key.pod = p.dst;
		key.peer = p.src;
		key.pod_port = p.dport;
		key.peer_port = p.sport;
		fl = bpf_map_lookup_elem(&mc_tc_flows, &key);
		if (fl && !(syn_only(p.tcp_flags) && MC_TC_FLOW_CLOSED(fl->flags))) {
			touch(fl, close_bits(p.tcp_flags, false));
			return to_pod(skb, &p, ep, NULL, false);
		}
		if (!syn_only(p.tcp_flags))
			return pass(prog, MC_TC_P_NO_FLOW, skb);
		/* flows are taken only from an overlay device (the program is
		 * attached nowhere else, but a device may stop being one) */
		r = is_overlay(skb->ifindex) ? decide(&key.pod, &key.peer) : MC_TC_P_NOT_OURS;
		if (r >= 0) {
			if (fl)
				bpf_map_delete_elem(&mc_tc_flows, &key);
			return pass(prog, r, skb);
		}
		replace = fl != NULL;
		return to_pod(skb, &p, ep, &key, replace);
	}
	/* an ICMP error about a packet the pod sent (frag needed on the way...) */
	if (!mc_addr_eq(&p.in_src, &p.dst))
		return pass(prog, MC_TC_P_NOT_OURS, skb);
	key.pod = p.in_src;
	key.peer = p.in_dst;
	key.pod_port = p.in_sport;
	key.peer_port = p.in_dport;
	fl = bpf_map_lookup_elem(&mc_tc_flows, &key);
	if (!fl)
		return pass(prog, MC_TC_P_NOT_TCP, skb);
	return to_pod(skb, &p, ep, NULL, false);
}
