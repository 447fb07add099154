/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Contract: the cross-node shortcut (tc programs <-> agent). See
 * docs/cross-node.md for the why; this file is the exact what.
 *
 * Two programs, one per hook:
 *   mc_tc_from_pod  ingress of a registered pod's host veth (packets the pod
 *                   sends): a packet of a taken flow goes straight to the
 *                   overlay device (bpf_fib_lookup for the egress device and
 *                   the L2 header, then bpf_redirect).
 *   mc_tc_from_ovl  ingress of the overlay device (flannel.1, vxlan.calico):
 *                   a packet of a taken flow for a registered local pod goes
 *                   straight into that pod (bpf_redirect_peer, the pod's MAC
 *                   from its registration).
 * Everything else is handed on untouched (-1: TCX_NEXT under tcx,
 * TC_ACT_UNSPEC under clsact; never TC_ACT_OK, which ends the chain).
 *
 * Flows. Only whole TCP flows are taken, from their first SYN on, and the
 * decision is kept in mc_tc_flows for the flow's life (per node: each node
 * decides for its own half). A packet of a flow that is not in the table is
 * a host-path packet, whatever it is: a flow the host's conntrack saw start
 * never leaves the host path, and a taken flow is never seen by conntrack.
 * A new flow is taken when all of these hold at its SYN:
 *   - the cross mode bit (control.h MC_MODE_CROSS) is on;
 *   - the local end is a registered pod whose host veth carries our program
 *     (mc_tc_eps; on the veth: the packet came in on that pod's own veth);
 *   - the remote end is inside another node's pod CIDR (mc_tc_remote: routes
 *     through an overlay device, learned by the agent over netlink), so the
 *     host would neither NAT nor masquerade it: service VIPs, NodePorts, node
 *     addresses and the outside world stay on the host path;
 *   - host policy (mc_tc_policy, mc_tc_cfg.keep_host_policy) does not keep it;
 *   - (from the pod) the host's FIB sends it to an overlay device, and the
 *     segment fits that route's MTU; (to the pod) it fits the pod's MTU;
 *   - there is room in mc_tc_flows (a full table: host path, counted).
 * The decision depends on addresses and configuration only, never on packet
 * contents, and once taken it does not change when the mode or the policy
 * does: those apply to new flows.
 *
 * ICMP errors (IPv4 type 3/11/12, ICMPv6 1-4) about a packet of a taken flow
 * follow that flow (the host's conntrack does not know the flow and would
 * call them INVALID). A packet of a taken flow that cannot go the short way
 * (FIB result other than success, e.g. FRAG_NEEDED; TTL/hop limit <= 1; too
 * large for the pod) is handed to the host path, which answers it as it
 * always did (ICMP frag-needed/packet-too-big, time exceeded, unreachable).
 * One exception keeps a taken flow whole: BPF_FIB_LKUP_RET_NO_NEIGH for an
 * established flow resolves the neighbour with bpf_redirect_neigh.
 */
#ifndef MESHCUT_TC_SHORTCUT_H
#define MESHCUT_TC_SHORTCUT_H

#include "pods.h"

/* attach types of kernels >= 6.6 (Debian's UAPI headers are 6.1) */
#define MC_BPF_TCX_INGRESS 46
#define MC_BPF_TCX_EGRESS 47
#define MC_BPF_LINK_TYPE_TCX 11

#define MC_TC_PASS (-1)     /* TCX_NEXT == TC_ACT_UNSPEC */
#define MC_TC_REDIRECT 7    /* TCX_REDIRECT == TC_ACT_REDIRECT */

#define MC_TC_MAX_FLOWS 65536
#define MC_TC_MAX_EPS 8192   /* pod addresses (two per dual-stack pod) */
#define MC_TC_MAX_OVERLAYS 16
#define MC_TC_MAX_REMOTE 1024
#define MC_TC_MAX_POLICY 256
#define MC_TC_MAX_ATT 8192

/* a flow as seen from its local pod (both hooks build the same key) */
struct mc_tc_flow_key {
	struct mc_addr pod;
	struct mc_addr peer;
	__u16 pod_port;  /* network order */
	__u16 peer_port; /* network order */
	__u32 proto;     /* IPPROTO_TCP */
};

#define MC_TC_FLOW_FROM_OVL (1u << 0) /* taken at a SYN from the overlay (else from the pod) */
#define MC_TC_FLOW_FIN_POD  (1u << 1) /* the pod sent a FIN */
#define MC_TC_FLOW_FIN_PEER (1u << 2) /* the peer sent a FIN */
#define MC_TC_FLOW_RST      (1u << 3) /* either side sent a RST */
#define MC_TC_FLOW_CLOSED(f) (((f) & MC_TC_FLOW_RST) || \
			      (((f) & (MC_TC_FLOW_FIN_POD | MC_TC_FLOW_FIN_PEER)) == \
			       (MC_TC_FLOW_FIN_POD | MC_TC_FLOW_FIN_PEER)))

