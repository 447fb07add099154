// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Socket shortcut: pair the two ends of each sidecar-mesh connection on this
 * node and move its bytes socket to socket (bpf_msg_redirect_hash), skipping
 * TCP/IP, loopback, veth, bridge and iptables. The contract with the agent is
 * in sock_shortcut.h; the pairing and integrity rules are explained there.
 *
 *   sockops   (node cgroup)  ESTABLISHED: classify, take/join a pair slot, insert
 *                            STATE(CLOSE): give the slot back
 *   sk_msg    (SOCKHASH)     every sendmsg: redirect to the peer or pass to TCP
 *   tp_btf/sock_recv_length  every recv of a paired socket: count what its
 *   (or fexit/tcp_bpf_recvmsg) reader consumed (backlog bound and drain)
 *   tp_btf/sock_send_length  every send of a paired socket: take back what
 *   (or fexit/tcp_bpf_send*) sk_msg counted and the send did not deliver
 *                            (the agent picks the hooks the kernel offers)
 *   cgroup_skb/ingress       hold a FIN (and count an RST) that would close a
 *                            receiver still holding unread redirected bytes
 *   cgroup/setsockopt        SO_RCVLOWAT, TCP_ULP: the socket leaves the shortcut
 *
 * Everything fails open: a miss, a full table or any error leaves the
 * connection (or that direction of it) on plain TCP.
 *
 * Why one file of ~1,000 lines: it is one BPF object whose programs share
 * static inline helpers and the maps' definitions, and its instructions are
 * what the integrity tests proved; splitting it into headers is a change of
 * the datapath, to be made (and re-proved) on its own, not as a move.
 */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include "sock_shortcut.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MC_MAX_PAIRS 65536 /* paired connections per node; agent may resize */

/* ports Istio never captures (or that carry its own traffic) */
#define ISTIO_HBONE 15008
#define ISTIO_PROMETHEUS 15090
#define ISTIO_HEALTH 15021
#define ISTIO_STATUS 15020

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2 * MC_MAX_PAIRS);
	__type(key, struct mc_sock_key);
	__type(value, __u64);
} mc_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MC_MAX_PAIRS);
	__type(key, __u32);
	__type(value, struct mc_pair);
} mc_pairs SEC(".maps");

/* free pair slots, filled by the agent; FIFO so a freed slot is reused last */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, MC_MAX_PAIRS);
	__type(value, __u32);
} mc_free_slots SEC(".maps");

/* identity -> slot, while the second end of a connection has not arrived */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_MAX_PAIRS);
	__type(key, struct mc_conn_id);
	__type(value, __u32);
} mc_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mc_sock);
} mc_sock_state SEC(".maps");

/* netns cookie -> pair slots held by that pod's connections (the client's
 * pod); the agent deletes an entry when its pod goes */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_MAX_PODS);
	__type(key, __u64);
	__type(value, __u32);
} mc_pod_pairs SEC(".maps");

/* netns cookie -> what tells the agent that the pod's namespace is gone
 * (pods.h); only the agent reads and writes it */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MC_MAX_PODS);
	__type(key, __u64);
	__type(value, struct mc_pod_life);
} mc_pod_life SEC(".maps");

/* sockets holding a pair slot of this layout (control.h: MC_LIVE_MAP) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} mc_live SEC(".maps");

static __always_inline void live_add(__s64 d)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&mc_live, &zero);

	if (n)
		__sync_fetch_and_add(n, d);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MC_KIND_MAX);
	__type(key, __u32);
	__type(value, struct mc_kind_stats);
} mc_sock_stats SEC(".maps");

static __always_inline struct mc_kind_stats *stats_of(__u32 kind)
{
	return bpf_map_lookup_elem(&mc_sock_stats, &kind);
}

/* ------------------------------------------------------------------ sockops */

struct mc_view {
	struct mc_addr local, remote;
	__u16 lport, rport;
};

/* A 32-bit field of the sockops context, loaded right here: left to itself
 * the compiler merges the IPv4 and the IPv6 branch's loads into one through a
 * computed context pointer, which older kernels' verifiers (6.1) refuse
 * ("dereference of modified ctx ptr"). */
#define OPS_U32(ops, field)                                                                \
	({                                                                                 \
		__u32 __v;                                                                 \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                     \
			     : "=r"(__v)                                                   \
			     : "r"(ops), "i"(__builtin_offsetof(struct bpf_sock_ops, field))); \
		__v;                                                                       \
	})

static __always_inline void view_of(struct bpf_sock_ops *ops, struct mc_view *v)
{
	if (ops->family == AF_INET) {
		mc_addr_from_v4(&v->local, OPS_U32(ops, local_ip4));
		mc_addr_from_v4(&v->remote, OPS_U32(ops, remote_ip4));
	} else {
		v->local.w[0] = OPS_U32(ops, local_ip6[0]);
		v->local.w[1] = OPS_U32(ops, local_ip6[1]);
		v->local.w[2] = OPS_U32(ops, local_ip6[2]);
		v->local.w[3] = OPS_U32(ops, local_ip6[3]);
		v->remote.w[0] = OPS_U32(ops, remote_ip6[0]);
		v->remote.w[1] = OPS_U32(ops, remote_ip6[1]);
		v->remote.w[2] = OPS_U32(ops, remote_ip6[2]);
		v->remote.w[3] = OPS_U32(ops, remote_ip6[3]);
	}
	v->lport = (__u16)ops->local_port;                /* host order */
	/* the kernel shifts the network-order port into the upper 16 bits on
	 * little-endian machines: ntohl() yields the port on either endianness */
	v->rport = (__u16)bpf_ntohl(ops->remote_port);
}

