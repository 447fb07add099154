/* meshcut-agent --check: see check.h. */
#include "kernel/check.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "monitor.h"
#include "fsutil.h"
#include "kernel/kernel_btf.h"
#include "log.h"
#include "monitor/session.h"
#include "monitor.skel.h"
#include "shortcut/rw_hooks.h"
#include "sock_shortcut.skel.h"
#include "tc_shortcut.h"
#include "tc_shortcut.skel.h"

enum status { NOT_TRIED = -1, MISSING = 0, PRESENT = 1 };

struct row {
	const char *feature, *needed_by;
	bool required; /* the socket shortcut cannot run without it */
	enum status status;
	char detail[200];
};

enum {
	R_BTF, R_CGROUP2, R_SS_LOAD, R_SOCKOPS, R_SK_MSG, R_FIN_GATE, R_SETSOCKOPT, R_RW,
	R_RW_TP, R_RW_FEXIT, R_TC_LOAD, R_CLSACT, R_TCX, R_MON_EVENTS, R_MON_SYS_ENTER,
	R_MON_FENTRY, R_MON_KPROBE, R_CONNTRACK, NROWS
};

static struct row rows[NROWS] = {
	[R_BTF] = {"kernel BTF (/sys/kernel/btf/vmlinux)", "every BPF program (CO-RE)", true},
	[R_CGROUP2] = {"cgroup v2", "the socket shortcut (its programs attach to a cgroup)", true},
	[R_SS_LOAD] = {"socket shortcut programs load", "the socket shortcut", true},
	[R_SOCKOPS] = {"sockops on a cgroup", "pairing the sockets of a connection", true},
	[R_SK_MSG] = {"sk_msg on a SOCKHASH", "moving bytes socket to socket", true},
	[R_FIN_GATE] = {"cgroup_skb/ingress", "the FIN gate (no unread byte freed at close)", true},
	[R_SETSOCKOPT] = {"cgroup/setsockopt", "leaving on SO_RCVLOWAT and TCP_ULP", true},
	[R_RW] = {"recv/send hooks", "backlog bound, drain, send settlement", true},
	[R_RW_TP] = {"recv/send hooks: tracepoints", "the recv/send hooks where the kernel has them (6.3+)"},
	[R_RW_FEXIT] = {"recv/send hooks: fexit on tcp_bpf_*", "the recv/send hooks without those tracepoints (6.1)"},
	[R_TC_LOAD] = {"tc programs load", "the cross-node shortcut"},
	[R_CLSACT] = {"tc clsact", "the cross-node shortcut"},
	[R_TCX] = {"tcx", "the cross-node shortcut ahead of other tc programs (else clsact)"},
	[R_MON_EVENTS] = {"monitor send/receive events", "the latency monitor"},
	[R_MON_SYS_ENTER] = {"tp_btf/sys_enter", "the monitor's send entry time (the fallback)"},
	[R_MON_FENTRY] = {"fentry on inet_sendmsg", "the monitor's send entry time (cheapest)"},
	[R_MON_KPROBE] = {"kprobe on inet_sendmsg", "the monitor's send entry time"},
	[R_CONNTRACK] = {"conntrack over netlink", "handing live cross-node flows to the host at removal"},
};

static void set_row(int r, enum status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_row(int r, enum status s, const char *fmt, ...)
{
	va_list ap;

	rows[r].status = s;
	va_start(ap, fmt);
	vsnprintf(rows[r].detail, sizeof(rows[r].detail), fmt, ap);
	va_end(ap);
}

/* libbpf's words on a failed load: the program it failed on */
static char failed_prog[64];

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	const char *p;

	vsnprintf(line, sizeof(line), fmt, ap);
	if (!failed_prog[0] && (p = strstr(line, "prog '")) && strstr(line, "failed to load"))
		sscanf(p, "prog '%63[^']'", failed_prog);
	if (level == LIBBPF_DEBUG && mc_log_level() < MC_LOG_DEBUG)
		return 0;
	return mc_log_level() >= MC_LOG_DEBUG ? fputs(line, stderr) : 0;
}