struct mc_tc_flow {
	__u64 created_ns;  /* bpf_ktime_get_coarse_ns (CLOCK_MONOTONIC_COARSE) */
	__u64 seen_ns;     /* last packet, refreshed at most once a second */
	__u32 flags;       /* MC_TC_FLOW_* */
	__u32 ifindex;     /* the pod's host veth when the flow was taken */
	__u32 ovl_ifindex; /* the overlay its packets from the pod went to (0: not yet) */
	__u32 pad;
};

/* a registered pod's address -> where its packets go (agent-maintained) */
struct mc_tc_ep {
	__u32 ifindex;    /* host side of the pod's veth (carries mc_tc_from_pod) */
	__u32 mtu;        /* of that veth: larger packets take the host path */
	__u8 mac[6];      /* the pod's eth0 (registration) */
	__u8 gw_mac[6];   /* what the host path puts as source: the bridge's or the veth's MAC */
	__u32 pod_id;     /* registry handle (diagnostics) */
	__u64 netns_cookie;
};

/* an overlay device (key: ifindex) */
struct mc_tc_ovl {
	__u32 flags;
	__u32 mtu;
};

/* LPM trie key over the 128-bit mc_addr form (IPv4 /24 -> prefixlen 120) */
struct mc_tc_lpm_key {
	__u32 prefixlen;
	struct mc_addr addr;
};

/* mc_tc_remote value: another node's pod CIDR, routed through this overlay */
struct mc_tc_remote {
	__u32 ovl_ifindex;
	__u32 pad;
};

/* mc_tc_policy value */
#define MC_TC_POLICY_HOST     1 /* flows with an end in this CIDR keep the host path */
#define MC_TC_POLICY_SHORTCUT 2 /* ... may take the shortcut even with keep_host_policy */

struct mc_tc_policy {
	__u32 action;
	__u32 pad;
};

#define MC_TC_CONFIG_MAGIC 0x6d637463u /* "mctc": the agent has configured the map */

struct mc_tc_config {
	__u32 magic;            /* MC_TC_CONFIG_MAGIC, else no new flow is taken */
	__u32 keep_host_policy; /* 1: new flows keep the host path unless a SHORTCUT CIDR says so */
	__u32 reserved[14];
};

/* why a packet was handed on (counted per program) */
enum mc_tc_pass {
	MC_TC_P_NOT_IP = 0,   /* ARP, LLDP, any other ethertype; VLAN tagged */
	MC_TC_P_FRAGMENT,     /* IPv4 fragment, IPv6 fragment header */
	MC_TC_P_IP_OPTIONS,   /* IPv4 header with options, other IPv6 extension headers */
	MC_TC_P_NOT_TCP,      /* UDP, SCTP, ICMP that is not an error about a taken flow */
	/* from here on, a TCP flow's reason is found at its SYN; its later
	 * packets are NO_FLOW (one table lookup per packet, not three) */
	MC_TC_P_NOT_OURS,     /* not a registered pod's own address / not for a registered pod */
	MC_TC_P_NO_FLOW,      /* a non-SYN packet of a flow that is not on the shortcut */
	MC_TC_P_NOT_REMOTE,   /* the other end is not in another node's pod CIDR */
	MC_TC_P_MODE,         /* cross mode off */
	MC_TC_P_POLICY,       /* host policy keeps it */
	MC_TC_P_FIB,          /* FIB result other than success and FRAG_NEEDED */
	MC_TC_P_FRAG_NEEDED,  /* larger than the route's MTU (or the pod's) */
	MC_TC_P_TTL,          /* TTL / hop limit would expire */
	MC_TC_P_NOT_OVERLAY,  /* the FIB sends it somewhere that is not an overlay */
	MC_TC_P_TABLE_FULL,   /* no room for a new flow */
	MC_TC_P_MAX,
};

enum mc_tc_prog { MC_TC_PROG_FROM_POD = 0, MC_TC_PROG_FROM_OVL = 1, MC_TC_PROG_MAX = 2 };

struct mc_tc_stats {
	__u64 redirected; /* packets sent the short way */
	__u64 bytes;      /* their bytes (L2) */
	__u64 passed;     /* packets handed on */
	__u64 errors;     /* helper failures (the packet is handed on) */
	__u64 flows;      /* flows taken here */
	__u64 neigh;      /* redirects through bpf_redirect_neigh */
	__u64 pass[MC_TC_P_MAX];
};

/* agent-only: what meshcut attached to a device (key: ifindex) */
#define MC_TC_ROLE_POD 1
#define MC_TC_ROLE_OVL 2
#define MC_TC_MODE_TCX 1
#define MC_TC_MODE_CLSACT 2

struct mc_tc_att {
	__u32 role;           /* MC_TC_ROLE_* */
	__u32 mode;           /* MC_TC_MODE_* */
	__u32 handle, prio;   /* clsact filter */
	__u32 created_qdisc;  /* clsact: meshcut created the qdisc */
	__u32 prog_id;        /* the program attached (last update) */
	__u64 node_netns;     /* cookie of the netns the device is in (the node's) */
	__u64 netns_cookie;   /* role POD: the pod's netns */
	__u32 pod_id;
	__u32 pad;
	char name[16];        /* device name when attached */
	struct mc_addr ip4, ip6; /* role POD: its addresses */
};

#endif