static __always_inline bool istio_special_port(__u16 port)
{
	return port == ISTIO_HBONE || port == ISTIO_PROMETHEUS || port == ISTIO_HEALTH ||
	       port == ISTIO_STATUS;
}

/* Would istio-init's rules have captured this inbound port into 15006? */
static __always_inline bool inbound_captured(const struct mc_pod *pod, __u16 port)
{
	bool listed;

	if (istio_special_port(port))
		return false;
	listed = mc_port_listed(pod->in_ports, pod->n_in_ports, port);
	return (pod->flags & MC_POD_IN_PORTS_ONLY) ? listed : !listed;
}

/* Would an app's (non-proxy) connection to dst:port have been redirected to
 * 15001? Mirrors ISTIO_OUTPUT: excluded ports, loopback/own-IP destinations
 * (they leave through lo and RETURN for non-proxy owners), 127.0.0.1, and the
 * excluded/included outbound IP ranges. */
static __always_inline bool outbound_captured(const struct mc_pod *pod, const struct mc_addr *dst,
					      __u16 port)
{
	int i;

	if (mc_port_listed(pod->out_ports, pod->n_out_ports, port))
		return false;
	if (mc_addr_is_loopback(dst) || mc_pod_owns(pod, dst))
		return false;
	for (i = 0; i < MC_MAX_CIDRS; i++) {
		if (i >= pod->n_cidrs_excl)
			break;
		if (mc_cidr_match(&pod->out_cidrs_excl[i], dst))
			return false;
	}
	if (pod->flags & MC_POD_OUT_CIDRS_ONLY) {
		for (i = 0; i < MC_MAX_CIDRS; i++) {
			if (i >= pod->n_cidrs_incl)
				break;
			if (mc_cidr_match(&pod->out_cidrs_incl[i], dst))
				return true;
		}
		return false;
	}
	return true;
}

/*
 * Classify one end of a just-established connection of a registered pod.
 * Returns the kind (MC_KIND_NONE: leave it alone) and fills the identity
 * fields this end knows: client netns/address (and port for 5<->6) and its side.
 */
static __always_inline __u32 classify(struct bpf_sock_ops *ops, const struct mc_pod *pod,
				      __u64 netns, bool proxy, bool active, struct mc_conn_id *id,
				      __u8 *side)
{
	struct mc_view v = {};
	__u64 *peer_netns;
	struct mc_pod *dst_pod;

	view_of(ops, &v);
	if (active) {
		id->client_netns = netns;
		id->client_ip = v.local;
		*side = MC_SIDE_CLIENT;
		if (!proxy) /* socket 1: app -> service, captured to 15001 */
			return outbound_captured(pod, &v.remote, v.rport) ? MC_KIND_OUTBOUND
									  : MC_KIND_NONE;
		if (mc_addr_is_passthrough(&v.local)) { /* socket 5: sidecar -> its app */
			id->client_port = v.lport;
			return mc_pod_owns(pod, &v.remote) && inbound_captured(pod, v.rport)
				       ? MC_KIND_INBOUND
				       : MC_KIND_NONE;
		}
		/* socket 3: sidecar -> a pod registered on this node, captured to 15006 */
		if (!mc_pod_owns(pod, &v.local) || v.rport == ISTIO_HBONE)
			return MC_KIND_NONE;
		peer_netns = bpf_map_lookup_elem(&mc_pod_ips, &v.remote);
		if (!peer_netns)
			return MC_KIND_NONE; /* other node, or not meshed: never paired here */
		dst_pod = bpf_map_lookup_elem(&mc_pods, peer_netns);
		if (!dst_pod || !inbound_captured(dst_pod, v.rport))
			return MC_KIND_NONE;
		return MC_KIND_NODE;
	}

	id->client_ip = v.remote;
	*side = MC_SIDE_SERVER;
	if (proxy && v.lport == pod->outbound_port) { /* socket 2 */
		id->client_netns = netns;
		return MC_KIND_OUTBOUND;
	}
	if (proxy && v.lport == pod->inbound_port) { /* socket 4 */
		peer_netns = bpf_map_lookup_elem(&mc_pod_ips, &v.remote);
		if (!peer_netns)
			return MC_KIND_NONE;
		id->client_netns = *peer_netns;
		return MC_KIND_NODE;
	}
	if (!proxy && mc_addr_is_passthrough(&v.remote) && inbound_captured(pod, v.lport)) {
		id->client_netns = netns; /* socket 6 */
		id->client_port = v.rport;
		return MC_KIND_INBOUND;
	}
	return MC_KIND_NONE;
}

