/*
 * The agent's BPF state: load (or adopt what an earlier agent pinned), attach,
 * and remove. Layout under the pin directory (default /sys/fs/bpf/meshcut):
 *
 *   control                  the control map: layout fixed forever (control.h)
 *   v<N>/                    everything of map layout N (MC_LAYOUT_VERSION)
 *     mc_pods, mc_pod_ips    pod registry
 *     mc_socks, mc_pairs,    socket shortcut (sock_shortcut.h)
 *     mc_free_slots, ...
 *     link_sockops           sockops on the node cgroup (multi-attach link)
 *     link_fin_gate          cgroup_skb/ingress on the node cgroup (this one and
 *                            the recv/send hooks only while a socket mode may
 *                            need them: socket_hooks.h)
 *     link_setsockopt        cgroup/setsockopt on the node cgroup
 *     link_recv_length       tp_btf/sock_recv_length (or link_recv_fexit, ...:
 *     link_send_length       tp_btf/sock_send_length  the hooks rw_hooks.h picked)
 *     prog_sk_msg            the sk_msg program attached to mc_socks
 *
 * Closing the datapath (SIGTERM, SIGKILL, crash) leaves all of it working;
 * only mc_uninstall() (meshcut-agent --uninstall) removes it, after draining
 * every redirected byte.
 */
#ifndef MESHCUT_AGENT_DATAPATH_H
#define MESHCUT_AGENT_DATAPATH_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "control.h"
#include "sock_shortcut.h"

struct sock_shortcut;

struct mc_dp_opts {
	const char *pin_dir;    /* bpffs directory */
	const char *cgroup;     /* cgroup v2 directory whose sockets meshcut sees */
	uint32_t max_pairs;     /* paired connections per node */
	int modes;              /* MC_MODE_* to set, or -1 to keep what is pinned */
	uint32_t backlog_limit; /* 0: keep pinned (or the default) */
	int64_t pod_pairs_max;  /* pair slots per pod (0: no limit); -1: keep what an
				 * agent set, or MC_DEFAULT_POD_PAIRS_MAX */
};

struct mc_datapath {
	struct sock_shortcut *skel;
	char pin_dir[256];
	char layout_dir[280];
	char cgroup[256];
	uint64_t cgroup_id;
	struct mc_pair *pairs; /* mmap of mc_pairs */
	size_t pairs_len;
	uint32_t max_pairs;
	bool adopted;          /* found pinned state of this layout and took it over */
	int rw_hooks;          /* enum mc_rw_hooks: what counts reads and settles sends */
	bool socket_hooks;     /* the recv/send hooks and the FIN gate are attached
				* (socket_hooks.h) */
	char unsupported[320]; /* when mc_dp_open failed because the kernel (or the
				* agent's privileges) refused meshcut: why */
};

/* 0, or a negative errno; then dp->unsupported says why when the kernel or the
 * agent's privileges refused the datapath (not a wrong option or path) */
int mc_dp_open(struct mc_datapath *dp, const struct mc_dp_opts *o);
/* release our handles; everything pinned keeps working */
void mc_dp_close(struct mc_datapath *dp);

int mc_dp_read_control(struct mc_datapath *dp, struct mc_control *c);
/* a mode with a socket bit attaches the socket hooks before it is set */
int mc_dp_set_modes(struct mc_datapath *dp, uint32_t modes);
int mc_dp_set_backlog_limit(struct mc_datapath *dp, uint32_t limit);
int mc_dp_set_pod_pairs_max(struct mc_datapath *dp, uint32_t max);

/* attach a cgroup program as a pinned multi-attach link named pin in the
 * layout directory, or move an adopted link to our program */
struct bpf_program;
int mc_dp_attach_cgroup_prog(struct mc_datapath *dp, int cgroup_fd, struct bpf_program *prog,
			     enum bpf_attach_type type, const char *pin);

/* per-kind counters summed over CPUs */
int mc_dp_read_stats(struct mc_datapath *dp, struct mc_kind_stats out[MC_KIND_MAX]);

/* map fill levels, for status and metrics */
struct mc_dp_fill {
	uint32_t pairs_used, pairs_max;
	uint32_t pending;
	uint32_t sockets;      /* entries of the SOCKHASH */
	uint32_t pods, pods_max;
};
int mc_dp_fill(struct mc_datapath *dp, struct mc_dp_fill *f);

int mc_dp_map_fd(struct mc_datapath *dp, const char *name);

/* uninstall: stop redirecting, drain each pair's backlog (bounded by timeout),
 * delete every socket from the SOCKHASH, detach and unpin what meshcut made.
 * Also works without an open datapath of this version (dp may be adopted from
 * pins only). Returns 0 when everything drained in time. */
struct mc_uninstall_report {
	uint32_t pairs_drained, pairs_timed_out;
	uint64_t bytes_waited;
	double seconds;
};
/* netns_dir: where pods' namespaces are, to wake the readers of drained
 * sockets (waker.h; NULL: none) */
int mc_uninstall(const char *pin_dir, double timeout_s, const char *netns_dir,
		 struct mc_uninstall_report *r);

/* the pin directory is on a bpffs (or, not there yet, would be): 0, or a
 * negative errno, said with what to do instead (uninstall.c shares it) */
int mc_dp_check_pin_dir(const char *pin_dir);
/* libbpf's messages through the agent's log (its debug ones only with -v) */
void mc_dp_libbpf_logs(void);

/* drain helpers shared by uninstall and the agent's periodic sweep */
const char *mc_kind_name(uint32_t kind);
const char *mc_mode_string(uint32_t modes, char *buf, size_t len);
int mc_parse_modes(const char *s, uint32_t *modes);

#endif