static void load_failed(int r, int err)
{
	/* EACCES: the verifier refused the program; EPERM: the kernel refuses the
	 * program type here (locked down) or a capability is missing */
	set_row(r, MISSING, "%s%s%s%s", strerror(-err), failed_prog[0] ? " (program " : "",
		failed_prog,
		!failed_prog[0] ? ""
		: err == -EACCES ? "; -v shows the verifier's log)"
				 : ")");
	failed_prog[0] = '\0';
}

/* attach every program of OBJ that was loaded, and detach it again: row R
 * says which one the kernel refused (false) */
static bool attach_loaded(struct bpf_object *obj, int r)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj) {
		struct bpf_link *l;

		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			set_row(r, MISSING, "%s: attach: %s", bpf_program__section_name(p), strerror(errno));
			return false;
		}
		bpf_link__destroy(l);
	}
	return true;
}

static void attach_row(int r, struct bpf_link *l)
{
	if (l) {
		set_row(r, PRESENT, "attached");
		bpf_link__destroy(l);
	} else {
		set_row(r, MISSING, "attach: %s", strerror(errno));
	}
}

/* one recv/send hook set, loaded and attached on its own: row r */
static void check_rw_set(int r, enum mc_rw_hooks set)
{
	struct sock_shortcut *s = sock_shortcut__open();
	struct bpf_program *p;
	int err, n = 0;

	if (!s) {
		set_row(r, MISSING, "open: %s", strerror(errno));
		return;
	}
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, false);
	mc_rw_hooks_select(s->obj, set);
	bpf_object__for_each_program(p, s->obj)
		n += bpf_program__autoload(p);
	if (!n) {
		set_row(r, MISSING, "not in this kernel's BTF");
		goto out;
	}
	err = sock_shortcut__load(s);
	if (err) {
		load_failed(r, err);
		goto out;
	}
	if (!attach_loaded(s->obj, r))
		goto out;
	set_row(r, PRESENT, "%d programs attached", n);
out:
	sock_shortcut__destroy(s);
}

/* the socket shortcut, loaded (maps never pinned) and attached to a scratch
 * cgroup, with the recv/send hooks the agent would pick */
static void check_socket_shortcut(int cg_fd)
{
	struct sock_shortcut *s = sock_shortcut__open();
	enum mc_rw_hooks h;
	char why[200];
	int err;

	if (!s) {
		set_row(R_SS_LOAD, MISSING, "open: %s", strerror(errno));
		return;
	}
	bpf_map__set_max_entries(s->maps.mc_pairs, 16);
	bpf_map__set_max_entries(s->maps.mc_free_slots, 16);
	bpf_map__set_max_entries(s->maps.mc_pending, 16);
	bpf_map__set_max_entries(s->maps.mc_socks, 32);
	h = mc_rw_hooks_choose(s->obj, why, sizeof(why));
	err = sock_shortcut__load(s);
	if (err) {
		load_failed(R_SS_LOAD, err);
		goto out;
	}
	set_row(R_SS_LOAD, PRESENT, "loaded");
	if (cg_fd >= 0) {
		attach_row(R_SOCKOPS, bpf_program__attach_cgroup(s->progs.mc_sockops, cg_fd));
		attach_row(R_FIN_GATE, bpf_program__attach_cgroup(s->progs.mc_fin_gate, cg_fd));
		attach_row(R_SETSOCKOPT, bpf_program__attach_cgroup(s->progs.mc_setsockopt, cg_fd));
	}
	if (bpf_prog_attach(bpf_program__fd(s->progs.mc_sk_msg), bpf_map__fd(s->maps.mc_socks),
			    BPF_SK_MSG_VERDICT, 0)) {
		set_row(R_SK_MSG, MISSING, "attach: %s", strerror(errno));
	} else {
		set_row(R_SK_MSG, PRESENT, "attached");
		bpf_prog_detach2(bpf_program__fd(s->progs.mc_sk_msg), bpf_map__fd(s->maps.mc_socks),
				 BPF_SK_MSG_VERDICT);
	}
out:
	sock_shortcut__destroy(s);
	/* each set on its own: the one the agent picks must run */
	check_rw_set(R_RW_TP, MC_RW_TRACEPOINTS);
	check_rw_set(R_RW_FEXIT, MC_RW_FEXIT);
	if (h == MC_RW_NONE)
		set_row(R_RW, MISSING, "%s", why);
	else if (rows[h == MC_RW_TRACEPOINTS ? R_RW_TP : R_RW_FEXIT].status == PRESENT)
		set_row(R_RW, PRESENT, "%s", mc_rw_hooks_name(h));
	else
		set_row(R_RW, MISSING, "%s: %s", mc_rw_hooks_name(h),
		    rows[h == MC_RW_TRACEPOINTS ? R_RW_TP : R_RW_FEXIT].detail);
}

