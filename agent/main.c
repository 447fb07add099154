/*
 * meshcut-agent: the node agent. Loads (or adopts) the datapath, serves pod
 * registrations, keeps the shortcut honest (drains pairs that must leave it),
 * and exits on SIGTERM leaving the datapath working (rolling updates).
 * Removal is explicit: `meshcut-agent --uninstall` drains and removes.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "api/api.h"
#include "kernel/check.h"
#include "shortcut/layouts.h"
#include "shortcut/socket_hooks.h"
#include "fsutil.h"
#include "log.h"
#include "monitor/session.h"
#include "netns.h"
#include "sock_shortcut.skel.h"
#include "api/podwatch.h"
#include "api/ratelimit.h"
#include "crossnode/tc.h"
#include "api/liveness.h"
#include "testhooks.h"

/* The drain (drain.h) walks every pair slot: when the datapath says a pair
 * started leaving (ring buffer), every 10 ms while pairs wait for their
 * readers, at the first tick (200 ms) after the modes changed, and every 2 s
 * otherwise (lone ends, whose direction went to TCP without a notification,
 * and notifications the full ring buffer lost). Not more often: a walk reads
 * every slot (7 MB at the default 65536); walking every 200 ms cost 4% of the
 * requests per second on two CPUs (tests/bench, two-hop, keep-alive, c=10,
 * against the agents stopped), while the agents used 0.5% of one CPU, so most
 * of it is likely the proxies' data the walk pushes out of the caches.
 * The grace period lets a sendmsg that decided to redirect before the flip
 * finish (microseconds). */
#define SWEEP_IDLE_MS 200
#define SWEEP_BUSY_MS 10
#define SWEEP_ANYWAY_NS (2000ull * 1000000)
#define DRAIN_GRACE_NS (20ull * 1000000)

static volatile sig_atomic_t stop;

static int on_leaving(void *ctx, void *data, size_t len)
{
	(void)data;
	(void)len;
	*(bool *)ctx = true; /* a sweep is due: which slot does not matter */
	return 0;
}

/* does any socket of this layout hold a pair slot? (unknown: yes) */
static bool pairs_held(int live_fd)
{
	__u32 zero = 0;
	__u64 n = 1;

	if (live_fd >= 0 && bpf_map_lookup_elem(live_fd, &zero, &n))
		n = 1;
	return n != 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	mc_monitor_shutdown(); /* a session blocks an API thread: end it now */
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshcut-agent [options]\n"
		"  --pin-dir DIR        bpffs directory for meshcut's state (/sys/fs/bpf/meshcut)\n"
		"  --cgroup DIR         cgroup v2 directory holding the pods (default: the cgroup2 mount)\n"
		"  --socket PATH        registration/API Unix socket (/var/run/meshcut/agent.sock)\n"
		"  --http ADDR:PORT     also serve /healthz, /readyz and /metrics on TCP (probes)\n"
		"  --metrics ADDR:PORT  also serve /metrics alone on TCP (Prometheus; the node's IP)\n"
		"  --liveness-bound S   /healthz answers 503 after S seconds (1..86400) without\n"
		"                       progress of the event loop or drain (60)\n"
		"  --mode MODES         full|off|intra|node|cross|outbound|inbound[,...] (default: keep\n"
		"                       what is pinned, or full); a mode set at runtime stays while\n"
		"                       the agent restarts with the same --mode\n"
		"  --max-pairs N        paired connections per node (65536)\n"
		"  --backlog-limit B    redirected bytes one reader may hold before its sender\n"
		"                       leaves the shortcut (4194304)\n"
		"  --pod-pairs-max N    pair slots one pod's connections may hold, so no pod takes\n"
		"                       them all (8192; 0: no limit; default: keep what is pinned)\n"
		"  --reg-burst N        registration requests a pod may make at once (20)\n"
		"  --reg-rate N/s|N/m|N/h  then this many per second, minute or hour (5/s)\n"
		"  --uninstall          drain every redirected byte, then detach and unpin all of\n"
		"                       meshcut's BPF state, and exit\n"
		"  --drain-timeout S    bound for --uninstall (30)\n"
		"  --netns-dir DIR      where the container runtime bind-mounts pod network\n"
		"                       namespaces (/var/run/netns): readers of sockets that left\n"
		"                       the shortcut are woken there (\"\": never)\n"
		"  --check [--json]     try every kernel feature meshcut uses (in a scratch cgroup\n"
		"                       and network namespace), say what is missing and what needs\n"
		"                       it; exit 1 when the socket shortcut cannot run here\n"
		"  --log-format text|json\n"
		"  -v, --verbose        debug logs (libbpf included)\n");
}

