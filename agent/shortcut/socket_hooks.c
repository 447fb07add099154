/* The per-socket hooks follow the mode: see socket_hooks.h. */
#include "shortcut/socket_hooks.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shortcut/datapath.h"
#include "shortcut/rw_hooks.h"
#include "sock_shortcut.skel.h"

#define FIN_GATE_LINK "link_fin_gate"

int mc_socket_hooks_attach(struct mc_datapath *dp, int cgroup_fd, char *what, size_t whatlen)
{
	int err;

	/* set first: after a partial attach the tick releases what is there */
	__atomic_store_n(&dp->socket_hooks, true, __ATOMIC_RELAXED);
	err = mc_rw_hooks_attach(dp->skel->obj, dp->rw_hooks, dp->layout_dir, what, whatlen);
	if (err)
		return err;
	err = mc_dp_attach_cgroup_prog(dp, cgroup_fd, dp->skel->progs.mc_fin_gate,
				       BPF_CGROUP_INET_INGRESS, FIN_GATE_LINK);
	if (err) {
		snprintf(what, whatlen, "cgroup_skb/ingress (the FIN gate) to %s", dp->cgroup);
		return err;
	}
	return 0;
}

int mc_socket_hooks_ensure(struct mc_datapath *dp)
{
	bool was = dp->socket_hooks;
	char what[160];
	int fd, err;

	/* always: attaching keeps what is attached, and completes a partial
	 * attach that the flag alone would take for a whole one */
	fd = open(dp->cgroup, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		err = -errno;
		pr_err("open cgroup %s: %s", dp->cgroup, strerror(errno));
		return err;
	}
	err = mc_socket_hooks_attach(dp, fd, what, sizeof(what));
	close(fd);
	if (err) {
		pr_err("attach %s: %s", what, strerror(-err));
		return err;
	}
	if (!was)
		pr_info("socket hooks attached (recv/send: %s, FIN gate): a mode with a socket shortcut",
			mc_rw_hooks_name(dp->rw_hooks));
	return 0;
}

/* Returns once every non-sleepable BPF program that was running has
 * returned: an update of a map-in-map waits for an RCU grace period
 * (kernel/bpf/syscall.c, maybe_wait_bpf_programs, 4.20 through today),
 * and our programs run inside RCU read-side sections. The kernel's own
 * selftests wait the same way (kern_sync_rcu). */
static int wait_for_running_programs(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int inner, outer, err = 0;
	__u32 zero = 0;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mc_sync_inner", 4, 4, 1, NULL);
	if (inner < 0)
		return -errno;
	opts.inner_map_fd = inner;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "mc_sync", 4, 4, 1, &opts);
	if (outer < 0)
		err = -errno;
	else if (bpf_map_update_elem(outer, &zero, &inner, BPF_ANY))
		err = -errno;
	if (outer >= 0)
		close(outer);
	close(inner);
	return err;
}

/* no socket in our SOCKHASH (an error counts as "not empty": keep them) */
static bool sockhash_empty(struct mc_datapath *dp)
{
	struct mc_sock_key k;

	return bpf_map_get_next_key(bpf_map__fd(dp->skel->maps.mc_socks), NULL, &k) && errno == ENOENT;
}

static void release(struct mc_datapath *dp)
{
	char path[PATH_MAX];
	int fd;

	mc_rw_hooks_release(dp->layout_dir);
	snprintf(path, sizeof(path), "%s/%s", dp->layout_dir, FIN_GATE_LINK);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
	__atomic_store_n(&dp->socket_hooks, false, __ATOMIC_RELAXED);
}

int mc_socket_hooks_tick(struct mc_datapath *dp)
{
	static bool warned;
	struct mc_control c;
	int err;

	if (!dp->socket_hooks || mc_dp_read_control(dp, &c) || (c.modes & MC_MODE_SOCKETS) ||
	    !sockhash_empty(dp))
		return 0;
	err = wait_for_running_programs();
	if (err) {
		if (!warned)
			pr_warn("socket hooks stay attached: cannot wait for running BPF programs (%s)",
				strerror(-err));
		warned = true;
		return err;
	}
	if (!sockhash_empty(dp))
		return 0; /* a sockops run that read the old mode inserted: next tick */
	release(dp);
	/* a recv that entered a released program is over before a mode change
	 * can attach it again (the next attach must not meet it) */
	wait_for_running_programs();
	pr_info("socket hooks released (recv/send, FIN gate): no socket mode, no socket in the shortcut");
	return 1;
}