/* the tc programs, attached to the loopback device of a network namespace
 * made for the check (and gone with it) */
static void check_tc(void)
{
	struct tc_shortcut *t = tc_shortcut__open();
	int err, self = -1, prog_fd, fd;

	if (!t) {
		set_row(R_TC_LOAD, MISSING, "open: %s", strerror(errno));
		return;
	}
	err = tc_shortcut__load(t);
	if (err) {
		load_failed(R_TC_LOAD, err);
		goto out;
	}
	set_row(R_TC_LOAD, PRESENT, "loaded");
	prog_fd = bpf_program__fd(t->progs.mc_tc_from_pod);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || unshare(CLONE_NEWNET)) {
		set_row(R_CLSACT, NOT_TRIED, "no scratch network namespace: %s", strerror(errno));
		goto out;
	}
	{
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd);

		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST)
			set_row(R_CLSACT, MISSING, "qdisc: %s", strerror(-err));
		else if ((err = bpf_tc_attach(&hook, &o)))
			set_row(R_CLSACT, MISSING, "filter: %s", strerror(-err));
		else
			set_row(R_CLSACT, PRESENT, "attached");
	}
	fd = bpf_link_create(prog_fd, 1, (enum bpf_attach_type)MC_BPF_TCX_INGRESS, NULL);
	if (fd >= 0) {
		set_row(R_TCX, PRESENT, "attached");
		close(fd);
	} else {
		set_row(R_TCX, MISSING, "%s: clsact is used instead", strerror(errno));
	}
	if (setns(self, CLONE_NEWNET))
		pr_err("check: back to the agent's network namespace: %s", strerror(errno));
out:
	if (self >= 0)
		close(self);
	tc_shortcut__destroy(t);
}

/* the monitor with its event hooks and one send-entry hook, chosen as a
 * session chooses them (monitor.c) */
static void check_monitor_with(int r, enum mc_mon_entry_hook entry)
{
	struct monitor *m = monitor__open();
	int err;

	if (!m) {
		set_row(r, MISSING, "open: %s", strerror(errno));
		return;
	}
	m->rodata->entry_hook = entry;
	mc_monitor_select_progs(m, entry);
	err = monitor__load(m);
	if (err) {
		load_failed(r, err);
		if (rows[R_MON_EVENTS].status == NOT_TRIED && entry == MC_MON_ENTRY_SYS_ENTER)
			set_row(R_MON_EVENTS, MISSING, "%s", rows[r].detail);
		goto out;
	}
	if (!attach_loaded(m->obj, r))
		goto out;
	set_row(r, PRESENT, "attached");
	if (rows[R_MON_EVENTS].status != PRESENT)
		set_row(R_MON_EVENTS, PRESENT, "%s",
			mc_monitor_events_on_tracepoints() ? "tracepoints" : "fexit on inet_*msg");
out:
	monitor__destroy(m);
}

