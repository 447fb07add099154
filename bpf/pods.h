/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Contract: the pod registry (agent -> datapath).
 *
 * A pod is its network namespace: the agent learns the netns cookie from the
 * registration's own Unix socket (SO_NETNS_COOKIE), never from what the pod
 * claims, and the datapath finds a socket's pod by bpf_get_netns_cookie(). The
 * capture policy mirrors what istio-init did in that pod, so meshcut never
 * shortcuts a connection Istio does not capture.
 */
#ifndef MESHCUT_PODS_H
#define MESHCUT_PODS_H

#define MC_MAX_PORTS 16 /* per list; istio annotations rarely list more */
#define MC_MAX_CIDRS 8
#define MC_POD_KEY_LEN 320 /* "namespace/name": 63 + 1 + 253 + NUL, rounded */

/* an IPv6 address, or an IPv4 address as v4-mapped (::ffff:a.b.c.d), network order */
struct mc_addr {
	__u32 w[4];
};

struct mc_cidr {
	struct mc_addr addr;
	__u32 prefix_len; /* in bits of the 128-bit form (IPv4 /24 -> 120) */
};

#define MC_POD_IN_PORTS_ONLY   (1u << 0) /* in_ports lists the only captured inbound ports */
#define MC_POD_OUT_CIDRS_ONLY  (1u << 1) /* out_cidrs_incl lists the only captured outbound ranges */
/* the app's own sockets stay on TCP (annotation meshcut.io/app-sockets: tcp):
 * no outbound (1<->2) or inbound (5<->6) pair in this pod, only its sidecar's
 * pairs with other sidecars (3<->4). For apps that read blocking sockets and
 * take EAGAIN for an error (docs/semantics.md). */
#define MC_POD_APP_TCP         (1u << 2)
/* the app reads its sockets with recv(), never splice() (annotation
 * meshcut.io/app-reads: recv, the owner's promise): a direction towards an app
 * socket (1, 6) starts UNDECIDED and redirects from the first byte instead of
 * starting in EARLY_TCP (bpf/sock_shortcut.h) */
#define MC_POD_APP_READS_RECV  (1u << 3)

struct mc_pod {
	__u64 netns_cookie;
	__u32 pod_id;        /* agent's handle (diagnostics, counters) */
	__u32 flags;         /* MC_POD_* */
	__u32 proxy_uid;     /* the sidecar's uid (1337) */
	__u16 outbound_port; /* 15001 */
	__u16 inbound_port;  /* 15006 */
	__u16 n_in_ports, n_out_ports, n_cidrs_excl, n_cidrs_incl;
	__u16 in_ports[MC_MAX_PORTS];  /* excluded (or, with IN_PORTS_ONLY, included) inbound */
	__u16 out_ports[MC_MAX_PORTS]; /* excluded outbound destination ports */
	struct mc_cidr out_cidrs_excl[MC_MAX_CIDRS];
	struct mc_cidr out_cidrs_incl[MC_MAX_CIDRS];
	struct mc_addr ip4;  /* v4-mapped; all zero when the pod has no IPv4 */
	struct mc_addr ip6;  /* all zero when the pod has no IPv6 */
	__u32 host_ifindex;  /* host side of the pod's veth (tc shortcut) */
	__u8 mac[6];         /* pod's eth0 MAC (tc shortcut) */
	__u8 pad[2];
	__u64 registered_at; /* CLOCK_REALTIME seconds */
	char key[MC_POD_KEY_LEN]; /* "namespace/name": pinned state names its pods */
};

/* Agent-only, beside each mc_pods entry (map mc_pod_life, same key): how the
 * agent learns that a pod's network namespace is gone, also after a restart.
 * nsid is the id under which the node's (the agent's) network namespace knows
 * the pod's (verify.c assigns one at registration); the kernel announces its
 * removal (RTM_DELNSID) when that namespace dies, and a dump of the node's
 * nsids no longer lists it. Kept apart from mc_pod so that mc_pod keeps the
 * shape older layouts migrate from. */
struct mc_pod_life {
	__s32 nsid;  /* -1: unknown (e.g. a registration migrated from layout 2) */
	__u32 pad;
	__u64 registered_ns; /* CLOCK_BOOTTIME ns of the registration */
};

#endif
