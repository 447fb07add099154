// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Latency monitor: one event per send and per receive of a registered pod's TCP
 * socket, with the socket's role in Istio's six-socket chain, into a ring
 * buffer. The contract (timestamps, roles, event layout) is in monitor.h; the
 * agent loads these programs only while a monitor session runs.
 *
 *   tp_btf/sys_enter          send-family syscalls of tasks in a registered pod:
 *                             stash the entry time per task (the default; every
 *                             other syscall returns after one comparison chain)
 *   fentry|kprobe/inet(6)_sendmsg   the same stash, per socket, where the kernel
 *                             permits them (a load-time option; not on 6.18 here)
 *   tp_btf/sock_send_length   a send returned: event with the stashed entry time
 *   tp_btf/sock_recv_length   a receive returned: event with the exit time
 *   fexit/inet(6)_sendmsg, inet_sendpage, inet(6)_recvmsg: the same two events
 *                             on kernels without those tracepoints (6.1)
 *
 * Filtering is as early as possible: the syscall number, then one hash lookup
 * of the task's (or socket's) network namespace in mc_pods. Sockets of any
 * other namespace are never recorded.
 */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "monitor.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif

/* set by the agent before load */
const volatile __u32 entry_hook = MC_MON_ENTRY_SYS_ENTER;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MC_MON_RINGBUF_BYTES);
} mc_mon_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mc_mon_stats);
} mc_mon_stats SEC(".maps");

/* the entry of the send this task is in (freed with the task) */
struct mc_mon_task {
	__u64 ts;
	__u64 sk; /* fentry/kprobe: the socket the stash is for; 0 once used */
	__s64 nr; /* sys_enter: the syscall the stash is for */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mc_mon_task);
} mc_mon_tasks SEC(".maps");

static __always_inline struct mc_mon_stats *stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mc_mon_stats, &zero);
}

/* ------------------------------------------------------------ send entries */

/* send-family syscalls: write, writev, sendto, sendmsg, sendmmsg, sendfile,
 * splice, pwritev2 (offset -1 works on sockets) */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(regs) ((regs)->orig_ax)
static __always_inline bool is_send_syscall(long id)
{
	return id == 1 || id == 20 || id == 44 || id == 46 || id == 307 || id == 40 ||
	       id == 275 || id == 328;
}
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
static __always_inline bool is_send_syscall(long id)
{
	return id == 64 || id == 66 || id == 206 || id == 211 || id == 269 || id == 71 ||
	       id == 76 || id == 287;
}
#else
#error "monitor.bpf.c: add this architecture's send syscall numbers"
#endif