/* Charge a new slot to the connecting pod, within control.pod_pairs_max.
 * Returns false when the pod holds its share already. A pod whose counter
 * cannot be made (more pods than the map holds) is not limited: fail open. */
static __always_inline bool pod_pairs_charge(const struct mc_control *ctl, __u64 netns)
{
	__u32 zero = 0, *used;

	if (!ctl->pod_pairs_max)
		return true;
	used = bpf_map_lookup_elem(&mc_pod_pairs, &netns);
	if (!used) {
		bpf_map_update_elem(&mc_pod_pairs, &netns, &zero, BPF_NOEXIST);
		used = bpf_map_lookup_elem(&mc_pod_pairs, &netns);
		if (!used)
			return true;
	}
	if (__sync_fetch_and_add(used, 1) >= ctl->pod_pairs_max) {
		__sync_fetch_and_add(used, -1);
		return false;
	}
	return true;
}

static __always_inline void pod_pairs_uncharge(__u64 netns)
{
	__u32 *used = bpf_map_lookup_elem(&mc_pod_pairs, &netns);

	if (used)
		__sync_fetch_and_add(used, -1);
}

/* drop one reference to a slot; the last holder returns it to the free queue */
static __always_inline void slot_put(__u32 slot)
{
	struct mc_pair *p = bpf_map_lookup_elem(&mc_pairs, &slot);
	struct mc_sock_key k;
	__u32 refs;
	int i;

	if (!p)
		return;
	for (i = 0; i < 4; i++) { /* compare-and-swap loop, bounded */
		refs = p->refs;
		if (refs == 0)
			return;
		if (__sync_val_compare_and_swap(&p->refs, refs, refs - 1) == refs)
			break;
	}
	if (i == 4)
		return;
	live_add(-1);
	if (refs != 1)
		return;
	/* last holder: nothing may point at this slot any more */
	if (p->flags & MC_PAIR_CHARGED)
		pod_pairs_uncharge(p->id.client_netns);
	bpf_map_delete_elem(&mc_pending, &p->id);
	k.slot = slot;
	k.side = MC_SIDE_CLIENT;
	bpf_map_delete_elem(&mc_socks, &k);
	k.side = MC_SIDE_SERVER;
	bpf_map_delete_elem(&mc_socks, &k);
	__builtin_memset(&p->id, 0, sizeof(p->id));
	p->sent[0] = p->sent[1] = 0;
	p->consumed[0] = p->consumed[1] = 0;
	p->dir[0] = p->dir[1] = MC_DIR_UNDECIDED;
	p->redirected[0] = p->redirected[1] = 0;
	p->read_seq[0] = p->read_seq[1] = 0;
	p->flags = 0;
	bpf_map_push_elem(&mc_free_slots, &slot, 0);
}

static __always_inline bool id_eq(const struct mc_conn_id *a, const struct mc_conn_id *b)
{
	return a->client_netns == b->client_netns && mc_addr_eq(&a->client_ip, &b->client_ip) &&
	       a->client_isn == b->client_isn && a->server_isn == b->server_isn &&
	       a->client_port == b->client_port && a->kind == b->kind;
}

/* the second end: take a reference on the slot the first end left, if it is
 * still that connection's (a slot is only reused after its refs reach 0) */
static __always_inline int slot_join(const struct mc_conn_id *id, __u32 slot)
{
	struct mc_pair *p = bpf_map_lookup_elem(&mc_pairs, &slot);

	if (!p || __sync_val_compare_and_swap(&p->refs, 1, 2) != 1)
		return -1;
	live_add(1);
	if (!id_eq(&p->id, id)) {
		slot_put(slot);
		return -1;
	}
	bpf_map_delete_elem(&mc_pending, id);
	return 0;
}

/* Find this connection's pair slot: join the other end's, or take a new one
 * (charged to the connecting pod). Returns the slot, or -1 (no slot: the
 * connection stays on TCP; *over_quota says whether its pod's share was why). */
