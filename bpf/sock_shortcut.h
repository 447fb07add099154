/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Contract: the socket shortcut (sockops + sk_msg + recv tracepoint <-> agent).
 *
 * Pairing. The two ends of one TCP connection inside a node compute the same
 * connection identity at ESTABLISHED: the client's netns cookie, the client's
 * address and port, both initial sequence numbers (each side's snd_nxt at
 * ESTABLISHED; they are the other side's rcv_nxt) and the pair kind. The ISNs
 * are chosen by the kernel per connection: a socket that is not the other end
 * of this very connection cannot produce the same identity, even when 4-tuples
 * repeat across pods or an app and its sidecar share a local port.
 * The first end to arrive takes a free pair slot and leaves the identity ->
 * slot mapping in mc_pending; the second end finds it there. A slot is charged
 * to the connecting pod (id.client_netns, mc_pod_pairs) while it is held; a
 * pod at the control map's pod_pairs_max gets no more (fairness: one pod
 * cannot take every slot of the node). Each end is
 * inserted in the SOCKHASH under {slot, side}; its peer is {slot, !side},
 * computed once. A message costs one array lookup and one SOCKHASH lookup.
 *
 * Closing. The kernel frees a socket's unread redirected bytes when the socket
 * reaches TCP_CLOSE (TIME_WAIT after a half-close, RST), while TCP would still
 * let the app read its receive queue. So a FIN that would take a receiver there
 * is held at the receiver (cgroup_skb ingress drops it; TCP retransmits it)
 * until its reader has consumed every redirected byte: the FIN arrives after
 * the data, as on TCP. A pair that is leaving the shortcut also has its FINs
 * held (a few times at most) until the agent has deleted it: until then a
 * socket can hold redirected bytes and TCP bytes at once, tcp_bpf's recv
 * returns from one queue at a time, and a short read followed by EPOLLRDHUP
 * would look like the end of the stream to a reader such as HAProxy.
 *
 * Apps read as they like. A direction towards an app socket (1 and 6) starts
 * in EARLY_TCP: its first bytes go over TCP, and it redirects only once the
 * app has read every one of them with recv(): the recv tracepoint records the
 * reader's TCP copied_seq, and the sender redirects only when that equals its
 * own write_seq (sequence numbers, not byte counts: tcp_bpf can push a
 * message without running sk_msg after a failed push, so a count of early
 * bytes can come out short, and a redirect would then overtake unread TCP
 * bytes). An app that reads with splice() (e.g. Go's io.Copy between two TCP
 * connections), which cannot see redirected bytes, never records a recv() and
 * so simply stays on TCP. Sidecars (Envoy) read with recv(): directions
 * towards them redirect from the first byte.
 *
 * Integrity. Each direction (per sending side) is decided at its first message
 * and moves UNDECIDED -> REDIRECT -> TCP or UNDECIDED -> TCP, each step a
 * compare-and-swap from the value the program read (TCP is written over
 * anything, and nothing is ever written over TCP): tcp_bpf recv()
 * reads redirected data before the TCP receive queue, so a direction must
 * never redirect while its receiver has unread bytes it sent over TCP. The one
 * way back, EARLY_TCP -> REDIRECT, is taken only once the receiver has read
 * every TCP byte of the direction (read_seq == the sender's write_seq); sent[]
 * is then set to consumed[], so the backlog starts at 0. sent[]/consumed[] count
 * redirected bytes towards each side and bytes that side's reader took; their
 * difference is the receiver's redirected backlog (bounded by backlog_limit,
 * and drained to 0 before the agent deletes a socket from the SOCKHASH, since
 * deletion frees unread redirected bytes). A message is counted before it is
 * redirected and its direction is read again after counting: whoever moves a
 * direction to TCP does so before reading the backlog, so the agent either
 * sees the count or the sender sees TCP (the agent's grace period is a margin).
 *
 * Settlement. sk_msg counts a message before the redirect, and a redirect can
 * fail or stop part-way (the receiver's memory cgroup is full: ENOMEM), after
 * which tcp_bpf runs sk_msg again on the rest and counts it again. A count
 * that stays too high would keep the pair's FINs held and its drain waiting
 * forever. So when the send() returns (tp_btf/sock_send_length), what that
 * call counted but did not accept is taken back: counted - returned. The
 * returned bytes include every byte redirected (each counted at least once)
 * and any that went over TCP, so the take-back never exceeds the over-count.
 * Counts are kept per thread (a second thread's send() on the same socket
 * counts apart), so each send() settles exactly what it counted.
 * A send() that failed outright on a redirect moves the pair to TCP.
 */
#ifndef MESHCUT_SOCK_SHORTCUT_H
#define MESHCUT_SOCK_SHORTCUT_H

#include "control.h"
#include "pods.h"

/* pair kinds (see shared notes: the six sockets of one request) */
enum mc_kind {
	MC_KIND_NONE = 0,
	MC_KIND_OUTBOUND = 1, /* 1 app (client) <-> 2 sidecar on 15001 (server), one netns */
	MC_KIND_NODE = 2,     /* 3 sidecar A (client) <-> 4 sidecar B on 15006, two netns */
	MC_KIND_INBOUND = 3,  /* 5 sidecar from 127.0.0.6 (client) <-> 6 app (server), one netns */
	MC_KIND_MAX = 4,
};

enum mc_side { MC_SIDE_CLIENT = 0, MC_SIDE_SERVER = 1 };

/* the mode bit (control.h) that switches a pair kind on */
static inline __u32 mc_kind_mode(__u32 kind)
{
	return kind == MC_KIND_OUTBOUND ? MC_MODE_OUTBOUND
	       : kind == MC_KIND_NODE   ? MC_MODE_NODE
	       : kind == MC_KIND_INBOUND ? MC_MODE_INBOUND
				       : 0;
}

/* direction state, per sending side */
enum mc_dir {
	MC_DIR_UNDECIDED = 0,
	MC_DIR_REDIRECT = 1,
	MC_DIR_TCP = 2,       /* sticky */
	MC_DIR_EARLY_TCP = 3, /* the peer was not paired yet at the first message (it
			       * becomes established a moment after the client): on
			       * TCP until the receiver has read every one of those
			       * bytes, then REDIRECT (never while any is unread) */
};

/* why a direction went (or stayed) on TCP; reported per kind */
enum mc_tcp_reason {
	MC_TCP_PEER_MISSING = 0, /* peer not in the SOCKHASH at the first message */
	MC_TCP_MODE = 1,         /* mode switched off (or uninstall) */
	MC_TCP_BACKLOG = 2,      /* receiver's redirected backlog over the limit */
	MC_TCP_ULP = 3,          /* socket gained a ULP (kTLS): sk_msg would see plaintext */
	MC_TCP_RCVLOWAT = 4,     /* SO_RCVLOWAT set: tcp_bpf's poll ignores it */
	MC_TCP_WAITALL = 5,      /* MSG_WAITALL used: tcp_bpf's recv returns early */
	MC_TCP_SEND_ERROR = 6,   /* a send() failed on a redirect (e.g. ENOMEM: the
				  * receiver's memory cgroup is full) */
	MC_TCP_REASONS = 7,
};

struct mc_conn_id {
	__u64 client_netns;
	struct mc_addr client_ip;
	__u32 client_isn; /* client's snd_nxt at ESTABLISHED */
	__u32 server_isn; /* server's snd_nxt at ESTABLISHED */
	__u16 client_port; /* inbound (5<->6) only: 0 for 1<->2 and 3<->4, whose
			    * client port NAT may rewrite (a conntrack clash after
			    * REDIRECT); the two ISNs identify the connection */
	__u8 kind;
	__u8 pad[5];
};

/* one slot per paired connection, shared by its two ends (mmapable array) */
struct mc_pair {
	struct mc_conn_id id;
	__u64 sent[2];     /* bytes towards side s: redirected, and early TCP ones */
	__u64 consumed[2]; /* bytes side s's reader returned */
	__u32 dir[2];      /* enum mc_dir of the direction sent by side s */
	__u32 refs;        /* ends holding the slot: 1 or 2; 0 = free */
	__u32 flags;       /* MC_PAIR_* */
	__u32 redirected[2]; /* side s has been sent redirected bytes */
	__u32 read_seq[2];   /* side s's TCP copied_seq after its latest recv()
			      * (valid once MC_PAIR_READ(s) is set) */
#ifdef MC_LAYOUT_TEST_EXTRA
	__u64 test_extra; /* only in the layout-changed build the upgrade tests use */
#endif
};

#define MC_PAIR_DELETED (1u << 0) /* the agent drained and removed both ends */
#define MC_PAIR_READ(side) (1u << (1 + (side))) /* side's reader has used recv() */
#define MC_PAIR_CHARGED (1u << 3) /* counted in mc_pod_pairs[id.client_netns] */
/* bits 8-15 and 16-23: FINs held at side 0 and side 1 while the pair was
 * leaving (sock_shortcut.bpf.c: fin_hold_leaving) */

/* per socket (sk_storage) */
struct mc_sock {
	__u32 slot;
	__u8 side;
	__u8 kind;
	__u8 released; /* slot given back at TCP_CLOSE: ignore later events */
	__u8 pad;
	__u32 send_tid;     /* the thread whose send() counted send_counted */
	__u32 send_counted; /* bytes that send() added to sent[] so far */
	__u32 apart;        /* sends whose counts are kept in mc_send_apart */
};

/* A send() of another thread while send_tid's is still in progress (the
 * socket's lock is let go while a redirect runs) keeps its count here, so
 * each send() settles exactly its own. The ISN makes an entry of a closed
 * connection whose slot was reused by another one never match. */
struct mc_send_key {
	__u32 slot;
	__u32 side;
	__u32 tid;
	__u32 client_isn;
};

struct mc_sock_key {
	__u32 slot;
	__u32 side;
};

/* per-CPU counters, indexed by kind */
struct mc_kind_stats {
	__u64 sockets;           /* ends inserted in the SOCKHASH */
	__u64 pairs;             /* second ends joining a slot */
	__u64 msgs;              /* messages redirected */
	__u64 bytes;             /* bytes redirected */
	__u64 tcp_msgs;          /* messages that went over TCP from a paired socket */
	__u64 to_tcp[MC_TCP_REASONS]; /* directions that moved to TCP, by reason */
	__u64 insert_fail;       /* SOCKHASH insert refused (e.g. another sockmap owns it) */
	__u64 no_slot;           /* pair table or pending table full */
	__u64 quota;             /* the connecting pod holds control.pod_pairs_max
				  * slots already: this connection stays on TCP */
	__u64 fin_held;          /* FINs dropped (the sender retransmits) while the
				  * receiver still had unread redirected bytes */
	__u64 rst_unread;        /* RSTs that arrived while redirected bytes were unread
				  * (discarded with the connection, see docs/semantics.md) */
	__u64 early_tcp;         /* directions whose first message found no peer yet */
	__u64 promoted;          /* early directions redirected once their TCP bytes were read */
};

#endif
