/* The agent's BPF state: load or adopt, attach, pin (uninstall.c removes it).
 * See datapath.h. */
#include "shortcut/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "config.h"
#include "shortcut/drain.h"
#include "shortcut/layouts.h"
#include "fsutil.h"
#include "log.h"
#include "sock_shortcut.skel.h"
#include "shortcut/rw_hooks.h"
#include "shortcut/socket_hooks.h"
#include "testhooks.h"

#define DEFAULT_BACKLOG_LIMIT (4u << 20) /* 4 MiB per receiver, see docs/socket-shortcut.md, "Bounded memory" */


const char *mc_kind_name(uint32_t kind)
{
	switch (kind) {
	case MC_KIND_OUTBOUND:
		return "outbound";
	case MC_KIND_NODE:
		return "node_local";
	case MC_KIND_INBOUND:
		return "inbound";
	}
	return "none";
}

const char *mc_mode_string(uint32_t modes, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if ((modes & MC_MODE_FULL) == MC_MODE_FULL)
		return snprintf(buf, len, "full"), buf;
	if (!modes)
		return snprintf(buf, len, "off"), buf;
	if ((modes & MC_MODE_INTRA) == MC_MODE_INTRA)
		off += (size_t)snprintf(buf + off, len - off, "intra,");
	else if (modes & MC_MODE_OUTBOUND)
		off += (size_t)snprintf(buf + off, len - off, "outbound,");
	else if (modes & MC_MODE_INBOUND)
		off += (size_t)snprintf(buf + off, len - off, "inbound,");
	if (modes & MC_MODE_NODE && off < len)
		off += (size_t)snprintf(buf + off, len - off, "node,");
	if (modes & MC_MODE_CROSS && off < len)
		off += (size_t)snprintf(buf + off, len - off, "cross,");
	if (off && off <= len)
		buf[off - 1] = '\0';
	return buf;
}

int mc_parse_modes(const char *s, uint32_t *modes)
{
	char tmp[128], *save = NULL, *tok;

	if (!s || strlen(s) >= sizeof(tmp) || !*s)
		return -1;
	strcpy(tmp, s);
	*modes = 0;
	for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "full"))
			*modes |= MC_MODE_FULL;
		else if (!strcmp(tok, "off"))
			*modes |= 0;
		else if (!strcmp(tok, "intra"))
			*modes |= MC_MODE_INTRA;
		else if (!strcmp(tok, "outbound"))
			*modes |= MC_MODE_OUTBOUND;
		else if (!strcmp(tok, "inbound"))
			*modes |= MC_MODE_INBOUND;
		else if (!strcmp(tok, "node"))
			*modes |= MC_MODE_NODE;
		else if (!strcmp(tok, "cross"))
			*modes |= MC_MODE_CROSS;
		else
			return -1;
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && mc_log_level() < MC_LOG_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void mc_dp_libbpf_logs(void)
{
	libbpf_set_print(libbpf_print);
}

/* cgroup v2 id of a directory (what bpf_link_info reports) */
static int cgroup_id_of(const char *path, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	int mount_id;

	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return -errno;
	*id = h.id;
	return 0;
}

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* report pinned layouts other than ours: they keep serving their sockets */
static void report_layouts(const char *pin_dir)
{
	struct mc_layout_info l[16];
	int n = mc_layouts_scan(pin_dir, l, 16), i;

	for (i = 0; i < n; i++) {
		if (l[i].version == MC_LAYOUT_VERSION)
			continue;
		pr_warn("%s/v%d holds map layout v%d (%s than this agent's v%d): not adopting it; "
			"its programs keep serving the %llu sockets they hold until they close, new "
			"connections use v%d, and the directory goes once it serves none",
			pin_dir, l[i].version, l[i].version,
			l[i].version > MC_LAYOUT_VERSION ? "newer" : "older", MC_LAYOUT_VERSION,
			(unsigned long long)l[i].live, MC_LAYOUT_VERSION);
	}
}

/*
 * The first load of a layout must look atomic to the next start: "fresh" is
 * decided by whether mc_pairs is pinned, and mc_pairs is pinned last, once
 * the free-slot queue is full and the registrations are migrated. A start that
 * dies before that (a crash, an OOM kill) leaves no mc_pairs, and the next one
 * starts over: it removes what the interrupted one pinned (no program of it
 * was attached yet: attaching comes after) and loads afresh. Rebuilding the
 * queue of a pinned layout instead would race its attached programs (sockops
 * pops a slot before it sets refs): one slot for two connections.
 */