SEC("tp_btf/sys_enter")
int BPF_PROG(mc_mon_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task;
	struct mc_mon_task *st;
	struct mc_mon_stats *s;
	struct nsproxy *nsp;
	__u64 netns;

	if (!is_send_syscall(id))
		return 0; /* nearly every syscall of the node leaves here */
	task = bpf_get_current_task_btf();
	nsp = task->nsproxy;
	if (!nsp)
		return 0;
	netns = nsp->net_ns->net_cookie;
	if (!bpf_map_lookup_elem(&mc_pods, &netns))
		return 0;
	st = bpf_task_storage_get(&mc_mon_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	st->ts = bpf_ktime_get_ns();
	st->nr = id;
	st->sk = 0;
	s = stats();
	if (s)
		s->stashed++;
	return 0;
}

static __always_inline int stash_sock(struct sock *sk)
{
	struct task_struct *task;
	struct mc_mon_task *st;
	struct mc_mon_stats *s;
	__u64 netns;

	if (!sk)
		return 0;
	netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
	if (!bpf_map_lookup_elem(&mc_pods, &netns))
		return 0;
	task = bpf_get_current_task_btf();
	st = bpf_task_storage_get(&mc_mon_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	st->ts = bpf_ktime_get_ns();
	st->sk = (__u64)sk;
	st->nr = -1;
	s = stats();
	if (s)
		s->stashed++;
	return 0;
}

/* optional entry hooks: not loaded unless the agent asks for them (fentry and
 * kprobes are refused on some kernels; the agent then falls back to sys_enter) */
SEC("fentry/inet_sendmsg")
int BPF_PROG(mc_mon_fentry_send4, struct socket *sock, struct msghdr *msg, size_t size)
{
	return stash_sock(sock->sk);
}

SEC("fentry/inet6_sendmsg")
int BPF_PROG(mc_mon_fentry_send6, struct socket *sock, struct msghdr *msg, size_t size)
{
	return stash_sock(sock->sk);
}

SEC("kprobe/inet_sendmsg")
int BPF_KPROBE(mc_mon_kprobe_send4, struct socket *sock)
{
	return stash_sock(BPF_CORE_READ(sock, sk));
}

SEC("kprobe/inet6_sendmsg")
int BPF_KPROBE(mc_mon_kprobe_send6, struct socket *sock)
{
	return stash_sock(BPF_CORE_READ(sock, sk));
}

/* ------------------------------------------------------------------ events */

static __always_inline void addr_of(struct sock *sk, __u16 family, bool local, struct mc_addr *a)
{
	if (family == AF_INET) {
		mc_addr_from_v4(a, local ? sk->__sk_common.skc_rcv_saddr : sk->__sk_common.skc_daddr);
		return;
	}
	if (local) {
		a->w[0] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[0];
		a->w[1] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[1];
		a->w[2] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[2];
		a->w[3] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3];
	} else {
		a->w[0] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
		a->w[1] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
		a->w[2] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
		a->w[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
	}
}

/* the socket's place in Istio's table (monitor.h), from the registration */
static __always_inline __u8 role_of(struct sock *sk, const struct mc_pod *pod,
				    const struct mc_mon_event *e)
{
	if (sk->sk_uid.val == pod->proxy_uid) {
		if (e->lport == pod->outbound_port)
			return MC_MON_ROLE_OUT_DOWN;
		if (e->lport == pod->inbound_port)
			return MC_MON_ROLE_IN_DOWN;
		if (mc_addr_is_passthrough(&e->laddr))
			return MC_MON_ROLE_IN_UP;
		return MC_MON_ROLE_OUT_UP;
	}
	if (mc_addr_is_passthrough(&e->raddr))
		return MC_MON_ROLE_APP_SERVER;
	return MC_MON_ROLE_APP_CLIENT;
}

static __always_inline int record(struct sock *sk, int ret, __u8 dir)
{
	struct task_struct *task;
	struct mc_mon_event *e;
	struct mc_mon_stats *s;
	struct mc_mon_task *st;
	struct tcp_sock *tp;
	struct mc_pod *pod;
	__u64 netns, now, ts, pid_tgid;
	__u16 family;
	__u8 flags = 0;

	family = sk->__sk_common.skc_family;
	if ((family != AF_INET && family != AF_INET6) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	netns = sk->__sk_common.skc_net.net->net_cookie;
	pod = bpf_map_lookup_elem(&mc_pods, &netns);
	s = stats();
	if (!pod) {
		if (s)
			s->unregistered++;
		return 0; /* not a registered pod's socket: never recorded */
	}
	now = bpf_ktime_get_ns();
	ts = now;
	if (dir == MC_MON_SEND) {
		task = bpf_get_current_task_btf();
		st = bpf_task_storage_get(&mc_mon_tasks, task, 0, 0);
		if (st) {
			bool valid;

			if (entry_hook == MC_MON_ENTRY_SYS_ENTER) {
				struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

				valid = regs && st->nr >= 0 && SYSCALL_NR(regs) == (__u64)st->nr;
			} else {
				valid = st->sk == (__u64)sk;
				st->sk = 0;
			}
			if (valid && st->ts <= now) {
				ts = st->ts;
				/* a later send of the same call (sendmmsg) starts here */
				st->ts = now;
			} else {
				flags |= MC_MON_F_EXIT_TS;
			}
		} else {
			flags |= MC_MON_F_EXIT_TS;
		}
	}
	e = bpf_ringbuf_reserve(&mc_mon_events, sizeof(*e), 0);
	if (!e) {
		if (s)
			s->dropped++;
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	e->ts = ts;
	e->sock = bpf_get_socket_cookie(sk);
	e->tid = (__u32)pid_tgid;
	e->tgid = (__u32)(pid_tgid >> 32);
	e->pod_id = pod->pod_id;
	e->bytes = (__u32)ret;
	e->dir = dir;
	e->flags = flags;
	e->pad = 0;
	e->lport = sk->__sk_common.skc_num;
	e->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	addr_of(sk, family, true, &e->laddr);
	addr_of(sk, family, false, &e->raddr);
	e->role = role_of(sk, pod, e);
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		e->snd_base = tp->snd_una - (__u32)tp->bytes_acked;
		e->rcv_base = tp->rcv_nxt - (__u32)tp->bytes_received;
	} else {
		e->snd_base = e->rcv_base = 0;
	}
	/* no wakeup: the agent reads every 10 ms anyway, and a wakeup per event
	 * (an irq_work IPI, a VM exit on virtual machines) cost ~5 us each here */
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&mc_mon_events, BPF_RB_AVAIL_DATA) >
				      MC_MON_RINGBUF_BYTES / 2
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP);
	if (s) {
		s->events++;
		if (flags & MC_MON_F_EXIT_TS)
			s->exit_ts++;
	}
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(mc_mon_send, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !sk)
		return 0;
	return record(sk, ret, MC_MON_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(mc_mon_recv, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !sk || (flags & MSG_PEEK))
		return 0;
	return record(sk, ret, MC_MON_RECV);
}

/* Kernels without those tracepoints (6.1): the same events where the socket
 * layer calls TCP, as the call returns (fexit: arguments and return value).
 * The agent picks one set from the kernel's BTF. */
SEC("fexit/inet_sendmsg")
int BPF_PROG(mc_mon_send_fexit4, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	if (ret <= 0 || !sock->sk)
		return 0;
	return record(sock->sk, ret, MC_MON_SEND);
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(mc_mon_send_fexit6, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	if (ret <= 0 || !sock->sk)
		return 0;
	return record(sock->sk, ret, MC_MON_SEND);
}

/* sendfile and splice into a socket, before 6.5 */
SEC("fexit/inet_sendpage")
int BPF_PROG(mc_mon_sendpage_fexit, struct socket *sock, struct page *page, int offset,
	     size_t size, int flags, long ret)
{
	if (ret <= 0 || !sock->sk)
		return 0;
	return record(sock->sk, (int)ret, MC_MON_SEND);
}

SEC("fexit/inet_recvmsg")
int BPF_PROG(mc_mon_recv_fexit4, struct socket *sock, struct msghdr *msg, size_t size, int flags,
	     int ret)
{
	if (ret <= 0 || !sock->sk || (flags & MSG_PEEK))
		return 0;
	return record(sock->sk, ret, MC_MON_RECV);
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(mc_mon_recv_fexit6, struct socket *sock, struct msghdr *msg, size_t size, int flags,
	     int ret)
{
	if (ret <= 0 || !sock->sk || (flags & MSG_PEEK))
		return 0;
	return record(sock->sk, ret, MC_MON_RECV);
}