/* The kernel (or the agent's privileges) refused the datapath: stay up, live
 * but not ready (no crash loop), and answer every registration at once with
 * the reason, so injected pods start without meshcut instead of waiting. */
static int idle_unsupported(struct mc_agent *a, const char *socket_path, const char *http,
			    const char *metrics)
{
	struct mc_api *api, *tcp_api = NULL, *metrics_api = NULL;
	int err;

	if ((err = mc_mkdir_parent(socket_path, 0755)))
		pr_warn("create the directory of %s: %s", socket_path, strerror(-err));
	api = mc_api_start_unix(a, socket_path, 0660);
	if (!api || (http && !(tcp_api = mc_api_start_tcp(a, http, MC_TCP_PROBES))) ||
	    (metrics && !(metrics_api = mc_api_start_tcp(a, metrics, MC_TCP_METRICS)))) {
		mc_api_stop(tcp_api);
		mc_api_stop(api);
		return 1;
	}
	pr_warn("meshcut cannot run on this node: idling (live, not ready); registrations are "
		"answered at once and pods start without meshcut");
	while (!stop)
		pause();
	mc_api_stop(metrics_api);
	mc_api_stop(tcp_api);
	mc_api_stop(api);
	return 0;
}

enum { O_PIN = 256, O_CGROUP, O_SOCKET, O_HTTP, O_METRICS, O_MODE, O_MAXPAIRS, O_BACKLOG, O_UNINSTALL,
       O_DRAIN_TIMEOUT, O_LOGFMT, O_REG_BURST, O_REG_RATE, O_POD_PAIRS, O_CHECK, O_JSON,
       O_LIVENESS, O_NETNS_DIR };