#define FRESH_MARKER "mc_pairs"

/* an interrupted first load left maps but never attached anything: remove
 * them; refuse when there is anything else (a link, a program) */
static int remove_unfinished_load(const char *layout_dir)
{
	struct dirent *e;
	DIR *d = opendir(layout_dir);
	int n = 0, err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if (strncmp(e->d_name, "mc_", 3)) {
			pr_err("%s/%s is pinned but %s is not: not a first load this agent left; "
			       "uninstall first", layout_dir, e->d_name, FRESH_MARKER);
			err = -EEXIST;
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", layout_dir, e->d_name);
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			break;
		}
		n++;
	}
	closedir(d);
	if (!err && n)
		pr_warn("%s: an earlier start died during its first load: removed the %d maps it "
			"pinned, loading afresh", layout_dir, n);
	return err;
}

static int pin_maps(struct mc_datapath *dp, bool *fresh)
{
	char path[PATH_MAX];
	struct bpf_map *m;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dp->layout_dir, FRESH_MARKER);
	*fresh = !path_exists(path);
	if (*fresh && (err = remove_unfinished_load(dp->layout_dir)))
		return err;
	bpf_object__for_each_map(m, dp->skel->obj) {
		const char *name = bpf_map__name(m);
		int r;

		if (!strcmp(name, "mc_control"))
			r = snprintf(path, sizeof(path), "%s/control", dp->pin_dir);
		else if (!strncmp(name, "mc_", 3))
			r = snprintf(path, sizeof(path), "%s/%s", dp->layout_dir, name);
		else
			continue; /* .bss/.rodata: not shared state */
		if (r >= (int)sizeof(path))
			return -ENAMETOOLONG;
		/* the marker of a first load is pinned by hand, last */
		if (*fresh && !strcmp(name, FRESH_MARKER))
			continue;
		if (bpf_map__set_pin_path(m, path))
			return -errno;
	}
	return 0;
}

/* the first load is complete: from now on a start adopts it */
static int pin_marker(struct mc_datapath *dp)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dp->layout_dir, FRESH_MARKER);
	return bpf_map__pin(dp->skel->maps.mc_pairs, path) ? -errno : 0;
}

/* The mode a start with --mode FLAG runs in. A DaemonSet passes the same flag
 * at every restart, so the flag alone would undo a `meshcut mode` an operator
 * set at runtime. The rule: the flag wins when it differs from the one the
 * agent last started with (the chart's value changed); otherwise the mode
 * pinned on the node (the runtime choice) stays. A map made by an agent that
 * did not record its flag: the flag wins, as it always did. */
static uint32_t start_modes(struct mc_control *c, uint32_t flag)
{
	char a[64], b[64], was[64];

	if ((c->set & MC_CONTROL_SET_START_MODES) && c->start_modes == flag) {
		if (c->modes != flag)
			pr_info("keeping mode %s, set at runtime (--mode %s is the flag this node "
				"started with; a different --mode would win)",
				mc_mode_string(c->modes, a, sizeof(a)),
				mc_mode_string(flag, b, sizeof(b)));
		return c->modes;
	}
	if ((c->set & MC_CONTROL_SET_START_MODES) && c->modes != flag)
		pr_info("mode %s from --mode (the flag changed from %s), replacing %s",
			mc_mode_string(flag, a, sizeof(a)),
			mc_mode_string(c->start_modes, b, sizeof(b)),
			mc_mode_string(c->modes, was, sizeof(was)));
	c->start_modes = flag;
	c->set |= MC_CONTROL_SET_START_MODES;
	return flag;
}

static int init_control(struct mc_datapath *dp, const struct mc_dp_opts *o)
{
	int fd = bpf_map__fd(dp->skel->maps.mc_control);
	struct mc_control c = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &c))
		return -errno;
	if (c.magic != MC_CONTROL_MAGIC) {
		memset(&c, 0, sizeof(c));
		c.magic = MC_CONTROL_MAGIC;
		c.modes = MC_MODE_FULL;
		c.backlog_limit = DEFAULT_BACKLOG_LIMIT;
	}
	if (o->modes >= 0)
		c.modes = start_modes(&c, (uint32_t)o->modes);
	if (o->backlog_limit)
		c.backlog_limit = o->backlog_limit;
	if (o->pod_pairs_max >= 0)
		c.pod_pairs_max = (uint32_t)o->pod_pairs_max;
	else if (!(c.set & MC_CONTROL_SET_POD_PAIRS_MAX)) /* a map made before the field */
		c.pod_pairs_max = MC_DEFAULT_POD_PAIRS_MAX;
	c.set |= MC_CONTROL_SET_POD_PAIRS_MAX;
	c.active_layout = MC_LAYOUT_VERSION; /* from now on, our programs insert */
	c.generation++;
	return bpf_map_update_elem(fd, &zero, &c, BPF_ANY) ? -errno : 0;
}