static __always_inline long slot_for(const struct mc_control *ctl, const struct mc_conn_id *id,
				     bool app_reads_recv, bool *joined, bool *over_quota)
{
	struct mc_pair *p;
	__u32 *found, slot;

	found = bpf_map_lookup_elem(&mc_pending, id);
	if (found) {
		slot = *found;
		*joined = true;
		return slot_join(id, slot) ? -1 : slot;
	}
	if (!pod_pairs_charge(ctl, id->client_netns)) {
		*over_quota = true;
		return -1;
	}
	if (bpf_map_pop_elem(&mc_free_slots, &slot)) {
		if (ctl->pod_pairs_max)
			pod_pairs_uncharge(id->client_netns);
		return -1;
	}
	p = bpf_map_lookup_elem(&mc_pairs, &slot);
	if (!p) {
		if (ctl->pod_pairs_max)
			pod_pairs_uncharge(id->client_netns);
		return -1;
	}
	p->id = *id;
	p->sent[0] = p->sent[1] = 0;
	p->consumed[0] = p->consumed[1] = 0;
	p->redirected[0] = p->redirected[1] = 0;
	p->read_seq[0] = p->read_seq[1] = 0;
	p->dir[0] = p->dir[1] = MC_DIR_UNDECIDED;
	/* towards the app: TCP until the app has read with recv() (see the header),
	 * unless its pod promised that the app only reads with recv()
	 * (MC_POD_APP_READS_RECV): then from the first byte, as towards a sidecar */
	if (id->kind == MC_KIND_OUTBOUND && !app_reads_recv)
		p->dir[MC_SIDE_SERVER] = MC_DIR_EARLY_TCP; /* sidecar -> app (1) */
	else if (id->kind == MC_KIND_INBOUND && !app_reads_recv)
		p->dir[MC_SIDE_CLIENT] = MC_DIR_EARLY_TCP; /* sidecar -> app (6) */
	p->flags = ctl->pod_pairs_max ? MC_PAIR_CHARGED : 0;
	p->refs = 1;
	if (bpf_map_update_elem(&mc_pending, id, &slot, BPF_NOEXIST) == 0) {
		live_add(1);
		*joined = false;
		return slot;
	}
	/* the other end published first (or the pending table is full) */
	if (p->flags & MC_PAIR_CHARGED)
		pod_pairs_uncharge(id->client_netns);
	p->flags = 0;
	p->refs = 0;
	__builtin_memset(&p->id, 0, sizeof(p->id));
	bpf_map_push_elem(&mc_free_slots, &slot, 0);
	found = bpf_map_lookup_elem(&mc_pending, id);
	if (!found)
		return -1;
	slot = *found;
	*joined = true;
	return slot_join(id, slot) ? -1 : slot;
}

static __always_inline void on_established(struct bpf_sock_ops *ops, bool active)
{
	struct mc_conn_id id = {};
	struct mc_control *ctl;
	struct mc_kind_stats *s;
	struct mc_sock_key key;
	struct bpf_sock *sk;
	struct tcp_sock *tp;
	struct mc_pod *pod;
	struct mc_sock *st;
	bool proxy, joined = false, over_quota = false;
	__u64 netns;
	__u32 kind;
	__u8 side = 0;
	long slot;

	if (ops->family != AF_INET && ops->family != AF_INET6)
		return;
	netns = bpf_get_netns_cookie(ops);
	pod = bpf_map_lookup_elem(&mc_pods, &netns);
	if (!pod)
		return; /* not a registered pod: the common case, leave at once */
	ctl = mc_get_control();
	if (!ctl || ctl->active_layout != MC_LAYOUT_VERSION ||
	    !(ctl->modes & (MC_MODE_OUTBOUND | MC_MODE_INBOUND | MC_MODE_NODE)))
		return;
	sk = ops->sk;
	if (!sk)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	/* data already moved (TCP Fast Open): it went over TCP, so never redirect;
	 * a socket with a ULP (kTLS) would hand sk_msg its plaintext */
	if (ops->bytes_received || ops->bytes_acked > 1 || tp->inet_conn.icsk_ulp_ops)
		return;
	proxy = tp->inet_conn.icsk_inet.sk.sk_uid.val == pod->proxy_uid;
	kind = classify(ops, pod, netns, proxy, active, &id, &side);
	if (kind == MC_KIND_NONE || !(ctl->modes & mc_kind_mode(kind)))
		return;
	/* both ends of 1<->2 and of 5<->6 are in this pod: both see the flag */
	if (kind != MC_KIND_NODE && (pod->flags & MC_POD_APP_TCP))
		return;
	id.kind = kind;
	if (active) {
		id.client_isn = ops->snd_nxt;
		id.server_isn = ops->rcv_nxt;
	} else {
		id.client_isn = ops->rcv_nxt;
		id.server_isn = ops->snd_nxt;
	}
	s = stats_of(kind);
	/* 1<->2 and 5<->6 are within this pod, so this is the app's pod (a
	 * sidecar pair, 3<->4, has no app end: slot_for ignores the flag) */
	slot = slot_for(ctl, &id, (pod->flags & MC_POD_APP_READS_RECV) != 0, &joined, &over_quota);
	if (slot < 0) {
		if (s && over_quota)
			s->quota++;
		else if (s)
			s->no_slot++;
		return;
	}
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		goto undo;
	st->slot = slot;
	st->side = side;
	st->kind = kind;
	st->released = 0;
	/* the slot must be given back when this socket closes */
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	key.slot = slot;
	key.side = side;
	if (bpf_sock_hash_update(ops, &mc_socks, &key, BPF_NOEXIST)) {
		/* e.g. EBUSY: another sockmap user owns this socket's sk_msg hook */
		st->released = 1;
		if (s)
			s->insert_fail++;
		goto undo;
	}
	if (s) {
		s->sockets++;
		if (joined)
			s->pairs++;
	}
	return;
undo:
	slot_put(slot);
}

static __always_inline void on_close(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct mc_sock *st;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!st || st->released)
		return;
	st->released = 1;
	slot_put(st->slot);
}

SEC("sockops")
int mc_sockops(struct bpf_sock_ops *ops)
{
	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_established(ops, true);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_established(ops, false);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ops->args[1] == BPF_TCP_CLOSE)
			on_close(ops);
		break;
	}
	return 1;
}

