// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Drop watcher (tests only): counts kfree_skb (packets the kernel drops, not
 * the ones it consumes) of IPv4 packets from or to one address, by the kernel
 * location that dropped them, so a test can tell drops of the host path from
 * drops in a redirect path.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 watch_ip = 0; /* network order */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);   /* location */
	__type(value, __u64); /* drops */
} drops SEC(".maps");

SEC("tp_btf/kfree_skb")
int BPF_PROG(on_drop, struct sk_buff *skb, void *location)
{
	__u64 loc = (__u64)location, one = 1, *n;
	struct iphdr ip;
	__u16 nh = BPF_CORE_READ(skb, network_header);
	unsigned char *head = BPF_CORE_READ(skb, head);

	if (BPF_CORE_READ(skb, protocol) != bpf_htons(0x0800) || nh == (__u16)~0U)
		return 0;
	if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
		return 0;
	if (ip.saddr != watch_ip && ip.daddr != watch_ip)
		return 0;
	n = bpf_map_lookup_elem(&drops, &loc);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&drops, &loc, &one, BPF_NOEXIST);
	return 0;
}
