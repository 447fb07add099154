/*
 * The cross-node shortcut's parts (agent side), and what they share: its
 * state (struct mc_tc) and the functions one part calls in another. Not for
 * use outside agent/crossnode/: the rest of the agent goes through tc.h.
 *
 *   load.c       load (or adopt) the tc programs, pins, configuration map;
 *                mc_tc_init/fini, the state's one instance
 *   attach.c     clsact and tcx mechanics; attach, update, detach, records
 *   pods.c       registered pods: their veth's program and endpoints
 *   routes.c     overlay devices and the remote pod CIDRs routed through them
 *   watch.c      the watcher thread: rtnetlink notifications, resync, GC
 *   flows.c      flows: handover to the host's conntrack, forgetting closed ones
 *   uninstall.c  meshcut-agent --uninstall's part (no state: pins only)
 *   stats.c      status (JSON) and /metrics
 *
 * Pins: PIN_DIR/tc/ (independent of the socket shortcut's map layout vN, so a
 * socket-layout upgrade keeps the tc state and the layout GC never touches it)
 *   mc_tc_flows, mc_tc_eps, mc_tc_ovls, mc_tc_remote, mc_tc_policy, mc_tc_cfg,
 *   mc_tc_stats, mc_tc_att     maps (mc_tc_att: what meshcut attached where)
 *   prog_from_pod, prog_from_ovl   the programs of the last agent
 *   link_<ifindex>              tcx links (clsact filters are recorded in mc_tc_att)
 * The control map is PIN_DIR/control (shared). Everything fails open: a pod
 * that cannot be attached keeps the host path.
 */
#ifndef MESHCUT_AGENT_TC_INTERNAL_H
#define MESHCUT_AGENT_TC_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crossnode/tc_config.h"
#include "netlink.h"
#include "tc_shortcut.h"
#include "tc_shortcut.skel.h"

struct mc_agent;

#define TC_SUBDIR "tc"
#define RESYNC_NS (10ull * 1000000000)

/* one record of mc_tc_att, copied out of the map */
struct att_entry {
	int ifindex;
	struct mc_tc_att rec;
};

/* The shortcut's state. lock guards all of it but the watcher's thread
 * handles (set by mc_tc_init, joined by mc_tc_fini) and the GC's counters
 * (written by the watcher alone). */
struct mc_tc {
	pthread_mutex_t lock;
	struct tc_shortcut *skel;
	struct mc_agent *agent;
	char pin_dir[256];
	char dir[280];
	struct mc_tc_opts opts;
	int tcx;           /* 1: tcx links work here, -1: not in this kernel, 0: not tried */
	bool ready;
	pthread_t thread;
	bool thread_on;
	int wake[2];
	int nl_fd;
	uint64_t est_timeout_ns;
	uint32_t flows_live;
	uint64_t flows_expired;
	uint64_t flows_handed, handover_errors; /* to the host's conntrack (tc_conntrack.h) */
	uint64_t node_netns;   /* our network namespace's cookie */
	/* MC_TC_MAX_ATT records, copied (callers may delete while walking);
	 * callers of tc_all_records hold lock */
	struct att_entry *recs_buf;
};

/* the state of the agent a's shortcut (load.c) */
struct mc_tc *mc_tc_of(struct mc_agent *a);

#define MFD(t, m) bpf_map__fd((t)->skel->maps.m)

/* attach.c */
const char *tc_role_name(uint32_t role);
void tc_link_pin_path(const char *dir, int ifindex, char *buf, size_t len);
/* the link with this ifindex in our network namespace (-ENODEV: none) */
int tc_link(int ifindex, struct mc_link *out);
int tc_tcx_detach(const char *dir, int ifindex);
int tc_detach_record(const char *dir, int ifindex, const struct mc_tc_att *rec);
int tc_ensure_attached(struct mc_tc *t, int ifindex, uint32_t role, const char *name,
		       struct mc_tc_att *out);
void tc_release_dev(struct mc_tc *t, int ifindex, const struct mc_tc_att *rec, const char *why);
void tc_forget_dev(struct mc_tc *t, int ifindex);
size_t tc_all_records(struct mc_tc *t, struct att_entry **out);

/* flows.c */
uint64_t tc_now_ns(void); /* CLOCK_MONOTONIC: the programs' bpf_ktime_get_ns() */
struct handover {
	unsigned int handed, failed;
	int err; /* the first failure */
};
void tc_handover_flows(int flows_fd, int att_fd, int ifindex, uint64_t netns, struct handover *h);
void tc_handover_flows_of(struct mc_tc *t, int ifindex);
void tc_delete_eps_of(struct mc_tc *t, int ifindex);
void tc_gc_flows(struct mc_tc *t);

/* pods.c */
void tc_pod_attach(struct mc_tc *t, const struct mc_pod *pod);
void tc_refresh_pod_dev(struct mc_tc *t, int ifindex);
void tc_check_records(struct mc_tc *t);

/* routes.c */
void tc_sync_overlays(struct mc_tc *t);

/* watch.c: the thread's body (arg: the struct mc_tc) */
void *tc_watcher(void *arg);

#endif