/* copy every entry of a pinned map of another layout into ours, when both have
 * the same shape; returns the number copied, -1 when the shapes differ */
static int copy_map(const char *from, int to_fd)
{
	struct bpf_map_info a = {}, b = {};
	__u32 la = sizeof(a), lb = sizeof(b);
	char key[512], next[512], val[4096];
	void *prev = NULL;
	int fd = bpf_obj_get(from), n = 0;

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &a, &la) || bpf_obj_get_info_by_fd(to_fd, &b, &lb) ||
	    a.key_size != b.key_size || a.value_size != b.value_size || a.key_size > sizeof(key) ||
	    a.value_size > sizeof(val)) {
		close(fd);
		return -1;
	}
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, a.key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val) == 0 &&
		    bpf_map_update_elem(to_fd, key, val, BPF_NOEXIST) == 0)
			n++;
	}
	close(fd);
	return n;
}

/* A new layout starts with the registrations of the layouts pinned before it
 * (an upgrade, or a rollback), as long as a pod entry means the same to both:
 * the pods are still there and will not register again. */
static void migrate_registrations(struct mc_datapath *dp)
{
	struct mc_layout_info l[16];
	int n = mc_layouts_scan(dp->pin_dir, l, 16), i;

	for (i = 0; i < n; i++) {
		char path[PATH_MAX];
		int pods, ips;

		if (l[i].version == MC_LAYOUT_VERSION)
			continue;
		snprintf(path, sizeof(path), "%s/v%d/mc_pods", dp->pin_dir, l[i].version);
		pods = copy_map(path, bpf_map__fd(dp->skel->maps.mc_pods));
		snprintf(path, sizeof(path), "%s/v%d/mc_pod_ips", dp->pin_dir, l[i].version);
		ips = copy_map(path, bpf_map__fd(dp->skel->maps.mc_pod_ips));
		if (pods < 0 || ips < 0)
			pr_warn("the registrations of layout v%d have another shape: this agent cannot "
				"read them; restart those pods so they register again",
				l[i].version);
		else if (pods)
			pr_info("took over %d pod registrations from layout v%d", pods, l[i].version);
	}
}

