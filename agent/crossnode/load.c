/*
 * The cross-node shortcut, agent side: load (or adopt) the tc programs, attach
 * them to registered pods' host veths and to the overlay device, learn the
 * other nodes' pod CIDRs from the routing table, keep it all in step with the
 * node (rtnetlink notifications), and forget closed flows. The BPF contract is
 * bpf/tc_shortcut.h; docs/cross-node.md has the design; tc_internal.h maps
 * the parts and the pins.
 *
 * This file: the lifecycle (mc_tc_init/fini), the pins, the configuration
 * map, and the state's one instance.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "crossnode/tc.h"
#include "crossnode/tc_conntrack.h"
#include "crossnode/tc_nl.h"
#include "fsutil.h"
#include "log.h"
#include "netns.h"

/* The state's one instance. The agent runs one cross-node shortcut, and
 * struct mc_agent (agent/agent.h) does not hold it yet: mc_tc_degraded() and
 * the status code that calls it take no agent. Every part reaches it through
 * mc_tc_of(), so that moving it into struct mc_agent changes this file only. */
static struct att_entry tc_recs[MC_TC_MAX_ATT]; /* apart: zeroes, not file bytes */
static struct mc_tc tc_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.recs_buf = tc_recs,
	.wake = {-1, -1},
	.nl_fd = -1,
};

struct mc_tc *mc_tc_of(struct mc_agent *a)
{
	(void)a;
	return &tc_state;
}

/* ------------------------------------------------------------ configuration */

static void put_policy(struct mc_tc *t, const struct mc_cidr *c, uint32_t action,
		       struct mc_tc_lpm_key *keys, size_t *n)
{
	struct mc_tc_lpm_key k = {.prefixlen = c->prefix_len, .addr = c->addr};
	struct mc_tc_policy v = {.action = action};

	if (bpf_map_update_elem(MFD(t, mc_tc_policy), &k, &v, BPF_ANY) == 0)
		keys[(*n)++] = k;
}

static int apply_config(struct mc_tc *t)
{
	struct mc_tc_config c = {.magic = MC_TC_CONFIG_MAGIC,
				 .keep_host_policy = t->opts.keep_host_policy};
	struct mc_tc_lpm_key want[2 * MC_TC_CFG_CIDRS], k, stale[MC_TC_MAX_POLICY], *prev = NULL;
	size_t n = 0, nstale = 0, i, j;
	__u32 zero = 0;

	/* the new entries first, then the stale ones go: never a moment without */
	for (i = 0; i < t->opts.n_shortcut; i++)
		put_policy(t, &t->opts.shortcut_cidrs[i], MC_TC_POLICY_SHORTCUT, want, &n);
	for (i = 0; i < t->opts.n_host; i++) /* the same CIDR in both: host wins */
		put_policy(t, &t->opts.host_cidrs[i], MC_TC_POLICY_HOST, want, &n);
	while (nstale < MC_TC_MAX_POLICY && bpf_map_get_next_key(MFD(t, mc_tc_policy), prev, &k) == 0) {
		bool keep = false;

		for (j = 0; j < n; j++)
			if (!memcmp(&want[j], &k, sizeof(k)))
				keep = true;
		if (!keep)
			stale[nstale++] = k;
		prev = &k;
	}
	for (i = 0; i < nstale; i++)
		bpf_map_delete_elem(MFD(t, mc_tc_policy), &stale[i]);
	if (bpf_map_update_elem(MFD(t, mc_tc_cfg), &zero, &c, BPF_ANY))
		return -errno;
	return 0;
}

/* ------------------------------------------------------------ load / adopt */

static int set_pins(struct mc_tc *t)
{
	struct bpf_map *m;
	char path[PATH_MAX];

	bpf_object__for_each_map(m, t->skel->obj) {
		const char *name = bpf_map__name(m);

		if (!strcmp(name, "mc_control"))
			snprintf(path, sizeof(path), "%s/control", t->pin_dir);
		else if (!strncmp(name, "mc_tc_", 6))
			snprintf(path, sizeof(path), "%s/%s", t->dir, name);
		else {
			/* common.bpf.h's registry maps: not used by the tc programs */
			bpf_map__set_autocreate(m, false);
			continue;
		}
		if (bpf_map__set_pin_path(m, path))
			return -errno;
	}
	return 0;
}

static void pin_prog(struct mc_tc *t, struct bpf_program *p, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	unlink(path);
	if (bpf_program__pin(p, path))
		pr_debug("cross: pin %s: %s", path, strerror(errno));
}

struct pod_list {
	struct mc_pod *p;
	size_t n, cap;
};

static void collect_pod(const struct mc_pod *pod, void *vctx)
{
	struct pod_list *l = vctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct mc_pod *p = realloc(l->p, cap * sizeof(*p));

		if (!p)
			return;
		l->p = p;
		l->cap = cap;
	}
	l->p[l->n++] = *pod;
}

/* attachments pinned by an earlier agent: keep (and update) what still serves
 * a registered pod or an overlay, let go of the rest */
