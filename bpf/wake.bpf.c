// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Wake the readers of sockets the drain took out of the shortcut (the
 * contract: wake.h). Loaded by the agent only for one pass, in the network
 * namespace of each pod in turn (an iter/tcp walks the sockets of the
 * namespace that opened it).
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "wake.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MC_SOL_SOCKET 1
#define MC_SO_RCVLOWAT 18

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_WAKE_MAX);
	__type(key, __u64);  /* socket cookie */
	__type(value, __u8);
} mc_wake_socks SEC(".maps");

__u32 mc_woken;     /* sockets woken in this pass */
__u32 mc_wake_errs; /* bpf_setsockopt refused */

SEC("iter/tcp")
int mc_wake(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	__u64 cookie;
	int lowat;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc); /* full sockets only, locked by the iterator */
	if (!tp)
		return 0;
	cookie = bpf_get_socket_cookie(tp);
	if (!bpf_map_lookup_elem(&mc_wake_socks, &cookie))
		return 0;
	bpf_map_delete_elem(&mc_wake_socks, &cookie);
	/* the value it has: nothing changes but the check for waiting bytes */
	lowat = tp->inet_conn.icsk_inet.sk.sk_rcvlowat;
	if (bpf_setsockopt(tp, MC_SOL_SOCKET, MC_SO_RCVLOWAT, &lowat, sizeof(lowat)))
		__sync_fetch_and_add(&mc_wake_errs, 1);
	else
		__sync_fetch_and_add(&mc_woken, 1);
	return 0;
}