/* ------------------------------------------------------------------- sk_msg */

/* slots whose pair started leaving the shortcut: the agent drains them at once */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} mc_leaving SEC(".maps");

/* A pair leaves the shortcut as a whole: both directions go to TCP (sticky)
 * and the agent is told, so it deletes both sockets from the SOCKHASH as soon
 * as each reader has read every redirected byte. Keeping one direction
 * redirected while the other sends over TCP would leave a socket in the
 * SOCKHASH with TCP traffic, where tcp_bpf's recv can return EAGAIN to a
 * blocking reader woken without data (a writer waiting for buffer space). */
static __always_inline void leave_pair(struct mc_pair *p, __u32 slot, __u32 kind, __u32 reason)
{
	struct mc_kind_stats *s;
	__u32 was0, was1;

	if (p->dir[0] == MC_DIR_TCP && p->dir[1] == MC_DIR_TCP)
		return;
	/* TCP is where every direction ends: it may be written over anything,
	 * and the exchange tells whether this call is the one that left */
	was0 = __sync_lock_test_and_set(&p->dir[0], MC_DIR_TCP);
	was1 = __sync_lock_test_and_set(&p->dir[1], MC_DIR_TCP);
	if (was0 == MC_DIR_TCP && was1 == MC_DIR_TCP)
		return;
	s = stats_of(kind);
	if (s && reason < MC_TCP_REASONS)
		s->to_tcp[reason]++;
	bpf_ringbuf_output(&mc_leaving, &slot, sizeof(slot), 0);
}

static __always_inline int to_tcp(struct mc_pair *p, __u32 slot, __u32 kind, __u32 reason)
{
	struct mc_kind_stats *s = stats_of(kind);

	leave_pair(p, slot, kind, reason);
	if (s)
		s->tcp_msgs++;
	return SK_PASS;
}

/* Has the receiver (side `to`) read, with recv(), every byte this socket has
 * written over TCP? Compares sequence numbers of this direction: the reader's
 * copied_seq after its latest recv() and our write_seq (which does not yet
 * include the message being decided). A stale read_seq is only smaller. */
static __always_inline bool early_bytes_read(struct bpf_sock *sk, struct mc_pair *p, __u32 to)
{
	struct tcp_sock *tp;

	if (!(p->flags & MC_PAIR_READ(to)))
		return false;
	tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->write_seq == *(volatile __u32 *)&p->read_seq[to];
}

#ifdef MC_TEST_WIDEN_WINDOW
/* Test builds only (tests/integration/race.t builds the agent with
 * -DMC_TEST_WIDEN_WINDOW=N): spin N empty iterations (about 7 ns each here) between deciding a
 * direction and recording the decision, so that a transition that another CPU
 * can overtake there (the agent's drain, the other end's leave_pair) loses
 * that race often enough to be seen within seconds. */
static long widen_step(__u32 i, void *ctx)
{
	return 0;
}
#define widen_window() bpf_loop(MC_TEST_WIDEN_WINDOW, widen_step, NULL, 0)
#else
#define widen_window() ((void)0)
#endif

/* counts of send()s that overlap another thread's on the same socket */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct mc_send_key);
	__type(value, __u32);
} mc_send_apart SEC(".maps");

static __always_inline void send_key(struct mc_send_key *k, const struct mc_sock *st,
				     const struct mc_pair *p, __u32 tid)
{
	k->slot = st->slot;
	k->side = st->side & 1;
	k->tid = tid;
	k->client_isn = p->id.client_isn;
}

/* sk_msg counted n bytes in the current send() of this socket (sk_msg runs
 * under the socket's lock): remembered for the settlement when that send()
 * returns, in the socket's storage, or apart when another thread's send() has
 * counted there and not settled yet */
static __always_inline void record_counted(struct mc_sock *st, const struct mc_pair *p, __u32 n)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mc_send_key k;
	__u32 *c;

	if (st->send_tid == tid || !st->send_counted) {
		st->send_tid = tid;
		__sync_fetch_and_add(&st->send_counted, n);
		return;
	}
	send_key(&k, st, p, tid);
	c = bpf_map_lookup_elem(&mc_send_apart, &k);
	if (c) {
		__sync_fetch_and_add(c, n);
	} else if (bpf_map_update_elem(&mc_send_apart, &k, &n, BPF_NOEXIST) == 0) {
		__sync_fetch_and_add(&st->apart, 1);
	}
	/* else: not remembered, so never taken back (a count too high only
	 * delays, as when a send never settles) */
}

