/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Contract: the latency monitor (monitor.bpf.c <-> agent/monitor*.c).
 *
 * The monitor's programs are loaded only while a monitor session runs. They
 * record one event per send and per receive of a TCP socket that belongs to a
 * registered pod (mc_pods, shared with the datapath), and nothing for any other
 * socket. Events go through one ring buffer (bounded memory whatever the number
 * of connections); user space rebuilds each request's path (agent/monitor_recon.c).
 *
 * Timestamps (CLOCK_MONOTONIC, bpf_ktime_get_ns):
 *   send  the ENTRY of the send: on loopback and veth a send often runs the
 *         receiver's processing inline, so its exit time would charge kernel time
 *         to the sender. The entry is stashed per task by tp_btf/sys_enter (send
 *         family syscalls only), or by fentry/kprobe on inet_sendmsg where the
 *         kernel permits them, and read back by tp_btf/sock_send_length. When no
 *         stash belongs to this call (io_uring, kernel senders), the exit time is
 *         used and the event says so (MC_MON_F_EXIT_TS).
 *   recv  the EXIT of the receive (tp_btf/sock_recv_length): the data is there.
 * Calls that return <= 0, and MSG_PEEK receives, are ignored.
 *
 * Socket roles: the six sockets of one hop in Istio's table (docs/socket-shortcut.md):
 *   1 app A -> 2 sidecar A (15001), 3 sidecar A -> 4 sidecar B (15006),
 *   5 sidecar B (127.0.0.6) -> 6 app B.
 * From the registration: proxy uid (1337), outbound/inbound ports, 127.0.0.6.
 */
#ifndef MESHCUT_MONITOR_H
#define MESHCUT_MONITOR_H

#include "pods.h"

enum mc_mon_role {
	MC_MON_ROLE_NONE = 0,
	MC_MON_ROLE_APP_CLIENT = 1,  /* app socket towards a service (captured to 15001) */
	MC_MON_ROLE_OUT_DOWN = 2,    /* sidecar, accepted on the outbound port (15001) */
	MC_MON_ROLE_OUT_UP = 3,      /* sidecar, connecting to another pod */
	MC_MON_ROLE_IN_DOWN = 4,     /* sidecar, accepted on the inbound port (15006) */
	MC_MON_ROLE_IN_UP = 5,       /* sidecar, from 127.0.0.6 to its own app */
	MC_MON_ROLE_APP_SERVER = 6,  /* app socket accepted from 127.0.0.6 */
	MC_MON_ROLES = 7,
};

static inline int mc_mon_role_is_proxy(unsigned int role)
{
	return role >= MC_MON_ROLE_OUT_DOWN && role <= MC_MON_ROLE_IN_UP;
}

enum mc_mon_dir { MC_MON_SEND = 0, MC_MON_RECV = 1 };

#define MC_MON_F_EXIT_TS (1u << 0) /* send: no entry time for this call, exit time used */

struct mc_mon_event {
	__u64 ts;        /* ns, CLOCK_MONOTONIC: send entry or receive exit */
	__u64 sock;      /* socket cookie (never reused while the kernel runs) */
	__u32 tid;       /* thread (kernel pid) that sent or received */
	__u32 tgid;      /* its process */
	__u32 pod_id;    /* mc_pod.pod_id of the socket's network namespace */
	__u32 bytes;     /* what the call returned (> 0) */
	__u8 dir;        /* enum mc_mon_dir */
	__u8 role;       /* enum mc_mon_role */
	__u8 flags;      /* MC_MON_F_* */
	__u8 pad;
	__u16 lport;     /* host order */
	__u16 rport;     /* host order */
	struct mc_addr laddr; /* v4-mapped for IPv4 (as in pods.h) */
	struct mc_addr raddr;
	/* The connection's identity that NAT leaves alone. Addresses and ports are
	 * what this socket sees, and NAT can make the two ends of one connection
	 * see different ones (a conntrack clash after many short connections to
	 * the same service: the REDIRECT to 15001 then also rewrites the app's
	 * source port). Sequence numbers survive NAT:
	 *   snd_base = snd_una - bytes_acked      (own ISN, +1 on a passive socket)
	 *   rcv_base = rcv_nxt - bytes_received   (the peer's ISN + 1)
	 * Both stay constant for the socket's life (redirected bytes move neither). */
	__u32 snd_base;
	__u32 rcv_base;
};

/* how the send entry time is taken (rodata, set by the agent before load) */
enum mc_mon_entry_hook {
	MC_MON_ENTRY_SYS_ENTER = 0, /* tp_btf/sys_enter: taxes every syscall on the node */
	MC_MON_ENTRY_FENTRY = 1,    /* fentry/inet_sendmsg + inet6_sendmsg */
	MC_MON_ENTRY_KPROBE = 2,    /* kprobe/inet_sendmsg + inet6_sendmsg */
};

/* per-CPU counters (one element) */
struct mc_mon_stats {
	__u64 events;       /* events written to the ring buffer */
	__u64 dropped;      /* ring buffer full: event lost */
	__u64 unregistered; /* TCP send/recv of a socket of no registered pod: not recorded */
	__u64 exit_ts;      /* sends recorded with their exit time (no entry stash) */
	__u64 stashed;      /* send entries stashed */
};

#define MC_MON_RINGBUF_BYTES (4u << 20) /* 4 MiB: about 58,000 events in flight */

#endif