static void adopt(struct mc_tc *t, const struct pod_list *pods)
{
	struct att_entry *recs;
	size_t i, j, n = tc_all_records(t, &recs);
	struct mc_link l;

	for (i = 0; i < n; i++) {
		int ifx = recs[i].ifindex;
		bool wanted = recs[i].rec.role == MC_TC_ROLE_OVL;

		if (tc_link(ifx, &l) || strncmp(l.name, recs[i].rec.name, sizeof(l.name))) {
			tc_forget_dev(t, ifx);
			continue;
		}
		for (j = 0; j < pods->n && !wanted; j++)
			wanted = (int)pods->p[j].host_ifindex == ifx;
		if (!wanted)
			tc_release_dev(t, ifx, &recs[i].rec, "its pod is no longer registered");
	}
}

static void log_ready(const struct mc_tc *t)
{
	char cidrs[512] = "", buf[80];
	size_t off = 0, i;

	for (i = 0; i < t->opts.n_host && off < sizeof(cidrs); i++)
		off += (size_t)snprintf(cidrs + off, sizeof(cidrs) - off, " host:%s",
					mc_tc_cidr_string(&t->opts.host_cidrs[i], buf, sizeof(buf)));
	for (i = 0; i < t->opts.n_shortcut && off < sizeof(cidrs); i++)
		off += (size_t)snprintf(cidrs + off, sizeof(cidrs) - off, " shortcut:%s",
					mc_tc_cidr_string(&t->opts.shortcut_cidrs[i], buf, sizeof(buf)));
	pr_info("cross: tc shortcut ready in %s (keep host policy %s%s%s)", t->dir,
		t->opts.keep_host_policy ? "on" : "off", off ? ";" : "", cidrs);
}

int mc_tc_init(struct mc_agent *a)
{
	struct mc_tc *t = mc_tc_of(a);
	struct pod_list pods = {0};
	size_t i;
	int err;

	pthread_mutex_lock(&t->lock);
	t->agent = a;
	snprintf(t->pin_dir, sizeof(t->pin_dir), "%s", a->dp.pin_dir);
	/* a->dp.pin_dir: the string just copied, whose bound gcc can see */
	snprintf(t->dir, sizeof(t->dir), "%s/%s", a->dp.pin_dir, TC_SUBDIR);
	t->est_timeout_ns = mc_ct_established_timeout_s() * 1000000000ull;
	t->node_netns = mc_own_netns_cookie();
	mc_tc_opts_from_env(&t->opts);
	if (t->opts.failed_closed)
		pr_err("cross: %s: keeping the host path (and its policy) for every new flow",
		       t->opts.error);
	err = mc_mkdir_p(t->dir, 0700);
	if (err) {
		pr_err("cross: create %s: %s", t->dir, strerror(-err));
		goto fail;
	}
	t->skel = tc_shortcut__open();
	if (!t->skel) {
		err = -errno;
		pr_err("cross: open BPF object: %s", strerror(errno));
		goto fail;
	}
	err = set_pins(t);
	if (!err)
		err = tc_shortcut__load(t->skel);
	if (err) {
		pr_err("cross: load the tc programs: %s (maps pinned in %s by another version? "
		       "`meshcut-agent --uninstall` removes them)", strerror(-err), t->dir);
		goto fail;
	}
	pin_prog(t, t->skel->progs.mc_tc_from_pod, "prog_from_pod");
	pin_prog(t, t->skel->progs.mc_tc_from_ovl, "prog_from_ovl");
	err = apply_config(t);
	if (err) {
		pr_err("cross: configuration map: %s", strerror(-err));
		goto fail;
	}
	t->ready = true;

	mc_registry_each(&a->reg, collect_pod, &pods);
	adopt(t, &pods);
	tc_sync_overlays(t);
	for (i = 0; i < pods.n; i++)
		tc_pod_attach(t, &pods.p[i]);
	free(pods.p);
	log_ready(t);

	t->nl_fd = tc_nl_monitor_open();
	if (t->nl_fd < 0)
		pr_warn("cross: no rtnetlink notifications (%s): resynchronising every %llu s",
			strerror(-t->nl_fd), RESYNC_NS / 1000000000ull);
	if (pipe(t->wake) == 0 && pthread_create(&t->thread, NULL, tc_watcher, t) == 0)
		t->thread_on = true;
	else
		pr_warn("cross: no watcher thread: new overlays and routes are not followed");
	pthread_mutex_unlock(&t->lock);
	return 0;
fail:
	if (t->skel)
		tc_shortcut__destroy(t->skel);
	t->skel = NULL;
	t->ready = false;
	pthread_mutex_unlock(&t->lock);
	return err ? err : -EINVAL;
}

void mc_tc_fini(struct mc_agent *a)
{
	struct mc_tc *t = mc_tc_of(a);

	if (t->thread_on) {
		if (write(t->wake[1], "x", 1) < 0)
			pr_debug("cross: wake the watcher: %s", strerror(errno));
		pthread_join(t->thread, NULL);
		t->thread_on = false;
	}
	pthread_mutex_lock(&t->lock);
	if (t->wake[0] >= 0) {
		close(t->wake[0]);
		close(t->wake[1]);
		t->wake[0] = t->wake[1] = -1;
	}
	if (t->nl_fd >= 0)
		close(t->nl_fd);
	t->nl_fd = -1;
	t->ready = false;
	if (t->skel)
		tc_shortcut__destroy(t->skel); /* pins, links and filters stay */
	t->skel = NULL;
	pthread_mutex_unlock(&t->lock);
}