static const struct option opts[] = {
	{"pin-dir", required_argument, 0, O_PIN},
	{"cgroup", required_argument, 0, O_CGROUP},
	{"socket", required_argument, 0, O_SOCKET},
	{"http", required_argument, 0, O_HTTP},
	{"metrics", required_argument, 0, O_METRICS},
	{"liveness-bound", required_argument, 0, O_LIVENESS},
	{"mode", required_argument, 0, O_MODE},
	{"max-pairs", required_argument, 0, O_MAXPAIRS},
	{"backlog-limit", required_argument, 0, O_BACKLOG},
	{"pod-pairs-max", required_argument, 0, O_POD_PAIRS},
	{"reg-burst", required_argument, 0, O_REG_BURST},
	{"reg-rate", required_argument, 0, O_REG_RATE},
	{"uninstall", no_argument, 0, O_UNINSTALL},
	{"check", no_argument, 0, O_CHECK},
	{"json", no_argument, 0, O_JSON},
	{"drain-timeout", required_argument, 0, O_DRAIN_TIMEOUT},
	{"netns-dir", required_argument, 0, O_NETNS_DIR},
	{"log-format", required_argument, 0, O_LOGFMT},
	{"verbose", no_argument, 0, 'v'},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

/* what the command line asked for */
struct options {
	struct mc_dp_opts dp;
	const char *socket_path, *http, *metrics;
	const char *netns_dir; /* the waker's (waker.h) */
	bool uninstall, json_logs, check, check_json;
	enum mc_log_level level;
	double drain_timeout;
	unsigned long reg_burst;
	unsigned int reg_tokens, reg_period;
	uint64_t liveness_bound_ns;
};

/* what runs while the agent serves, stopped by shut_down */
struct running {
	struct mc_api *api, *tcp_api, *metrics_api;
	struct ring_buffer *rb;
	bool leaving; /* the ring buffer said a pair started leaving */
	int live_fd;
	uint64_t swept_ns;   /* the last walk over every slot */
	uint32_t swept_modes; /* the modes it saw */
};

/* an option with a value to check: 0, or 2 (said on stderr) */
static int parse_value(int c, const char *arg, struct options *o)
{
	uint32_t modes;
	char *end;

	switch (c) {
	case O_MODE:
		if (mc_parse_modes(arg, &modes)) {
			fprintf(stderr, "meshcut-agent: --mode %s: use full, off, intra, node, cross, "
					"outbound, inbound (comma-separated)\n", arg);
			return 2;
		}
		o->dp.modes = (int)modes;
		break;
	case O_MAXPAIRS:
		o->dp.max_pairs = (uint32_t)strtoul(arg, &end, 10);
		if (*end || o->dp.max_pairs < 16 || o->dp.max_pairs > (1u << 22)) {
			fprintf(stderr, "meshcut-agent: --max-pairs: 16..4194304\n");
			return 2;
		}
		break;
	case O_POD_PAIRS:
		o->dp.pod_pairs_max = (int64_t)strtoll(arg, &end, 10);
		if (*end || !*arg || o->dp.pod_pairs_max < 0 || o->dp.pod_pairs_max > 0x7fffffff) {
			fprintf(stderr, "meshcut-agent: --pod-pairs-max: 0 (no limit) .. 2147483647 pair slots\n");
			return 2;
		}
		break;
	case O_BACKLOG:
		o->dp.backlog_limit = (uint32_t)strtoul(arg, &end, 10);
		if (*end || o->dp.backlog_limit < 4096) {
			fprintf(stderr, "meshcut-agent: --backlog-limit: at least 4096 bytes\n");
			return 2;
		}
		break;
	case O_REG_BURST:
		o->reg_burst = strtoul(arg, &end, 10);
		if (*end || !*arg || o->reg_burst == 0 || o->reg_burst > MC_RL_MAX_BURST) {
			fprintf(stderr, "meshcut-agent: --reg-burst: 1..%d\n", MC_RL_MAX_BURST);
			return 2;
		}
		break;
	case O_REG_RATE:
		if (mc_limits_parse_rate(arg, &o->reg_tokens, &o->reg_period)) {
			fprintf(stderr, "meshcut-agent: --reg-rate %s: N/s, N/m or N/h with N in 1..%d\n",
				arg, MC_RL_MAX_TOKENS);
			return 2;
		}
		break;
	case O_DRAIN_TIMEOUT:
		o->drain_timeout = strtod(arg, &end);
		if (*end || o->drain_timeout <= 0) {
			fprintf(stderr, "meshcut-agent: --drain-timeout: seconds > 0\n");
			return 2;
		}
		break;
	case O_LIVENESS:
		if (mc_liveness_parse_bound(arg, &o->liveness_bound_ns)) {
			fprintf(stderr, "meshcut-agent: --liveness-bound %s: whole seconds, 1..%d\n",
				arg, MC_LIVENESS_BOUND_MAX);
			return 2;
		}
		break;
	case O_LOGFMT:
		if (strcmp(arg, "json") && strcmp(arg, "text")) {
			fprintf(stderr, "meshcut-agent: --log-format text|json\n");
			return 2;
		}
		o->json_logs = !strcmp(arg, "json");
		break;
	}
	return 0;
}

/* -1: run with *o; otherwise the exit code (0 after --help, 2: a bad option) */
static int parse_options(int argc, char **argv, struct options *o)
{
	int c;

	*o = (struct options){
		.dp = {.pin_dir = "/sys/fs/bpf/meshcut", .max_pairs = 65536, .modes = -1,
		       .pod_pairs_max = -1},
		.socket_path = "/var/run/meshcut/agent.sock",
		.netns_dir = "/var/run/netns",
		.level = MC_LOG_INFO,
		.drain_timeout = 30,
		.reg_burst = MC_RL_BURST,
		.reg_tokens = MC_RL_RATE,
		.reg_period = 1,
		.liveness_bound_ns = MC_LIVENESS_BOUND_DEFAULT * 1000000000ull,
	};
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_PIN:
			o->dp.pin_dir = optarg;
			break;
		case O_CGROUP:
			o->dp.cgroup = optarg;
			break;
		case O_SOCKET:
			o->socket_path = optarg;
			break;
		case O_HTTP:
			o->http = optarg;
			break;
		case O_METRICS:
			o->metrics = optarg;
			break;
		case O_NETNS_DIR:
			o->netns_dir = optarg;
			break;
		case O_UNINSTALL:
			o->uninstall = true;
			break;
		case O_CHECK:
			o->check = true;
			break;
		case O_JSON:
			o->check_json = true;
			break;
		case 'v':
			o->level = MC_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_MODE:
		case O_MAXPAIRS:
		case O_POD_PAIRS:
		case O_BACKLOG:
		case O_REG_BURST:
		case O_REG_RATE:
		case O_DRAIN_TIMEOUT:
		case O_LOGFMT:
		case O_LIVENESS:
			if (parse_value(c, optarg, o))
				return 2;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* --uninstall: the exit code */
static int uninstall(const struct options *o)
{
	struct mc_uninstall_report r;
	int err;

	/* the tc shortcut first: its clsact filters are not links */
	err = mc_tc_uninstall(o->dp.pin_dir) ? -EIO : 0;
	if (mc_uninstall(o->dp.pin_dir, o->drain_timeout, o->netns_dir, &r) && !err)
		err = -EBUSY;
	pr_info("uninstall: %u pairs drained, %u timed out (%llu bytes unread), %.2f s: %s",
		r.pairs_drained, r.pairs_timed_out, (unsigned long long)r.bytes_waited, r.seconds,
		err ? strerror(-err) : "everything removed");
	return err ? 1 : 0;
}

struct pod_cookies {
	uint64_t *v;
	uint32_t n, cap;
};

static void add_pod(const struct mc_pod *pod, void *ctx)
{
	struct pod_cookies *c = ctx;

	if (c->n < c->cap)
		c->v[c->n++] = pod->netns_cookie;
}

/* the readers of the sockets the sweep deleted, in the registered pods'
 * namespaces (waker.h) */
static void wake_readers(struct mc_agent *a)
{
	struct pod_cookies c = {.cap = mc_registry_count(&a->reg) + 16};

	c.v = calloc(c.cap, sizeof(*c.v));
	if (c.v)
		mc_registry_each(&a->reg, add_pod, &c);
	/* out of memory: no list, nobody woken, counted as missed */
	mc_waker_run(&a->waker, c.v, c.n);
	free(c.v);
}

/* the datapath loaded (or adopted) and its users started. -1: serve; 0 or
 * 1: the exit code when nothing was started (the kernel refused the datapath:
 * the agent idled until a signal); -2: something failed, shut down and exit */
static int start(struct mc_agent *a, struct options *o, struct running *r)
{
	int err;

	if (!o->dp.cgroup)
		o->dp.cgroup = mc_cgroup2_mount();
	if (!o->dp.cgroup) {
		pr_err("no cgroup v2 mount found: pass --cgroup");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	a->started = time(NULL);
	a->liveness_bound_ns = o->liveness_bound_ns;
	a->own_netns = mc_own_netns_cookie();
	a->socket_path = o->socket_path;
	pthread_mutex_init(&a->lock, NULL);
	mc_waker_init(&a->waker, o->netns_dir);
	err = mc_dp_open(&a->dp, &o->dp);
	if (err && !a->dp.unsupported[0])
		return 1; /* a wrong option or path: said, and a crash loop shows it */
	if (err)
		return idle_unsupported(a, o->socket_path, o->http, o->metrics);
	mc_registry_init(&a->reg, &(struct mc_registry_maps){
					  .pods = bpf_map__fd(a->dp.skel->maps.mc_pods),
					  .ips = bpf_map__fd(a->dp.skel->maps.mc_pod_ips),
					  .life = bpf_map__fd(a->dp.skel->maps.mc_pod_life),
					  .pod_pairs = bpf_map__fd(a->dp.skel->maps.mc_pod_pairs)});
	if (mc_tc_init(a))
		pr_warn("cross-node shortcut unavailable: pods keep the host path");
	if (mc_monitor_init(a))
		pr_warn("latency monitor unavailable");
	/* also checks every registration once: pods deleted while no agent ran */
	if ((err = mc_podwatch_start(a)))
		pr_warn("pod deletions will not be noticed (%s): deregister pods explicitly",
			strerror(-err));
	if (mc_drainer_init(&a->drainer, a->dp.pairs, a->dp.max_pairs,
			    bpf_map__fd(a->dp.skel->maps.mc_socks))) {
		pr_err("out of memory");
		return -2;
	}
	a->drainer.progress_ns = &a->progress_ns;
	a->drainer.removed = mc_waker_queue; /* its reader gets woken (waker.h) */
	a->drainer.removed_ctx = &a->waker;
	__atomic_store_n(&a->progress_ns, mc_now_ns(), __ATOMIC_RELAXED); /* liveness.h */
	if ((err = mc_mkdir_parent(o->socket_path, 0755)))
		pr_warn("create the directory of %s: %s", o->socket_path, strerror(-err));
	r->api = mc_api_start_unix(a, o->socket_path, 0660);
	if (!r->api) {
		pr_err("cannot serve the API on %s", o->socket_path);
		return -2;
	}
	if (o->http && !(r->tcp_api = mc_api_start_tcp(a, o->http, MC_TCP_PROBES)))
		return -2;
	if (o->metrics && !(r->metrics_api = mc_api_start_tcp(a, o->metrics, MC_TCP_METRICS)))
		return -2;
	pr_info("meshcut-agent %s serving on %s%s%s%s%s (%u pods registered)", MESHCUT_VERSION,
		o->socket_path, o->http ? " and " : "", o->http ? o->http : "",
		o->metrics ? ", metrics on " : "", o->metrics ? o->metrics : "",
		mc_registry_count(&a->reg));
	return -1;
}

/* until a signal: drain the pairs that leave the shortcut, remove other
 * layouts once they serve nothing */
static void serve(struct mc_agent *a, const struct options *o, struct running *r)
{
	uint64_t last_gc = 0;

	r->rb = ring_buffer__new(bpf_map__fd(a->dp.skel->maps.mc_leaving), on_leaving, &r->leaving,
				 NULL);
	if (!r->rb)
		pr_warn("no leave notifications (%s): draining every %d ms only", strerror(errno),
			SWEEP_IDLE_MS);
	r->live_fd = bpf_map__fd(a->dp.skel->maps.mc_live);
	r->swept_modes = UINT32_MAX; /* the first tick walks */
	while (!stop) {
		struct mc_control ctl = {};
		struct mc_drain_result d;
		int wait_ms = a->last_drain.waiting ? SWEEP_BUSY_MS : SWEEP_IDLE_MS;
		bool leaving;

		__atomic_store_n(&a->progress_ns, mc_now_ns(), __ATOMIC_RELAXED); /* liveness.h */
		mc_test_stall("loop"); /* test builds: stop here until a signal */
		if (r->rb)
			ring_buffer__poll(r->rb, wait_ms);
		else
			usleep((useconds_t)wait_ms * 1000);
		leaving = r->leaving || !r->rb; /* no notifications: walk every tick */
		r->leaving = false;
		if (mc_dp_read_control(&a->dp, &ctl))
			continue;
		/* other layouts (after an upgrade or a rollback) go once they serve nothing */
		if (mc_now_ns() - last_gc > 5000000000ull) {
			last_gc = mc_now_ns();
			mc_layouts_gc(o->dp.pin_dir, MC_LAYOUT_VERSION, ctl.active_layout);
		}
		/* a mode without a socket shortcut: its per-socket hooks go once
		 * no socket can need them (the tick decides: socket_hooks.h) */
		if (__atomic_load_n(&a->dp.socket_hooks, __ATOMIC_RELAXED)) {
			pthread_mutex_lock(&a->lock);
			mc_socket_hooks_tick(&a->dp);
			pthread_mutex_unlock(&a->lock);
		}
		/* no socket holds a pair slot (cross or off mode, an idle node):
		 * nothing can be waiting, skip the walk over every slot */
		if (!a->last_drain.waiting && !pairs_held(r->live_fd))
			continue;
		/* nothing to find (see SWEEP_ANYWAY_NS): leave the caches alone */
		if (!leaving && !a->last_drain.waiting && ctl.modes == r->swept_modes &&
		    mc_now_ns() - r->swept_ns < SWEEP_ANYWAY_NS)
			continue;
		r->swept_ns = mc_now_ns();
		r->swept_modes = ctl.modes;
		__atomic_store_n(&a->drain_since_ns, mc_now_ns(), __ATOMIC_RELAXED);
		pthread_mutex_lock(&a->lock);
		mc_drain_sweep(&a->drainer, ctl.modes, false, mc_now_ns(), DRAIN_GRACE_NS, &d);
		a->last_drain = d;
		pthread_mutex_unlock(&a->lock);
		__atomic_store_n(&a->drain_since_ns, 0, __ATOMIC_RELAXED);
		if (d.deleted) {
			pr_debug("sweep: %u pairs left the shortcut, %u waiting (%llu bytes unread)",
				 d.deleted, d.waiting, (unsigned long long)d.backlog_bytes);
			/* their readers may wait for an edge the redirected bytes took */
			wake_readers(a);
		}
	}
	pr_info("signal: exiting; the datapath stays attached and pinned in %s (remove it with --uninstall)",
		o->dp.pin_dir);
}

/* one cleanup path for whatever start got to */
static void shut_down(struct mc_agent *a, struct running *r)
{
	ring_buffer__free(r->rb);
	mc_api_stop(r->metrics_api);
	mc_api_stop(r->tcp_api);
	mc_api_stop(r->api);
	mc_podwatch_stop(a);
	mc_monitor_fini(a);
	mc_tc_fini(a);
	mc_drainer_free(&a->drainer);
	mc_waker_free(&a->waker);
	mc_dp_close(&a->dp);
}

int main(int argc, char **argv)
{
	static struct mc_agent a;
	struct running r = {.live_fd = -1};
	struct options o;
	int rc;

	mc_limits_init(&a.limits);
	rc = parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	/* the API's per-pod limits are set up when it first serves */
	if (mc_limits_configure(&a.limits, (unsigned int)o.reg_burst, o.reg_tokens, o.reg_period)) {
		fprintf(stderr, "meshcut-agent: --reg-burst/--reg-rate out of range\n");
		return 2;
	}
	mc_log_init("meshcut-agent", o.level, o.json_logs);

	if (o.check)
		return mc_check(o.dp.cgroup, o.check_json);
	if (o.uninstall)
		return uninstall(&o);
	rc = start(&a, &o, &r);
	if (rc >= 0)
		return rc;
	if (rc == -1)
		serve(&a, &o, &r);
	shut_down(&a, &r);
	return stop ? 0 : 1;
}
