/* Compile-time checks of every fixed layout the agent shares with the BPF
 * programs: the size AND the offset of every field (a size check alone misses
 * a reorder). The programs and the agent each compile the bpf/ headers; a
 * header change that moves a field breaks the build here instead of
 * misreading a map. A layout change is still allowed where the header says so
 * (a new MC_LAYOUT_VERSION, or control's reserved space): update these lines
 * with it. User space only: BPF objects stay byte for byte what they were.
 * Nothing here runs; the object is empty. */
#include <linux/types.h>
#include <stddef.h>

#include "control.h"
#include "pods.h"
#include "sock_shortcut.h"

#define MC_SIZE(type, n) \
	_Static_assert(sizeof(struct type) == (n), "struct " #type ": size changed")
#define MC_AT(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), "struct " #type "." #field " moved")

/* the control map (bpf/control.h): read by every version's programs; 128
 * bytes, fields only ever added in reserved[] */
MC_SIZE(mc_control, 128);
MC_AT(mc_control, magic, 0);
MC_AT(mc_control, modes, 4);
MC_AT(mc_control, backlog_limit, 8);
MC_AT(mc_control, active_layout, 12);
MC_AT(mc_control, generation, 16);
MC_AT(mc_control, pod_pairs_max, 24);
MC_AT(mc_control, set, 28);
MC_AT(mc_control, start_modes, 32);
MC_AT(mc_control, start_pad, 36);
MC_AT(mc_control, reserved, 40);

/* an address inside mc_pod and mc_conn_id (bpf/pods.h) */
MC_SIZE(mc_addr, 16);
MC_AT(mc_addr, w, 0);

/* a range inside mc_pod (bpf/pods.h) */
MC_SIZE(mc_cidr, 20);
MC_AT(mc_cidr, addr, 0);
MC_AT(mc_cidr, prefix_len, 16);

/* mc_pods values (bpf/pods.h): what older layouts migrate from */
MC_SIZE(mc_pod, 792);
MC_AT(mc_pod, netns_cookie, 0);
MC_AT(mc_pod, pod_id, 8);
MC_AT(mc_pod, flags, 12);
MC_AT(mc_pod, proxy_uid, 16);
MC_AT(mc_pod, outbound_port, 20);
MC_AT(mc_pod, inbound_port, 22);
MC_AT(mc_pod, n_in_ports, 24);
MC_AT(mc_pod, n_out_ports, 26);
MC_AT(mc_pod, n_cidrs_excl, 28);
MC_AT(mc_pod, n_cidrs_incl, 30);
MC_AT(mc_pod, in_ports, 32);
MC_AT(mc_pod, out_ports, 64);
MC_AT(mc_pod, out_cidrs_excl, 96);
MC_AT(mc_pod, out_cidrs_incl, 256);
MC_AT(mc_pod, ip4, 416);
MC_AT(mc_pod, ip6, 432);
MC_AT(mc_pod, host_ifindex, 448);
MC_AT(mc_pod, mac, 452);
MC_AT(mc_pod, pad, 458);
MC_AT(mc_pod, registered_at, 464);
MC_AT(mc_pod, key, 472);

/* mc_pod_life values (bpf/pods.h) */
MC_SIZE(mc_pod_life, 16);
MC_AT(mc_pod_life, nsid, 0);
MC_AT(mc_pod_life, pad, 4);
MC_AT(mc_pod_life, registered_ns, 8);

/* the identity inside mc_pair (bpf/sock_shortcut.h) */
MC_SIZE(mc_conn_id, 40);
MC_AT(mc_conn_id, client_netns, 0);
MC_AT(mc_conn_id, client_ip, 8);
MC_AT(mc_conn_id, client_isn, 24);
MC_AT(mc_conn_id, server_isn, 28);
MC_AT(mc_conn_id, client_port, 32);
MC_AT(mc_conn_id, kind, 34);
MC_AT(mc_conn_id, pad, 35);

/* mc_pairs, the mmapped pair table the agent's drain reads (bpf/sock_shortcut.h) */
#ifdef MC_LAYOUT_TEST_EXTRA /* the upgrade tests' layout-changed build */
MC_SIZE(mc_pair, 112);
MC_AT(mc_pair, test_extra, 104);
#else
MC_SIZE(mc_pair, 104);
#endif
MC_AT(mc_pair, id, 0);
MC_AT(mc_pair, sent, 40);
MC_AT(mc_pair, consumed, 56);
MC_AT(mc_pair, dir, 72);
MC_AT(mc_pair, refs, 80);
MC_AT(mc_pair, flags, 84);
MC_AT(mc_pair, redirected, 88);
MC_AT(mc_pair, read_seq, 96);

/* mc_sock_state, per-socket storage (bpf/sock_shortcut.h) */
MC_SIZE(mc_sock, 20);
MC_AT(mc_sock, slot, 0);
MC_AT(mc_sock, side, 4);
MC_AT(mc_sock, kind, 5);
MC_AT(mc_sock, released, 6);
MC_AT(mc_sock, pad, 7);
MC_AT(mc_sock, send_tid, 8);
MC_AT(mc_sock, send_counted, 12);
MC_AT(mc_sock, apart, 16);

/* mc_send_apart keys (bpf/sock_shortcut.h) */
MC_SIZE(mc_send_key, 16);
MC_AT(mc_send_key, slot, 0);
MC_AT(mc_send_key, side, 4);
MC_AT(mc_send_key, tid, 8);
MC_AT(mc_send_key, client_isn, 12);

/* mc_socks (SOCKHASH) keys (bpf/sock_shortcut.h) */
MC_SIZE(mc_sock_key, 8);
MC_AT(mc_sock_key, slot, 0);
MC_AT(mc_sock_key, side, 4);

/* mc_sock_stats values, per CPU (bpf/sock_shortcut.h) */
MC_SIZE(mc_kind_stats, 152);
MC_AT(mc_kind_stats, sockets, 0);
MC_AT(mc_kind_stats, pairs, 8);
MC_AT(mc_kind_stats, msgs, 16);
MC_AT(mc_kind_stats, bytes, 24);
MC_AT(mc_kind_stats, tcp_msgs, 32);
MC_AT(mc_kind_stats, to_tcp, 40);
MC_AT(mc_kind_stats, insert_fail, 96);
MC_AT(mc_kind_stats, no_slot, 104);
MC_AT(mc_kind_stats, quota, 112);
MC_AT(mc_kind_stats, fin_held, 120);
MC_AT(mc_kind_stats, rst_unread, 128);
MC_AT(mc_kind_stats, early_tcp, 136);
MC_AT(mc_kind_stats, promoted, 144);
