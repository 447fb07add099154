/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Contract: the control map (agent -> every meshcut program of every version).
 *
 * An agent must be able to tell programs it did not load to stop redirecting:
 * after an upgrade, live sockets keep the sk_msg program (and maps) they were
 * inserted with until they close. So the control lives in one small array map
 * whose layout NEVER changes across versions: fields are only ever added in
 * the reserved space, and existing fields keep their meaning forever. Every
 * version's agent pins it at the same path and every program reads it.
 */
#ifndef MESHCUT_CONTROL_H
#define MESHCUT_CONTROL_H

#define MC_CONTROL_MAGIC 0x6d637431u /* "mct1": the agent has initialised the map */

/* Version of every other map's layout (pods, pairs, SOCKHASH keys, ...). A
 * change of any of them means a new number: the agent pins the new maps under
 * a new directory and lets the old ones serve their live sockets until they
 * close or drain. */
#ifndef MC_LAYOUT_VERSION /* tests build a layout-changed agent with the next number */
/* 1: first layout. 2: mc_pair.read_seq, mc_sock's send settlement, to_tcp.send_error.
 * 3: mc_pod_life (a pod's namespace lifetime), per-pod pair quota, per-thread
 *    send settlement. */
#define MC_LAYOUT_VERSION 3
#endif

/* Every layout directory vN also holds "mc_live": an ARRAY map of one __u64,
 * the number of sockets that layout's programs currently hold. Its layout is
 * part of this fixed contract: an agent of any version may remove a layout
 * directory it does not otherwise understand once it is not the active layout
 * and its count is 0 (its programs then serve no socket). */
#define MC_LIVE_MAP "mc_live"

/* modes: which shortcuts take new connections and keep redirecting live ones */
#define MC_MODE_OUTBOUND (1u << 0) /* pair 1<->2: app -> its sidecar (15001) */
#define MC_MODE_INBOUND  (1u << 1) /* pair 5<->6: sidecar (127.0.0.6) -> its app */
#define MC_MODE_NODE     (1u << 2) /* pair 3<->4: sidecar -> sidecar on this node (15006) */
#define MC_MODE_CROSS    (1u << 3) /* tc shortcut around the bridge, across nodes */
#define MC_MODE_INTRA    (MC_MODE_OUTBOUND | MC_MODE_INBOUND)
#define MC_MODE_FULL     (MC_MODE_INTRA | MC_MODE_NODE | MC_MODE_CROSS)
/* the modes in which sockops may put a socket into the SOCKHASH */
#define MC_MODE_SOCKETS  (MC_MODE_INTRA | MC_MODE_NODE)

struct mc_control {
	__u32 magic;         /* MC_CONTROL_MAGIC once initialised; 0: programs do nothing */
	__u32 modes;         /* MC_MODE_* */
	__u32 backlog_limit; /* bytes a receiver may hold redirected before its sender leaves */
	__u32 active_layout; /* only programs built for this map layout insert new
			      * sockets; older ones keep serving what they hold */
	__u64 generation;    /* bumped by the agent at every change */
	__u32 pod_pairs_max; /* pair slots one pod's connections may hold (charged
			      * to the connecting pod); 0: no limit */
	__u32 set;           /* MC_CONTROL_SET_*: fields an agent has set (a field
			      * added later reads 0 in a map an older agent made) */
	__u32 start_modes;   /* the --mode the agent last started with (user space
			      * only): a restart with the same flag keeps a mode
			      * set at runtime, a new flag wins */
	__u32 start_pad;
	__u64 reserved[11];  /* 128 bytes in all; never shrink, never reorder */
};

#define MC_CONTROL_SET_POD_PAIRS_MAX (1u << 0)
#define MC_CONTROL_SET_START_MODES   (1u << 1)
/* what a node gets unless the operator says otherwise: one pod may hold an
 * eighth of the default table, so no pod takes every slot from the others */
#define MC_DEFAULT_POD_PAIRS_MAX 8192

#endif