SEC("sk_msg")
int mc_sk_msg(struct sk_msg_md *msg)
{
	struct mc_kind_stats *s;
	struct mc_control *ctl;
	struct mc_sock_key key;
	struct bpf_sock *sk;
	struct mc_pair *p;
	struct mc_sock *st;
	__u32 *dir, seen, to, size;
	__s64 backlog;

	sk = msg->sk;
	if (!sk)
		return SK_PASS;
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!st || st->released)
		return SK_PASS;
	p = bpf_map_lookup_elem(&mc_pairs, &st->slot);
	if (!p)
		return SK_PASS;
	dir = &p->dir[st->side & 1];
	/* Every decision below is made from this one reading, and a direction
	 * only changes by a compare-and-swap from it: when another CPU moved it
	 * to TCP meanwhile (the agent's drain, the other end's leave_pair), the
	 * swap fails and TCP stays. */
	seen = *(volatile __u32 *)dir;
	if (seen == MC_DIR_TCP) {
		s = stats_of(st->kind);
		if (s)
			s->tcp_msgs++;
		return SK_PASS;
	}
	ctl = mc_get_control();
	if (!ctl || !(ctl->modes & mc_kind_mode(st->kind)))
		return to_tcp(p, st->slot, st->kind, MC_TCP_MODE);
	size = msg->size;
	to = (st->side & 1) ^ 1;
	/* early TCP bytes the receiver has not read yet (recv() would read
	 * redirected bytes first), or a receiver that has not yet shown it reads
	 * with recv(): stay on TCP */
	if (seen == MC_DIR_EARLY_TCP) {
		if (!early_bytes_read(sk, p, to)) {
			s = stats_of(st->kind);
			if (s)
				s->tcp_msgs++;
			return SK_PASS;
		}
		/* the receiver holds nothing from us: its backlog starts at 0 */
		p->sent[to] = p->consumed[to];
	}
	/* SO_RCVBUF does not bound redirected data: bound the receiver's backlog
	 * (its unread bytes; one message may overshoot by its own size, at most
	 * the sender's send buffer) */
	backlog = (__s64)(p->sent[to] - p->consumed[to]);
	if (backlog > (__s64)ctl->backlog_limit)
		return to_tcp(p, st->slot, st->kind, MC_TCP_BACKLOG);
	/* count before redirecting: the reader may consume before we return */
	__sync_fetch_and_add(&p->sent[to], size);
	/* ... and look at the direction again: whoever moved it to TCP (the
	 * agent, or the other end) did so before reading the backlog, and
	 * either saw this count (and waits for these bytes to be read before
	 * deleting the pair) or is seen here (the atomic add is a full barrier
	 * on both sides), whatever the scheduler does between the two. */
	if (*(volatile __u32 *)dir == MC_DIR_TCP) {
		__sync_fetch_and_add(&p->sent[to], -(__s64)size);
		s = stats_of(st->kind);
		if (s)
			s->tcp_msgs++;
		return SK_PASS;
	}
	key.slot = st->slot;
	key.side = to;
	s = stats_of(st->kind);
	if (bpf_msg_redirect_hash(msg, &mc_socks, &key, BPF_F_INGRESS) != SK_PASS) {
		/* not redirected: not counted either */
		__sync_fetch_and_add(&p->sent[to], -(__s64)size);
		if (seen == MC_DIR_REDIRECT) /* the peer left (closed, or drained out) */
			return to_tcp(p, st->slot, st->kind, MC_TCP_PEER_MISSING);
		/* the peer is not paired yet: these bytes go over TCP, and the
		 * receiver must read them before any redirect (read_seq) */
		if (s) {
			if (seen == MC_DIR_UNDECIDED)
				s->early_tcp++;
			s->tcp_msgs++;
		}
		widen_window();
		if (seen == MC_DIR_UNDECIDED)
			__sync_val_compare_and_swap(dir, MC_DIR_UNDECIDED, MC_DIR_EARLY_TCP);
		return SK_PASS;
	}
	if (s) {
		if (seen == MC_DIR_EARLY_TCP)
			s->promoted++;
		s->msgs++;
		s->bytes += size;
	}
	if (!p->redirected[to])
		p->redirected[to] = 1;
	widen_window();
	/* This message was counted before the direction was looked at again,
	 * so it is accounted for whatever happens now. If the direction moved
	 * to TCP since, it stays TCP: the next message goes over TCP, behind
	 * this one, which the reader takes first. */
	if (seen != MC_DIR_REDIRECT)
		__sync_val_compare_and_swap(dir, seen, MC_DIR_REDIRECT);
	/* for the settlement, which runs when this send() returns: after the
	 * redirect has been decided, so a refused one needs no take-back here */
	record_counted(st, p, size);
	return SK_PASS;
}

/* ---------------------------------------------------------- recv accounting */