static void check_monitor(void)
{
	check_monitor_with(R_MON_SYS_ENTER, MC_MON_ENTRY_SYS_ENTER);
	check_monitor_with(R_MON_FENTRY, MC_MON_ENTRY_FENTRY);
	check_monitor_with(R_MON_KPROBE, MC_MON_ENTRY_KPROBE);
}

static void check_conntrack(void)
{
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);

	if (!h) {
		set_row(R_CONNTRACK, MISSING, "%s", strerror(errno));
		return;
	}
	set_row(R_CONNTRACK, PRESENT, "ctnetlink");
	nfct_close(h);
}

static bool shortcut_runs(void)
{
	int r;

	for (r = 0; r < NROWS; r++)
		if (rows[r].required && rows[r].status != PRESENT)
			return false;
	return true;
}

static void report(const char *kernel, bool json)
{
	const char *names[] = {[NOT_TRIED + 1] = "not tried", [MISSING + 1] = "missing",
			       [PRESENT + 1] = "ok"};
	int r;

	if (json) {
		json_t *o = json_pack("{s:s, s:b, s:[]}", "kernel", kernel, "socket_shortcut",
				      shortcut_runs(), "features");
		json_t *a = json_object_get(o, "features");
		char *text;

		for (r = 0; r < NROWS; r++)
			json_array_append_new(
				a, json_pack("{s:s, s:s, s:b, s:s, s:s}", "feature", rows[r].feature,
					     "status", names[rows[r].status + 1], "required",
					     rows[r].required, "needed_by", rows[r].needed_by,
					     "detail", rows[r].detail));
		text = json_dumps(o, JSON_INDENT(1));
		if (text)
			puts(text);
		free(text);
		json_decref(o);
		return;
	}
	printf("meshcut-agent --check on Linux %s\n", kernel);
	for (r = 0; r < NROWS; r++) {
		printf("  %-9s %-40s %s\n", names[rows[r].status + 1], rows[r].feature, rows[r].detail);
		if (rows[r].status != PRESENT)
			printf("  %-9s %-40s needed by %s%s\n", "", "", rows[r].needed_by,
			       rows[r].required ? " (required)" : "");
	}
	printf("socket shortcut: %s\n", shortcut_runs() ? "runs here" : "cannot run here");
}

int mc_check(const char *cgroup, bool json)
{
	const char *base = cgroup ? cgroup : mc_cgroup2_mount();
	char scratch[PATH_MAX] = "";
	struct utsname u;
	long type;
	int r, cg_fd = -1;

	for (r = 0; r < NROWS; r++)
		rows[r].status = NOT_TRIED;
	uname(&u);
	libbpf_set_print(quiet_print);
	if (mc_kernel_has_btf())
		set_row(R_BTF, PRESENT, "present");
	else
		set_row(R_BTF, MISSING, "absent (CONFIG_DEBUG_INFO_BTF)");
	if (!base || mc_fs_type(base, &type, NULL, 0) || (unsigned long)type != CGROUP2_SUPER_MAGIC) {
		set_row(R_CGROUP2, MISSING, "%s is not a cgroup v2 directory", base ? base : "no cgroup2 mount:");
	} else {
		snprintf(scratch, sizeof(scratch), "%s/meshcut-check-%d", base, (int)getpid());
		if (mkdir(scratch, 0755) || (cg_fd = open(scratch, O_RDONLY | O_DIRECTORY)) < 0)
			set_row(R_CGROUP2, MISSING, "a scratch cgroup in %s: %s", base, strerror(errno));
		else
			set_row(R_CGROUP2, PRESENT, "%s", base);
	}
	check_socket_shortcut(cg_fd);
	check_tc();
	check_monitor();
	check_conntrack();
	if (cg_fd >= 0)
		close(cg_fd);
	if (scratch[0] && rmdir(scratch) && errno != ENOENT)
		pr_warn("check: remove %s: %s", scratch, strerror(errno));
	report(u.release, json);
	return shortcut_runs() ? 0 : 1;
}
