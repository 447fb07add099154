/*
 * meshcut-agent --uninstall, the cross-node shortcut's part: hand live flows
 * to the host's conntrack, detach what mc_tc_att records (only if it is still
 * meshcut's), unpin. Works from the pins alone: no agent state.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crossnode/tc.h"
#include "log.h"
#include "netns.h"

/* Enter the network namespace whose cookie is `cookie` (the node's, where
 * meshcut attached its clsact filters): the uninstall may run elsewhere (a
 * test harness in the root namespace). Candidates: named namespaces and every
 * process's. Returns the fd of the namespace we were in (setns back to it),
 * or -1 when it cannot be found. */
static int enter_netns(uint64_t cookie)
{
	static const char *const dirs[] = {"/run/netns", "/var/run/netns", "/proc"};
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	size_t i;

	if (self < 0)
		return -1;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d))) {
			char path[PATH_MAX];
			int fd;

			if (e->d_name[0] == '.')
				continue;
			if (i == 2) {
				if (e->d_name[0] < '0' || e->d_name[0] > '9')
					continue;
				snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
			} else {
				snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name);
			}
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (setns(fd, CLONE_NEWNET) == 0) {
				if (mc_own_netns_cookie() == cookie) {
					close(fd);
					closedir(d);
					return self;
				}
				setns(self, CLONE_NEWNET);
			}
			close(fd);
		}
		closedir(d);
	}
	close(self);
	return -1;
}

/* every live flow, to the conntrack of the network namespace its pod's veth
 * is recorded in (the node's: normally the one we run in) */
static void uninstall_handover(const char *dir)
{
	uint64_t here = mc_own_netns_cookie(), seen[8];
	int flows_fd, att_fd, k, *prev = NULL, back;
	size_t nseen = 0, i;
	struct handover h = {0};
	struct mc_tc_att rec;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/mc_tc_flows", dir);
	flows_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/mc_tc_att", dir);
	att_fd = bpf_obj_get(path);
	if (flows_fd < 0 || att_fd < 0)
		goto out;
	while (bpf_map_get_next_key(att_fd, prev, &k) == 0) {
		prev = &k;
		if (bpf_map_lookup_elem(att_fd, &k, &rec) || rec.role != MC_TC_ROLE_POD)
			continue;
		for (i = 0; i < nseen && seen[i] != rec.node_netns; i++)
			;
		if (i < nseen || nseen == sizeof(seen) / sizeof(seen[0]))
			continue;
		seen[nseen++] = rec.node_netns;
		back = -1;
		if (rec.node_netns != here && (back = enter_netns(rec.node_netns)) < 0) {
			pr_warn("uninstall: the network namespace of %s (cookie %llu) is not reachable "
				"from here: its live flows are not handed to its conntrack", rec.name,
				(unsigned long long)rec.node_netns);
			continue;
		}
		tc_handover_flows(flows_fd, att_fd, 0, rec.node_netns, &h);
		if (back >= 0) {
			if (setns(back, CLONE_NEWNET))
				pr_warn("uninstall: return to our network namespace: %s", strerror(errno));
			close(back);
		}
	}
	pr_info("uninstall: %u live cross-node flows handed to the host's conntrack%s%s", h.handed,
		h.failed ? "; failed for some (their close may be dropped as INVALID): " : "",
		h.failed ? strerror(-h.err) : "");
out:
	if (flows_fd >= 0)
		close(flows_fd);
	if (att_fd >= 0)
		close(att_fd);
}

int mc_tc_uninstall(const char *pin_dir)
{
	char dir[300], path[PATH_MAX];
	struct mc_tc_att rec;
	int fd, k, *prev = NULL, keys[MC_TC_MAX_ATT], rc = 0, back;
	size_t n = 0, i, detached = 0;
	uint64_t here = mc_own_netns_cookie();
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", pin_dir, TC_SUBDIR);
	if (access(dir, F_OK))
		return 0;
	/* 0. the live flows leave with the programs: the host's conntrack of
	 * their node gets them first */
	uninstall_handover(dir);
	/* 1. every attachment on record: detached, if it is still meshcut's.
	 * tcx links detach from anywhere; clsact filters are reached over
	 * netlink in their device's network namespace */
	snprintf(path, sizeof(path), "%s/mc_tc_att", dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		while (n < MC_TC_MAX_ATT && bpf_map_get_next_key(fd, prev, &k) == 0) {
			keys[n++] = k;
			prev = &keys[n - 1];
		}
		for (i = 0; i < n; i++) {
			if (bpf_map_lookup_elem(fd, &keys[i], &rec))
				continue;
			back = -1;
			if (rec.mode == MC_TC_MODE_CLSACT && rec.node_netns && rec.node_netns != here) {
				back = enter_netns(rec.node_netns);
				if (back < 0) {
					pr_warn("uninstall: the network namespace of %s (ifindex %d, cookie %llu) "
						"is not reachable from here: its clsact filter (prio %u) stays; run "
						"the uninstall on the node (hostNetwork)", rec.name, keys[i],
						(unsigned long long)rec.node_netns, rec.prio);
					rc = -EBUSY;
					continue;
				}
			}
			if (tc_detach_record(dir, keys[i], &rec)) {
				pr_warn("uninstall: detach the %s program from %s (ifindex %d) failed",
					tc_role_name(rec.role), rec.name, keys[i]);
				rc = -EBUSY;
			} else {
				detached++;
			}
			if (back >= 0) {
				if (setns(back, CLONE_NEWNET))
					pr_warn("uninstall: return to our network namespace: %s", strerror(errno));
				close(back);
			}
		}
		close(fd);
	}
	/* 2. pinned tcx links without a record (a crash between pin and record) */
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			if (!strncmp(e->d_name, "link_", 5)) {
				int ifx = atoi(e->d_name + 5);

				if (ifx > 0 && tc_tcx_detach(dir, ifx) == 0)
					detached++;
			}
		}
		closedir(d);
	}
	/* 3. unpin everything of ours, then the directory; with an attachment
	 * left, the record stays so that a later uninstall can finish */
	if (rc) {
		pr_warn("uninstall: %s kept: it records what could not be detached", dir);
		return rc;
	}
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (strncmp(e->d_name, "mc_tc_", 6) && strncmp(e->d_name, "prog_from_", 10) &&
			    strncmp(e->d_name, "link_", 5))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (unlink(path))
				pr_warn("uninstall: unpin %s: %s", path, strerror(errno));
		}
		closedir(d);
	}
	if (rmdir(dir) && errno != ENOENT) {
		pr_warn("uninstall: remove %s: %s (something else is pinned there)", dir, strerror(errno));
		rc = rc ? rc : -EBUSY;
	}
	pr_info("uninstall: cross-node shortcut: %zu tc attachments removed%s", detached,
		rc ? " (some could not be)" : "");
	return rc;
}