/* A recv() of this socket returned ret bytes (redirected ones included). */
static __always_inline int on_recv(struct sock *sk, int ret, int flags)
{
	struct tcp_sock *tp;
	struct mc_pair *p;
	struct mc_sock *st;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;
	/* Every recv on the node comes here. Only a socket with a psock (in a
	 * SOCKHASH: ours, from insert to delete) can be one end of a pair whose
	 * bytes we count, and a psock lives in sk_user_data (tagged on newer
	 * kernels; any non-NULL value goes on to the lookup). One load from the
	 * socket recv just used, instead of a storage lookup that misses the
	 * cache once thousands of sockets are open. */
	if (!sk->sk_user_data)
		return 0;
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!st || st->released)
		return 0;
	p = bpf_map_lookup_elem(&mc_pairs, &st->slot);
	if (!p)
		return 0;
	__sync_fetch_and_add(&p->consumed[st->side & 1], ret);
	/* where this reader is in the TCP stream, while a direction towards it
	 * waits for its early TCP bytes to be read (see early_bytes_read; a
	 * direction becomes early before any of those bytes can be read) */
	tp = p->dir[(st->side & 1) ^ 1] == MC_DIR_EARLY_TCP ? bpf_skc_to_tcp_sock(sk) : NULL;
	if (tp) {
		p->read_seq[st->side & 1] = tp->copied_seq;
		if (!(p->flags & MC_PAIR_READ(st->side & 1)))
			__sync_fetch_and_or(&p->flags, MC_PAIR_READ(st->side & 1));
	}
	/* tcp_bpf's recv does not wait for MSG_WAITALL: this call may have come
	 * back short; every later one gets TCP's semantics */
	if (flags & MSG_WAITALL)
		leave_pair(p, st->slot, st->kind, MC_TCP_WAITALL);
	return 0;
}

/* Where the kernel has it (6.3 and newer): every recv() on the node, when it
 * returns. The agent probes which hook set the running kernel offers. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(mc_recv_length, struct sock *sk, int ret, int flags)
{
	return on_recv(sk, ret, flags);
}

/* Older kernels (6.1): the return of tcp_bpf's recvmsg, which only sockets in
 * a SOCKHASH run, and which returns what recv() does (redirected bytes
 * included; tcp_recvmsg and tcp_cleanup_rbuf see only the TCP queue's).
 * fexit gives the arguments and the return value when the call returns, as
 * the tracepoint does; a kretprobe could miss returns when its instances run
 * out, for good. */
SEC("fexit/tcp_bpf_recvmsg")
int BPF_PROG(mc_recv_fexit, struct sock *sk, struct msghdr *msg, size_t len, int flags,
	     int *addr_len, int ret)
{
	return on_recv(sk, ret, flags);
}

/* the same when another tool gave the socket a stream parser (coexistence) */
SEC("fexit/tcp_bpf_recvmsg_parser")
int BPF_PROG(mc_recv_parser_fexit, struct sock *sk, struct msghdr *msg, size_t len, int flags,
	     int *addr_len, int ret)
{
	return on_recv(sk, ret, flags);
}

/* ------------------------------------------------------- send settlement */

/* A send() of this socket returned ret: settle what its sk_msg runs counted. */
static __always_inline int on_send(struct sock *sk, int ret)
{
	__u32 tid, counted = 0, accepted;
	struct mc_send_key k;
	struct mc_pair *p;
	struct mc_sock *st;
	__u32 *apart;

	/* every send on the node comes here: leave before any helper call */
	if (!sk->sk_user_data) /* no psock: not one of ours (see mc_recv_length) */
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!st || (!st->send_counted && !st->apart))
		return 0;
	p = bpf_map_lookup_elem(&mc_pairs, &st->slot);
	if (!p)
		return 0;
	/* this send()'s own count: in the socket's storage when it was the
	 * first to count (taken with an exchange: another thread's sk_msg may
	 * run now and takes the storage only once it reads 0), apart otherwise */
	if (st->send_tid == tid)
		counted = __sync_lock_test_and_set(&st->send_counted, 0);
	if (st->apart) {
		send_key(&k, st, p, tid);
		apart = bpf_map_lookup_elem(&mc_send_apart, &k);
		if (apart) {
			counted += *apart;
			bpf_map_delete_elem(&mc_send_apart, &k);
			__sync_fetch_and_add(&st->apart, -1);
		}
	}
	if (!counted || st->released)
		return 0;
	accepted = ret > 0 ? (__u32)ret : 0;
	if (counted > accepted)
		__sync_fetch_and_add(&p->sent[(st->side & 1) ^ 1], -(__s64)(counted - accepted));
	/* the redirect failed (the receiver cannot take bytes): TCP from now on,
	 * where the sender waits instead of failing */
	if (ret < 0)
		leave_pair(p, st->slot, st->kind, MC_TCP_SEND_ERROR);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(mc_send_length, struct sock *sk, int ret, int flags)
{
	return on_send(sk, ret);
}

/* older kernels (see mc_recv_fexit): tcp_bpf's sendmsg, and its sendpage
 * (sendfile and splice into the socket, before 6.5) */
SEC("fexit/tcp_bpf_sendmsg")
int BPF_PROG(mc_send_fexit, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	return on_send(sk, ret);
}

SEC("fexit/tcp_bpf_sendpage")
int BPF_PROG(mc_sendpage_fexit, struct sock *sk, struct page *page, int offset, size_t size,
	     int flags, int ret)
{
	return on_send(sk, ret);
}

/* ------------------------------------------------------------ closing gate */

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04

/*
 * A pair that left the shortcut stays in the SOCKHASH until the agent has seen
 * both readers catch up and deleted it. Until then its sockets may hold
 * redirected bytes in one queue and TCP bytes in the other, and tcp_bpf's
 * recv returns from one queue at a time: a read that comes back short does
 * not mean the socket is empty. A reader that takes "short read + EPOLLRDHUP"
 * for the end of the stream (HAProxy does) would stop before the TCP bytes.
 * So a leaving pair's FIN is held until the agent has deleted the pair (its
 * sockets are plain TCP again), at most MC_FIN_LEAVE_HOLDS times per side so
 * a stopped agent delays a close by seconds, never forever.
 */
