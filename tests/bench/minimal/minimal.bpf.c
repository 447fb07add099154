/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * minimal: the least a socket shortcut must do, as a benchmark configuration
 * (tests/bench/bench --configs minimal). NEVER INSTALLED, NEVER SAFE: no
 * accounting, no backlog bound, no FIN gate, no splice guard, no registry,
 * no mode, no fallback. It pairs the three socket pairs of one request
 * exactly (../../../docs/socket-shortcut.md; the socket table in Istio's
 * terms) and redirects every message from the first byte. What it measures is
 * the speed limit of this design on the machine at hand; meshcut's targets
 * (issue 21) are stated against it. Written once, not tuned afterwards.
 *
 * The key of a pair is the connecting socket's own address as both ends see
 * it: the active end's local (ip, port) and the accepted end's remote. The
 * three pairs keep that address through Istio's REDIRECT (only the accepted
 * end's local side changes, to 15001/15006). Loopback addresses (the
 * inbound passthrough's 127.0.0.6) repeat in every pod, so for them the key
 * also holds the network namespace; pod IPs are unique on a node.
 *   active end:   any connection (it cannot tell an app from its sidecar);
 *                 a miss on send is one hash lookup and TCP
 *   accepted end: local port 15001 (pair 1<->2), 15006 (3<->4), or remote
 *                 127.0.0.6 (5<->6); nothing else
 * IPv4 only: the benchmark's clusters are IPv4.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct pair_key {
	__u64 netns; /* 0 unless the address is loopback */
	__u32 ip;    /* network order */
	__u16 port;  /* host order */
	__u8 accepted; /* 1: the accepted end, 0: the active end */
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 131072);
	__type(key, struct pair_key);
	__type(value, __u64);
} minimal_socks SEC(".maps");

/* the key of the peer, per socket: sk_msg's only lookup besides the redirect */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pair_key);
} minimal_peer SEC(".maps");

static __always_inline int loopback(__u32 ip_be)
{
	return (bpf_ntohl(ip_be) >> 24) == 127;
}

SEC("sockops")
int minimal_sockops(struct bpf_sock_ops *ops)
{
	struct pair_key self = {}, *peer;
	__u32 ip, lip, rip, lport, rport, op = ops->op;
	struct bpf_sock *sk;

	if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (ops->family != 2 /* AF_INET */)
		return 1;
	/* every context field read once, before any branch: 6.1's verifier
	 * refuses a load through a pointer the compiler computed from two */
	lip = ops->local_ip4;
	rip = ops->remote_ip4;
	lport = ops->local_port;
	rport = (__u16)bpf_ntohl(ops->remote_port);
	if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) {
		ip = lip;
		self.port = (__u16)lport;
	} else {
		ip = rip;
		if (lport != 15001 && lport != 15006 && bpf_ntohl(ip) != 0x7f000006)
			return 1;
		self.port = (__u16)rport;
		self.accepted = 1;
	}
	self.ip = ip;
	if (loopback(ip))
		self.netns = bpf_get_netns_cookie(ops);
	sk = ops->sk;
	if (!sk)
		return 1;
	peer = bpf_sk_storage_get(&minimal_peer, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!peer)
		return 1;
	*peer = self;
	peer->accepted = !self.accepted;
	bpf_sock_hash_update(ops, &minimal_socks, &self, BPF_ANY);
	return 1;
}

SEC("sk_msg")
int minimal_sk_msg(struct sk_msg_md *msg)
{
	struct pair_key *peer;
	struct bpf_sock *sk = msg->sk;

	if (!sk)
		return SK_PASS;
	peer = bpf_sk_storage_get(&minimal_peer, sk, 0, 0);
	if (!peer)
		return SK_PASS;
	/* to the peer's receive queue, or TCP when it is not in the map */
	bpf_msg_redirect_hash(msg, &minimal_socks, peer, BPF_F_INGRESS);
	return SK_PASS;
}
