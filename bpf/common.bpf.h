/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel-side pieces every meshcut BPF object shares: the control map, the pod
 * registry maps, and address helpers. Maps are reused across objects by the
 * agent (same pin path), so their definitions must be identical everywhere.
 */
#ifndef MESHCUT_COMMON_BPF_H
#define MESHCUT_COMMON_BPF_H

#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "control.h"
#include "pods.h"

/* vmlinux.h carries no macros */
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef MSG_PEEK
#define MSG_PEEK 2
#endif
#ifndef MSG_WAITALL
#define MSG_WAITALL 0x100
#endif
#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif

#define MC_MAX_PODS 4096

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mc_control);
} mc_control SEC(".maps");

/* netns cookie -> pod */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_MAX_PODS);
	__type(key, __u64);
	__type(value, struct mc_pod);
} mc_pods SEC(".maps");

/* pod IP (v4-mapped or v6) -> netns cookie, for pods registered on this node */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MC_MAX_PODS);
	__type(key, struct mc_addr);
	__type(value, __u64);
} mc_pod_ips SEC(".maps");

static __always_inline struct mc_control *mc_get_control(void)
{
	__u32 zero = 0;
	struct mc_control *c = bpf_map_lookup_elem(&mc_control, &zero);

	return (c && c->magic == MC_CONTROL_MAGIC) ? c : NULL;
}

static __always_inline void mc_addr_from_v4(struct mc_addr *a, __u32 ip4_be)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0xffff);
	a->w[3] = ip4_be;
}

static __always_inline bool mc_addr_eq(const struct mc_addr *a, const struct mc_addr *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

static __always_inline bool mc_addr_is_zero(const struct mc_addr *a)
{
	return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}

static __always_inline bool mc_addr_is_v4(const struct mc_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0xffff);
}

/* 127.0.0.0/8 or ::1 */
static __always_inline bool mc_addr_is_loopback(const struct mc_addr *a)
{
	if (mc_addr_is_v4(a))
		return (bpf_ntohl(a->w[3]) >> 24) == 127;
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == 0 && a->w[3] == bpf_htonl(1);
}

/* Istio's inbound passthrough source: 127.0.0.6 or ::6 */
static __always_inline bool mc_addr_is_passthrough(const struct mc_addr *a)
{
	if (mc_addr_is_v4(a))
		return a->w[3] == bpf_htonl(0x7f000006);
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == 0 && a->w[3] == bpf_htonl(6);
}

/* exact 127.0.0.1 or ::1 (Istio's rules treat them specially) */
static __always_inline bool mc_addr_is_localhost(const struct mc_addr *a)
{
	if (mc_addr_is_v4(a))
		return a->w[3] == bpf_htonl(0x7f000001);
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == 0 && a->w[3] == bpf_htonl(1);
}

static __always_inline bool mc_pod_owns(const struct mc_pod *pod, const struct mc_addr *a)
{
	return (!mc_addr_is_zero(&pod->ip4) && mc_addr_eq(&pod->ip4, a)) ||
	       (!mc_addr_is_zero(&pod->ip6) && mc_addr_eq(&pod->ip6, a));
}

static __always_inline bool mc_cidr_match(const struct mc_cidr *c, const struct mc_addr *a)
{
	__u32 bits = c->prefix_len;
	int i;

	for (i = 0; i < 4; i++) {
		__u32 mask;

		if (bits == 0)
			return true;
		mask = bits >= 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
		if ((bpf_ntohl(a->w[i]) & mask) != (bpf_ntohl(c->addr.w[i]) & mask))
			return false;
		bits = bits >= 32 ? bits - 32 : 0;
	}
	return true;
}

static __always_inline bool mc_port_listed(const __u16 *ports, __u16 n, __u16 port)
{
	int i;

	for (i = 0; i < MC_MAX_PORTS; i++) {
		if (i >= n)
			break;
		if (ports[i] == port)
			return true;
	}
	return false;
}

#endif