#define MC_FIN_LEAVE_HOLDS 5
#define MC_PAIR_FIN_HOLDS_SHIFT(side) (8 + 8 * (side))

static __always_inline bool fin_hold_leaving(struct mc_pair *p, __u32 side)
{
	__u32 shift = MC_PAIR_FIN_HOLDS_SHIFT(side);

	if (p->flags & MC_PAIR_DELETED)
		return false;
	if (p->dir[0] != MC_DIR_TCP && p->dir[1] != MC_DIR_TCP)
		return false;
	if (((p->flags >> shift) & 0xff) >= MC_FIN_LEAVE_HOLDS)
		return false;
	__sync_fetch_and_add(&p->flags, 1u << shift);
	return true;
}

/* The TCP flags of an ingress segment (skb->data is at the IP header here):
 * read in place, or copied when the headers are not in the linear part.
 * Returns 0, or -1 when they cannot be read. */
static __always_inline int tcp_flags_of(struct __sk_buff *skb, __u8 *flags)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__u32 off;
	__u8 b;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (data + 1 <= data_end)
			b = *(__u8 *)data;
		else if (bpf_skb_load_bytes(skb, 0, &b, 1))
			return -1;
		off = (__u32)(b & 0x0f) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		off = 40; /* TCP follows the fixed header on every path we pair */
	} else {
		return -1;
	}
	off += 13;
	if (off < 64 && data + off + 1 <= data_end) {
		*flags = *(__u8 *)(data + off);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, flags, 1) ? -1 : 0;
}

/* Would a FIN take this reader to TIME_WAIT or CLOSE, where the kernel frees
 * its unread redirected bytes? Only when it has half-closed already. An
 * ESTABLISHED reader goes to CLOSE_WAIT instead, which keeps them, and
 * tcp_bpf's recv returns them before the end of the stream. */
static __always_inline bool fin_would_close(const struct bpf_sock *sk)
{
	return sk->state == BPF_TCP_FIN_WAIT1 || sk->state == BPF_TCP_FIN_WAIT2 ||
	       sk->state == BPF_TCP_CLOSING;
}

SEC("cgroup_skb/ingress")
int mc_fin_gate(struct __sk_buff *skb)
{
	struct mc_kind_stats *s;
	struct bpf_sock *sk;
	struct mc_pair *p;
	struct mc_sock *st;
	__u32 side;
	__u8 flags;
	__s64 backlog;
	bool hold;

	/* every packet of the node's sockets comes here: leave at once unless
	 * it is a FIN or an RST (of a paired socket, below) */
	sk = skb->sk;
	if (!sk || tcp_flags_of(skb, &flags) || !(flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_TCP)
		return 1;
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!st || st->released)
		return 1; /* not a paired socket */
	side = st->side & 1;
	p = bpf_map_lookup_elem(&mc_pairs, &st->slot);
	if (!p || !p->redirected[side] || (p->flags & MC_PAIR_DELETED))
		return 1; /* only TCP bytes (TCP's own queue keeps them through the
			   * close), or drained and plain TCP again */
	backlog = (__s64)(p->sent[side] - p->consumed[side]);
	s = stats_of(st->kind);
	if (flags & TCP_FLAG_RST) {
		/* an RST is never retransmitted: holding it would hang the reader */
		if (backlog > 0 && s)
			s->rst_unread++;
		return 1;
	}
	/* unread redirected bytes that this FIN would free, or a pair that is
	 * leaving: TCP will send this FIN again */
	hold = backlog > 0 && fin_would_close(sk);
	if (!hold)
		hold = fin_hold_leaving(p, side);
	if (!hold)
		return 1;
	if (s)
		s->fin_held++;
	return 0;
}

/* ---------------------------------------------------- options tcp_bpf lacks */

#define SOL_SOCKET 1
#define SO_RCVLOWAT 18
#define SOL_TCP 6
#define TCP_ULP 31
#define PAGE_SIZE 4096

SEC("cgroup/setsockopt")
int mc_setsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct mc_pair *p;
	struct mc_sock *st;
	__u32 reason;

	if (ctx->optlen > PAGE_SIZE)
		ctx->optlen = 0; /* leave large options to the kernel, untouched */
	if (!sk)
		return 1;
	if (ctx->level == SOL_SOCKET && ctx->optname == SO_RCVLOWAT) {
		int *v = ctx->optval;

		if ((void *)(v + 1) > ctx->optval_end || *v <= 1)
			return 1;
		reason = MC_TCP_RCVLOWAT;
	} else if (ctx->level == SOL_TCP && ctx->optname == TCP_ULP) {
		reason = MC_TCP_ULP;
	} else {
		return 1;
	}
	st = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!st || st->released)
		return 1;
	p = bpf_map_lookup_elem(&mc_pairs, &st->slot);
	if (p)
		leave_pair(p, st->slot, st->kind, reason);
	return 1;
}