static int fill_free_slots(struct mc_datapath *dp)
{
	int fd = bpf_map__fd(dp->skel->maps.mc_free_slots);
	__u32 i;

	for (i = 0; i < dp->max_pairs; i++) {
		if (i == dp->max_pairs / 2)
			mc_test_point("first-load-half-filled");
		if (bpf_map_update_elem(fd, NULL, &i, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* attach a cgroup program (multi-attach link), or move an adopted link to our
 * program: new sockets get it, live ones keep theirs */
int mc_dp_attach_cgroup_prog(struct mc_datapath *dp, int cgroup_fd, struct bpf_program *prog,
			     enum bpf_attach_type type, const char *pin)
{
	int prog_fd = bpf_program__fd(prog);
	struct bpf_link_info info = {};
	__u32 info_len = sizeof(info);
	char path[PATH_MAX];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", dp->layout_dir, pin);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_obj_get_info_by_fd(fd, &info, &info_len) == 0 &&
		    info.cgroup.cgroup_id != dp->cgroup_id) {
			pr_err("pinned link %s is attached to cgroup id %llu, not to %s (id %llu): "
			       "refusing to move it; uninstall first",
			       path, (unsigned long long)info.cgroup.cgroup_id, dp->cgroup,
			       (unsigned long long)dp->cgroup_id);
			close(fd);
			return -EEXIST;
		}
		err = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
		close(fd);
		return err;
	}
	fd = bpf_link_create(prog_fd, cgroup_fd, type, NULL);
	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);
	return err;
}

static int attach_sk_msg(struct mc_datapath *dp)
{
	int prog_fd = bpf_program__fd(dp->skel->progs.mc_sk_msg);
	int map_fd = bpf_map__fd(dp->skel->maps.mc_socks);
	char path[PATH_MAX];

	/* replaces an adopted program for sockets inserted from now on */
	if (bpf_prog_attach(prog_fd, map_fd, BPF_SK_MSG_VERDICT, 0))
		return -errno;
	snprintf(path, sizeof(path), "%s/prog_sk_msg", dp->layout_dir);
	unlink(path);
	return bpf_obj_pin(prog_fd, path) ? -errno : 0;
}

/* Before anything is loaded or created: the pin directory must be on a bpffs
 * (pins elsewhere fail deep inside libbpf), the cgroup a cgroup v2 directory
 * (a v1 one fails only when the links attach). Says what to do instead. */
int mc_dp_check_pin_dir(const char *pin_dir)
{
	char near[PATH_MAX];
	long type;
	int err = mc_fs_type(pin_dir, &type, near, sizeof(near));

	if (err) {
		pr_err("--pin-dir %s: %s", pin_dir, strerror(-err));
		return err;
	}
	if ((unsigned long)type != BPF_FS_MAGIC) {
		pr_err("--pin-dir %s is not on a bpffs (%s is %s): mount one there (mount -t bpf bpf "
		       "/sys/fs/bpf; in a pod, mount the host's /sys/fs/bpf with Bidirectional or "
		       "HostToContainer propagation) or pass a directory on one",
		       pin_dir, near, mc_fs_name(type));
		return -ENOTDIR;
	}
	return 0;
}

static int check_cgroup(const char *cgroup)
{
	const char *cg2 = mc_cgroup2_mount();
	struct statfs st;

	if (statfs(cgroup, &st)) {
		pr_err("--cgroup %s: %s", cgroup, strerror(errno));
		return -errno;
	}
	if ((unsigned long)st.f_type != CGROUP2_SUPER_MAGIC) {
		pr_err("--cgroup %s is not a cgroup v2 directory (it is on %s): meshcut attaches to "
		       "cgroup v2 only; pass %s%s",
		       cgroup, mc_fs_name((long)st.f_type),
		       cg2 ? "the cgroup2 mount or a directory under it, here " : "a cgroup2 "
										"directory (this machine has no cgroup2 mount: "
										"mount -t cgroup2 none DIR)",
		       cg2 ? cg2 : "");
		return -ENOTDIR;
	}
	return 0;
}

/* the kernel (or the privileges the agent runs with) refused a step: log it
 * and keep it as the reason the agent gives while it stays up unsupported */
static void refused(struct mc_datapath *dp, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refused(struct mc_datapath *dp, int err, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* EPERM: a missing capability; EACCES: the verifier refused a program */
	snprintf(dp->unsupported, sizeof(dp->unsupported), "%s: %s%s", what, strerror(-err),
		 err == -EPERM ? " (the agent needs CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_PERFMON)"
		 : err == -EACCES ? " (the kernel's verifier refused a program: its log is above, -v "
				    "shows it whole; meshcut-agent --check)"
				  : " (meshcut-agent --check lists what this kernel lacks)");
	pr_err("%s", dp->unsupported);
}

/* the skeleton opened, its maps pinned (or the pinned ones reused), the
 * recv/send hooks chosen, the programs loaded; a fresh layout's slots filled */
static int load(struct mc_datapath *dp)
{
	bool fresh = false;
	char why[160];
	int err;

	dp->skel = sock_shortcut__open();
	if (!dp->skel) {
		err = -errno;
		pr_err("open BPF object: %s", strerror(errno));
		return err ? err : -EINVAL;
	}
	bpf_map__set_max_entries(dp->skel->maps.mc_pairs, dp->max_pairs);
	bpf_map__set_max_entries(dp->skel->maps.mc_free_slots, dp->max_pairs);
	bpf_map__set_max_entries(dp->skel->maps.mc_pending, dp->max_pairs);
	bpf_map__set_max_entries(dp->skel->maps.mc_socks, 2 * dp->max_pairs);
	err = pin_maps(dp, &fresh);
	if (err)
		return err;
	dp->rw_hooks = mc_rw_hooks_choose(dp->skel->obj, why, sizeof(why));
	if (dp->rw_hooks == MC_RW_NONE) {
		err = -EOPNOTSUPP;
		snprintf(dp->unsupported, sizeof(dp->unsupported),
			 "the socket shortcut cannot run on this kernel: %s", why);
		pr_err("%s", dp->unsupported);
		return err;
	}
	err = sock_shortcut__load(dp->skel);
	if (err && !fresh) {
		pr_err("load BPF programs: %s (pinned maps differ from this build: a different "
		       "--max-pairs, or a layout change without a new layout version)", strerror(-err));
		return err;
	}
	if (err) {
		refused(dp, err, "load the socket shortcut's BPF programs");
		return err;
	}
	dp->adopted = !fresh;
	if (fresh) {
		mc_test_point("first-load-loaded");
		err = fill_free_slots(dp);
		if (err) {
			pr_err("fill free pair slots: %s", strerror(-err));
			return err;
		}
		migrate_registrations(dp);
		mc_test_point("first-load-filled");
		err = pin_marker(dp);
		if (err) {
			pr_err("pin %s/%s: %s", dp->layout_dir, FRESH_MARKER, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* every program attached (or its pinned link kept) */
static int attach(struct mc_datapath *dp, int cgroup_fd)
{
	int err;

	err = attach_sk_msg(dp);
	if (err) {
		refused(dp, err, "attach sk_msg to the SOCKHASH");
		return err;
	}
	/* the option watch before sockops (the socket hooks came before the
	 * control map: mc_dp_open): a socket is never paired without them */
	err = mc_dp_attach_cgroup_prog(dp, cgroup_fd, dp->skel->progs.mc_setsockopt,
				       BPF_CGROUP_SETSOCKOPT, "link_setsockopt");
	if (!err)
		err = mc_dp_attach_cgroup_prog(dp, cgroup_fd, dp->skel->progs.mc_sockops,
					       BPF_CGROUP_SOCK_OPS, "link_sockops");
	if (err) {
		if (err != -EEXIST)
			refused(dp, err, "attach to cgroup %s", dp->cgroup);
		return err;
	}
	return 0;
}

int mc_dp_open(struct mc_datapath *dp, const struct mc_dp_opts *o)
{
	int err, cgroup_fd = -1;
	char why[160];
	long page = sysconf(_SC_PAGESIZE);

	memset(dp, 0, sizeof(*dp));
	mc_dp_libbpf_logs();
	if (snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s", o->pin_dir) >= (int)sizeof(dp->pin_dir) ||
	    snprintf(dp->layout_dir, sizeof(dp->layout_dir), "%s/v%d", o->pin_dir,
		     MC_LAYOUT_VERSION) >= (int)sizeof(dp->layout_dir) ||
	    snprintf(dp->cgroup, sizeof(dp->cgroup), "%s", o->cgroup) >= (int)sizeof(dp->cgroup))
		return -ENAMETOOLONG;
	dp->max_pairs = o->max_pairs;
	if ((err = mc_dp_check_pin_dir(dp->pin_dir)) || (err = check_cgroup(dp->cgroup)))
		return err;

	report_layouts(dp->pin_dir);
	err = cgroup_id_of(dp->cgroup, &dp->cgroup_id);
	if (err) {
		pr_err("cgroup %s: %s (it must be a cgroup v2 directory)", dp->cgroup, strerror(-err));
		return err;
	}
	cgroup_fd = open(dp->cgroup, O_RDONLY | O_DIRECTORY);
	if (cgroup_fd < 0) {
		err = -errno;
		pr_err("open cgroup %s: %s", dp->cgroup, strerror(errno));
		return err;
	}
	err = mc_mkdir_p(dp->layout_dir, 0700);
	if (err) {
		refused(dp, err, "create %s", dp->layout_dir);
		goto fail;
	}

	err = load(dp);
	if (err)
		goto fail;
	dp->pairs_len = ((size_t)dp->max_pairs * sizeof(struct mc_pair) + (size_t)page - 1) &
			~((size_t)page - 1);
	dp->pairs = mmap(NULL, dp->pairs_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 bpf_map__fd(dp->skel->maps.mc_pairs), 0);
	if (dp->pairs == MAP_FAILED) {
		err = -errno;
		dp->pairs = NULL;
		refused(dp, err, "mmap the pair table");
		goto fail;
	}
	/* The recv/send hooks and the FIN gate, at every start whatever the
	 * mode, and before the control map is written: an adopted sockops pairs
	 * from the moment a mode with a socket shortcut is set there. A start in
	 * a mode without one releases them at the agent's next tick
	 * (socket_hooks.h). */
	err = mc_socket_hooks_attach(dp, cgroup_fd, why, sizeof(why));
	if (err) {
		if (err != -EEXIST)
			refused(dp, err, "attach %s", why);
		goto fail;
	}
	err = init_control(dp, o);
	if (err) {
		pr_err("control map: %s", strerror(-err));
		goto fail;
	}
	err = attach(dp, cgroup_fd);
	if (err)
		goto fail;
	close(cgroup_fd);
	pr_info("datapath %s: layout v%d in %s, sockops on %s, %u pair slots, recv/send hooks: %s",
		dp->adopted ? "adopted" : "created", MC_LAYOUT_VERSION, dp->pin_dir, dp->cgroup,
		dp->max_pairs, mc_rw_hooks_name(dp->rw_hooks));
	return 0;
fail:
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	mc_dp_close(dp);
	return err ? err : -EINVAL;
}

void mc_dp_close(struct mc_datapath *dp)
{
	if (dp->pairs)
		munmap(dp->pairs, dp->pairs_len);
	dp->pairs = NULL;
	if (dp->skel)
		sock_shortcut__destroy(dp->skel); /* pins and pinned links stay */
	dp->skel = NULL;
}

int mc_dp_map_fd(struct mc_datapath *dp, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(dp->skel->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

int mc_dp_read_control(struct mc_datapath *dp, struct mc_control *c)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.mc_control), &zero, c) ? -errno : 0;
}

/* one field of the control map changed (at OFF, a __u32), SET bits added to
 * its "set" mask, the generation bumped: every program sees the change */
static int set_control(struct mc_datapath *dp, size_t off, uint32_t v, uint32_t set)
{
	struct mc_control c;
	__u32 zero = 0;
	int err = mc_dp_read_control(dp, &c);

	if (err)
		return err;
	memcpy((char *)&c + off, &v, sizeof(v));
	c.set |= set;
	c.generation++;
	return bpf_map_update_elem(bpf_map__fd(dp->skel->maps.mc_control), &zero, &c, BPF_ANY)
		       ? -errno
		       : 0;
}

int mc_dp_set_modes(struct mc_datapath *dp, uint32_t modes)
{
	int err;

	/* the hooks first: sockops may pair from the moment the mode is set */
	if ((modes & MC_MODE_SOCKETS) && (err = mc_socket_hooks_ensure(dp)))
		return err;
	return set_control(dp, offsetof(struct mc_control, modes), modes, 0);
}

int mc_dp_set_backlog_limit(struct mc_datapath *dp, uint32_t limit)
{
	return set_control(dp, offsetof(struct mc_control, backlog_limit), limit, 0);
}

int mc_dp_set_pod_pairs_max(struct mc_datapath *dp, uint32_t max)
{
	return set_control(dp, offsetof(struct mc_control, pod_pairs_max), max,
			   MC_CONTROL_SET_POD_PAIRS_MAX);
}

int mc_dp_read_stats(struct mc_datapath *dp, struct mc_kind_stats out[MC_KIND_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(dp->skel->maps.mc_sock_stats);
	struct mc_kind_stats *per;
	__u32 k;
	int c;

	if (ncpu <= 0)
		return -EINVAL;
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	memset(out, 0, sizeof(*out) * MC_KIND_MAX);
	for (k = 0; k < MC_KIND_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, per))
			continue;
		for (c = 0; c < ncpu; c++) {
			__u64 *dst = (__u64 *)&out[k], *src = (__u64 *)&per[c];
			size_t i;

			for (i = 0; i < sizeof(*per) / sizeof(__u64); i++)
				dst[i] += src[i];
		}
	}
	free(per);
	return 0;
}

static uint32_t count_keys(int fd, size_t key_size)
{
	char key[256], next[256];
	uint32_t n = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

int mc_dp_fill(struct mc_datapath *dp, struct mc_dp_fill *f)
{
	uint32_t i;

	memset(f, 0, sizeof(*f));
	f->pairs_max = dp->max_pairs;
	for (i = 0; i < dp->max_pairs; i++)
		if (__atomic_load_n(&dp->pairs[i].refs, __ATOMIC_ACQUIRE))
			f->pairs_used++;
	f->pending = count_keys(bpf_map__fd(dp->skel->maps.mc_pending), sizeof(struct mc_conn_id));
	f->sockets = count_keys(bpf_map__fd(dp->skel->maps.mc_socks), sizeof(struct mc_sock_key));
	f->pods = count_keys(bpf_map__fd(dp->skel->maps.mc_pods), sizeof(__u64));
	f->pods_max = bpf_map__max_entries(dp->skel->maps.mc_pods);
	return 0;
}
