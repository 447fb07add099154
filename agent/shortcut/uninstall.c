/* meshcut-agent --uninstall: drain, detach and unpin every layout (datapath.h,
 * mc_uninstall). Works from the pins alone: no datapath of this version needs
 * to be open. */
#include "shortcut/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shortcut/drain.h"
#include "shortcut/layouts.h"
#include "shortcut/waker.h"
#include "log.h"

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static int open_pinned(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

static void unpin(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) && errno != ENOENT)
		pr_warn("unpin %s: %s", path, strerror(errno));
}

static int drain_layout(const char *layout_dir, double timeout_s, struct mc_waker *w,
			struct mc_uninstall_report *r)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct mc_drainer d = {};
	struct mc_drain_result res = {};
	int pairs_fd, socks_fd, msg_fd, rc = 0;
	struct mc_pair *pairs;
	size_t maplen;
	uint64_t start = mc_now_ns(), deadline;
	long page = sysconf(_SC_PAGESIZE);

	pairs_fd = open_pinned(layout_dir, "mc_pairs");
	socks_fd = open_pinned(layout_dir, "mc_socks");
	if (pairs_fd < 0 || socks_fd < 0) {
		rc = 0; /* nothing to drain */
		goto out_close;
	}
	if (bpf_obj_get_info_by_fd(pairs_fd, &info, &len) ||
	    info.value_size != sizeof(struct mc_pair)) {
		pr_err("%s/mc_pairs has an unknown layout: cannot drain it", layout_dir);
		rc = -EPROTO;
		goto out_close;
	}
	maplen = ((size_t)info.max_entries * sizeof(struct mc_pair) + (size_t)page - 1) &
		 ~((size_t)page - 1);
	pairs = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, pairs_fd, 0);
	if (pairs == MAP_FAILED) {
		rc = -errno;
		goto out_close;
	}
	if (mc_drainer_init(&d, pairs, info.max_entries, socks_fd)) {
		rc = -ENOMEM;
		goto out_unmap;
	}
	/* readers of the deleted sockets get a wakeup, as in the agent's sweep */
	d.removed = mc_waker_queue;
	d.removed_ctx = w;
	deadline = start + (uint64_t)(timeout_s * 1e9);
	for (;;) {
		uint64_t now = mc_now_ns();

		mc_drain_sweep(&d, 0, true, now, 200 * 1000000ull, &res);
		r->pairs_drained += res.deleted;
		if (res.deleted)
			mc_waker_run_any(w);
		if (!res.waiting)
			break;
		if (now > deadline) {
			r->pairs_timed_out = res.waiting;
			r->bytes_waited = res.backlog_bytes;
			pr_warn("uninstall: %u pairs still hold %llu unread redirected bytes after "
				"%.0f s; leaving them in the SOCKHASH (they keep working until they "
				"close, their sockets are not freed)",
				res.waiting, (unsigned long long)res.backlog_bytes, timeout_s);
			rc = -ETIMEDOUT;
			break;
		}
		usleep(20000);
	}
	mc_drainer_free(&d);
	/* the sk_msg program: detach from the map (live sockets already left) */
	msg_fd = open_pinned(layout_dir, "prog_sk_msg");
	if (msg_fd >= 0) {
		if (bpf_prog_detach2(msg_fd, socks_fd, BPF_SK_MSG_VERDICT) && errno != ENOENT)
			pr_warn("detach sk_msg: %s", strerror(errno));
		close(msg_fd);
	}
out_unmap:
	munmap(pairs, maplen);
out_close:
	if (pairs_fd >= 0)
		close(pairs_fd);
	if (socks_fd >= 0)
		close(socks_fd);
	return rc;
}

int mc_uninstall(const char *pin_dir, double timeout_s, const char *netns_dir,
		 struct mc_uninstall_report *r)
{
	struct mc_waker w;
	char layout_dir[PATH_MAX];
	struct mc_layout_info l[16];
	struct mc_control c;
	uint64_t start = mc_now_ns(), deadline;
	__u32 zero = 0;
	int fd, rc = 0, n, i;

	memset(r, 0, sizeof(*r));
	mc_dp_libbpf_logs();
	if (!exists(pin_dir)) {
		pr_info("uninstall: nothing pinned at %s", pin_dir);
		return 0;
	}
	if ((rc = mc_dp_check_pin_dir(pin_dir)))
		return rc;
	snprintf(layout_dir, sizeof(layout_dir), "%s/v%d", pin_dir, MC_LAYOUT_VERSION);
	/* 1. every program of every version: no new sockets, no new redirects */
	fd = open_pinned(pin_dir, "control");
	if (fd >= 0) {
		if (bpf_map_lookup_elem(fd, &zero, &c) == 0) {
			c.modes = 0;
			c.active_layout = 0;
			c.generation++;
			bpf_map_update_elem(fd, &zero, &c, BPF_ANY);
		}
		close(fd);
	}
	/* 2. our layout: drain every pair, then delete its sockets from the
	 * SOCKHASH; its programs stay attached meanwhile (they insert nothing now,
	 * but hold closing FINs and give slots back) */
	if (exists(layout_dir)) {
		mc_waker_init(&w, netns_dir);
		rc = drain_layout(layout_dir, timeout_s, &w, r);
		mc_waker_free(&w);
	}
	/* 3. other layouts cannot be drained by this agent: their sockets left the
	 * shortcut at step 1 and go as they close; wait for that, bounded */
	deadline = start + (uint64_t)(timeout_s * 1e9);
	for (;;) {
		uint64_t left = 0;

		n = mc_layouts_scan(pin_dir, l, 16);
		for (i = 0; i < n; i++)
			if (l[i].version != MC_LAYOUT_VERSION)
				left += l[i].census ? l[i].live : 1;
		if (!left || mc_now_ns() > deadline)
			break;
		usleep(100000);
	}
	/* 4. detach and unpin exactly what meshcut made, layout by layout */
	n = mc_layouts_scan(pin_dir, l, 16);
	for (i = 0; i < n; i++) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s/v%d", pin_dir, l[i].version);
		if (l[i].version != MC_LAYOUT_VERSION && (!l[i].census || l[i].live)) {
			pr_warn("uninstall: %s (layout v%d) still serves %llu sockets: left in place; run "
				"--uninstall again once they closed, or that version's agent",
				dir, l[i].version, (unsigned long long)l[i].live);
			rc = rc ? rc : -EBUSY;
			continue;
		}
		if (mc_layout_remove(dir))
			rc = rc ? rc : -EBUSY;
	}
	n = mc_layouts_scan(pin_dir, l, 16);
	if (n == 0) {
		unpin(pin_dir, "control");
		if (rmdir(pin_dir) && errno != ENOENT)
			pr_warn("remove %s: %s (something else is pinned there)", pin_dir, strerror(errno));
	}
	r->seconds = (double)(mc_now_ns() - start) / 1e9;
	return rc;
}
