// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Another tool that uses sockmap on the same sockets as meshcut (tests only):
 * its sockops inserts every established TCP socket of its cgroup into its own
 * SOCKHASH, and its sk_msg counts messages and passes them. A socket carries
 * the sk_msg program of only one map: whoever inserts first owns the socket,
 * the second insert gets EBUSY.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EBUSY 16

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} other_socks SEC(".maps");

/* 0 inserted, 1 refused with EBUSY, 2 other errors, 3 messages seen */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} other_stats SEC(".maps");

static __always_inline void bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&other_stats, &i);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("sockops")
int other_sockops(struct bpf_sock_ops *ops)
{
	__u64 key;
	long err;

	if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    ops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (ops->family != 2 /* AF_INET */ && ops->family != 10 /* AF_INET6 */)
		return 1;
	key = bpf_get_socket_cookie(ops);
	err = bpf_sock_hash_update(ops, &other_socks, &key, BPF_NOEXIST);
	bump(err == 0 ? 0 : err == -EBUSY ? 1 : 2);
	return 1;
}

SEC("sk_msg")
int other_msg(struct sk_msg_md *msg)
{
	(void)msg;
	bump(3);
	return SK_PASS;
}
