/*
 * The monitor's session: program choice and loading (with fallbacks), the
 * session's life (its thread, the ring buffer, start/stop) and the /v1/monitor
 * API. Beside it: metrics.c (/metrics), bpf_stats.c (what the BPF side
 * counts), and the reconstruction (recon.h).
 *
 * The latency monitor, agent side: loads bpf/monitor.bpf.c only while a
 * session runs, feeds its events to the reconstruction (recon.h),
 * answers /v1/monitor; its /metrics are in metrics.c.
 *
 *   POST /v1/monitor        {"duration": S, "cost": false, "hooks": "auto"}
 *                           load, collect S seconds, unload, answer the report
 *   POST /v1/monitor/start  {"hooks": ..., "cost": ..., "duration": 0}
 *                           a background session (until stop, or S seconds)
 *   POST /v1/monitor/stop   (or DELETE /v1/monitor) end it, answer its report
 *   GET  /v1/monitor        running or not, a live snapshot, the last report
 * One session at a time: 409 otherwise.
 *
 * hooks: where the send's entry time comes from. "auto" tries fentry, then
 * kprobe (both cost nothing to syscalls that are not socket sends), then
 * tp_btf/sys_enter, which taxes every syscall of the node while loaded;
 * "fentry" / "kprobe" fall back to sys_enter with a message when the kernel
 * refuses them; "tracepoint" goes to sys_enter directly.
 */
#include "monitor/session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h> /* sig_atomic_t */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "kernel/kernel_btf.h"
#include "log.h"
#include "monitor.skel.h"
#include "monitor/bpf_stats.h"
#include "monitor/metrics.h"
#include "monitor/recon.h"

#define MAX_DURATION_S 3600.0
#define DEFAULT_DURATION_S 10.0
#define POLL_MS 10

struct pod_name {
	uint32_t id;
	char key[MC_POD_KEY_LEN];
};

struct session {
	struct mc_agent *a;
	struct monitor *skel;
	struct bpf_link *links[8];
	int nlinks;
	struct ring_buffer *rb;
	struct mc_recon *recon;
	pthread_mutex_t lock; /* recon: the collecting thread vs live snapshots */
	int stats_fd;         /* BPF_ENABLE_STATS while a cost measurement runs */
	enum mc_mon_entry_hook hook;
	const char *requested;
	json_t *notes;
	struct timespec t0;   /* CLOCK_MONOTONIC */
	time_t started;
	uint32_t modes0;
	bool cost;
	struct pod_name *pods;
	size_t npods, cap;
};

static struct {
	pthread_mutex_t lock; /* busy, background, last, sessions */
	bool busy;
	bool background;
	pthread_t thread;
	struct session *cur;
	json_t *last;
	uint64_t sessions;
	volatile sig_atomic_t stop_bg;  /* end the background session */
	volatile sig_atomic_t shutdown; /* SIGTERM/SIGINT: end any session now */
	double bg_duration;
	/* hooks the kernel refused once: "auto" does not try them again */
	bool fentry_refused, kprobe_refused;
} M = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The agent's signal handler calls this (async-signal-safe: one flag). A
 * session blocks an API thread for its duration, and stopping the API waits
 * for its threads: sessions end at once when the agent is told to exit. The
 * agent owns its handlers, so nothing here depends on the order they are
 * installed in. */
void mc_monitor_shutdown(void)
{
	M.shutdown = 1;
}

int mc_monitor_init(struct mc_agent *a)
{
	(void)a;
	return 0;
}

/* -------------------------------------------------------------- helpers */

static double mono_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static const char *hook_name(enum mc_mon_entry_hook h)
{
	switch (h) {
	case MC_MON_ENTRY_FENTRY:
		return "fentry/inet_sendmsg+inet6_sendmsg";
	case MC_MON_ENTRY_KPROBE:
		return "kprobe/inet_sendmsg+inet6_sendmsg";
	default:
		return "tp_btf/sys_enter";
	}
}

static void note(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct session *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pr_warn("monitor: %s", buf);
	json_array_append_new(s->notes, json_string(buf));
}

static void remember_pod(const struct mc_pod *pod, void *ctx)
{
	struct session *s = ctx;
	size_t i;

	for (i = 0; i < s->npods; i++)
		if (s->pods[i].id == pod->pod_id)
			return;
	if (s->npods == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct pod_name *p = realloc(s->pods, cap * sizeof(*p));

		if (!p)
			return;
		s->pods = p;
		s->cap = cap;
	}
	s->pods[s->npods].id = pod->pod_id;
	snprintf(s->pods[s->npods].key, sizeof(s->pods[s->npods].key), "%s", pod->key);
	s->npods++;
}

static const char *namer(void *ctx, uint32_t id)
{
	struct session *s = ctx;
	size_t i;

	for (i = 0; i < s->npods; i++)
		if (s->pods[i].id == id)
			return s->pods[i].key;
	return NULL;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;

	if (len >= sizeof(struct mc_mon_event))
		mc_recon_event(s->recon, data);
	return 0;
}

/* ------------------------------------------------------------ loading */

/* the send and receive events: the tracepoints where the kernel has them, else
 * fexit on the socket layer's TCP calls (kernel_btf.h) */
bool mc_monitor_events_on_tracepoints(void)
{
	return mc_kernel_has_tracepoint("sock_send_length") &&
	       mc_kernel_has_tracepoint("sock_recv_length");
}

static bool is_event_prog(struct bpf_program *p, struct monitor *skel)
{
	return p == skel->progs.mc_mon_send || p == skel->progs.mc_mon_recv ||
	       p == skel->progs.mc_mon_send_fexit4 || p == skel->progs.mc_mon_send_fexit6 ||
	       p == skel->progs.mc_mon_sendpage_fexit || p == skel->progs.mc_mon_recv_fexit4 ||
	       p == skel->progs.mc_mon_recv_fexit6;
}

static bool prog_on(enum mc_mon_entry_hook hook, struct bpf_program *p, struct monitor *skel)
{
	if (p == skel->progs.mc_mon_send || p == skel->progs.mc_mon_recv)
		return mc_monitor_events_on_tracepoints();
	if (p == skel->progs.mc_mon_sendpage_fexit)
		return !mc_monitor_events_on_tracepoints() && mc_kernel_has_func("inet_sendpage");
	if (is_event_prog(p, skel))
		return !mc_monitor_events_on_tracepoints();
	if (p == skel->progs.mc_mon_sys_enter)
		return hook == MC_MON_ENTRY_SYS_ENTER;
	if (p == skel->progs.mc_mon_fentry_send4 || p == skel->progs.mc_mon_fentry_send6)
		return hook == MC_MON_ENTRY_FENTRY;
	if (p == skel->progs.mc_mon_kprobe_send4 || p == skel->progs.mc_mon_kprobe_send6)
		return hook == MC_MON_ENTRY_KPROBE;
	return false;
}

void mc_monitor_select_progs(struct monitor *skel, int entry_hook)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, prog_on((enum mc_mon_entry_hook)entry_hook, p, skel));
}

static void unload(struct session *s)
{
	int i;

	for (i = s->nlinks - 1; i >= 0; i--)
		bpf_link__destroy(s->links[i]);
	s->nlinks = 0;
	monitor__destroy(s->skel);
	s->skel = NULL;
}

/* load and attach with one entry hook; 0, or -errno with the failed step in what */
static int try_load(struct session *s, enum mc_mon_entry_hook hook, char *what, size_t wlen)
{
	struct mc_agent *a = s->a;
	struct bpf_program *p;
	int err, i;
	static const char *const shared[] = {"mc_pods", "mc_pod_ips", "mc_control"};

	snprintf(what, wlen, "open");
	s->skel = monitor__open();
	if (!s->skel)
		return -errno;
	s->skel->rodata->entry_hook = hook;
	mc_monitor_select_progs(s->skel, hook);
	/* the registry maps are the datapath's: never a copy */
	for (i = 0; i < 3; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(s->skel->obj, shared[i]);
		int fd = mc_dp_map_fd(&a->dp, shared[i]);

		if (!m || fd < 0 || bpf_map__reuse_fd(m, fd)) {
			err = fd < 0 ? fd : -errno;
			snprintf(what, wlen, "reuse the pod registry maps");
			goto fail;
		}
	}
	snprintf(what, wlen, "load");
	err = monitor__load(s->skel);
	if (err)
		goto fail;
	snprintf(what, wlen, "attach");
	/* the entry hook first: a send event never misses its stash for that */
	for (i = 0; i < 2; i++) {
		bpf_object__for_each_program(p, s->skel->obj) {
			bool entry = !is_event_prog(p, s->skel);
			struct bpf_link *l;

			if (!bpf_program__autoload(p) || entry != (i == 0))
				continue;
			l = bpf_program__attach(p);
			if (!l) {
				err = errno ? -errno : -EINVAL;
				snprintf(what, wlen, "attach %s", bpf_program__section_name(p));
				goto fail;
			}
			s->links[s->nlinks++] = l;
		}
	}
	s->hook = hook;
	return 0;
fail:
	unload(s);
	return err ? err : -EINVAL;
}

static int parse_hooks(const char *h, enum mc_mon_entry_hook *order, int *n)
{
	*n = 0;
	if (!strcmp(h, "auto")) {
		if (!M.fentry_refused)
			order[(*n)++] = MC_MON_ENTRY_FENTRY;
		if (!M.kprobe_refused)
			order[(*n)++] = MC_MON_ENTRY_KPROBE;
	} else if (!strcmp(h, "fentry")) {
		order[(*n)++] = MC_MON_ENTRY_FENTRY;
	} else if (!strcmp(h, "kprobe")) {
		order[(*n)++] = MC_MON_ENTRY_KPROBE;
	} else if (strcmp(h, "tracepoint")) {
		return -1;
	}
	order[(*n)++] = MC_MON_ENTRY_SYS_ENTER;
	return 0;
}

static void session_free(struct session *s)
{
	if (!s)
		return;
	ring_buffer__free(s->rb);
	if (s->skel)
		unload(s);
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	mc_recon_free(s->recon);
	json_decref(s->notes);
	free(s->pods);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct session *session_start(struct mc_agent *a, const char *hooks, bool cost,
				     char *err, size_t errlen)
{
	struct mc_recon_opts ro = {.on_request = mc_monitor_metrics_request};
	enum mc_mon_entry_hook order[3];
	struct mc_control ctl = {};
	struct session *s;
	int n, i, rc = -EINVAL;

	if (!a->dp.skel) {
		snprintf(err, errlen, "the datapath is not loaded");
		return NULL;
	}
	if (parse_hooks(hooks, order, &n)) {
		snprintf(err, errlen, "hooks: auto, tracepoint, fentry or kprobe");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->a = a;
	s->stats_fd = -1;
	s->requested = hooks;
	s->cost = cost;
	s->notes = json_array();
	s->recon = mc_recon_new(&ro);
	if (!s->recon || !s->notes) {
		snprintf(err, errlen, "out of memory");
		session_free(s);
		return NULL;
	}
	mc_registry_each(&a->reg, remember_pod, s);
	if (!mc_dp_read_control(&a->dp, &ctl))
		s->modes0 = ctl.modes;
	if (cost) {
		/* run time and count of every BPF program while the session runs */
		s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (s->stats_fd < 0)
			note(s, "cannot enable BPF run-time statistics (%s): no cost measurement",
			     strerror(errno));
	}
	for (i = 0; i < n; i++) {
		char what[96] = "";

		rc = try_load(s, order[i], what, sizeof(what));
		if (!rc)
			break;
		if (order[i] == MC_MON_ENTRY_FENTRY) {
			M.fentry_refused = true;
			note(s, "%s refused by this kernel (%s: %s); %s", hook_name(order[i]), what,
			     strerror(-rc),
			     i + 1 < n ? "trying the next entry hook" : "no entry hook left");
		} else if (order[i] == MC_MON_ENTRY_KPROBE) {
			M.kprobe_refused = true;
			note(s, "%s refused by this kernel (%s: %s; kernel without kprobes?); %s",
			     hook_name(order[i]), what, strerror(-rc),
			     i + 1 < n ? "falling back to tp_btf/sys_enter, which taxes every "
					 "syscall of the node while the session runs"
				       : "no entry hook left");
		} else {
			snprintf(err, errlen, "load the monitor's BPF programs: %s: %s", what,
				 strerror(-rc));
		}
	}
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "no entry hook could be loaded");
		pr_err("monitor: %s", err);
		session_free(s);
		return NULL;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.mc_mon_events), on_event, s, NULL);
	if (!s->rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		session_free(s);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	s->started = time(NULL);
	pr_info("monitor: session started (send entry from %s)", hook_name(s->hook));
	return s;
}

/* collect until duration (<= 0: until *stop) */
static void session_run(struct session *s, double duration, volatile sig_atomic_t *stop)
{
	/* the programs wake us only when the ring buffer is half full: read every 10 ms */
	struct pollfd pfd = {.fd = bpf_map__fd(s->skel->maps.mc_mon_events), .events = POLLIN};

	while (!M.shutdown && !(stop && *stop) && (duration <= 0 || mono_s(&s->t0) < duration)) {
		poll(&pfd, 1, POLL_MS);
		pthread_mutex_lock(&s->lock);
		ring_buffer__consume(s->rb);
		mc_recon_tick(s->recon, mono_ns());
		pthread_mutex_unlock(&s->lock);
	}
}

static json_t *session_report(struct session *s, bool final)
{
	struct mc_control ctl = {};
	char modes[64], modes_now[64];
	json_t *rep;

	mc_mode_string(s->modes0, modes, sizeof(modes));
	if (!mc_dp_read_control(&s->a->dp, &ctl))
		mc_mode_string(ctl.modes, modes_now, sizeof(modes_now));
	else
		snprintf(modes_now, sizeof(modes_now), "%s", modes);
	rep = mc_recon_report(s->recon, namer, s);
	if (!rep)
		return NULL;
	json_object_set_new(rep, "duration_s", json_real(floor(mono_s(&s->t0) * 1000) / 1000));
	json_object_set_new(rep, "started", json_integer((json_int_t)s->started));
	json_object_set_new(rep, "final", json_boolean(final));
	json_object_set_new(rep, "mode", json_string(modes));
	if (strcmp(modes, modes_now))
		json_object_set_new(rep, "mode_changed_to", json_string(modes_now));
	json_object_set_new(rep, "hooks",
			    json_pack("{s:s, s:s, s:s, s:s, s:O}", "requested", s->requested,
				      "send_entry", hook_name(s->hook), "send",
				      "tp_btf/sock_send_length", "recv", "tp_btf/sock_recv_length",
				      "notes", s->notes));
	return rep;
}

static json_t *session_finish(struct session *s)
{
	struct mc_mon_stats st;
	struct mc_recon_counters rc;
	json_t *rep, *cost = NULL;
	int i;

	/* detach, then take what is still in the ring buffer */
	for (i = s->nlinks - 1; i >= 0; i--)
		bpf_link__destroy(s->links[i]);
	s->nlinks = 0;
	pthread_mutex_lock(&s->lock);
	ring_buffer__consume(s->rb);
	mc_recon_flush(s->recon);
	pthread_mutex_unlock(&s->lock);
	mc_monitor_read_stats(s->skel, &st);
	mc_recon_counters(s->recon, &rc);
	if (s->cost && s->stats_fd >= 0)
		cost = mc_monitor_cost_json(s->skel, rc.requests, st.events);
	rep = session_report(s, true);
	if (rep) {
		json_object_set_new(rep, "bpf", mc_monitor_bpf_json(s->skel));
		if (cost)
			json_object_set_new(rep, "cost", cost);
	} else {
		json_decref(cost);
	}
	mc_monitor_metrics_session(rc.incomplete, st.events, st.dropped, st.unregistered);
	pr_info("monitor: session ended: %llu requests, %llu events (%llu dropped), %.1f s",
		(unsigned long long)rc.requests, (unsigned long long)st.events,
		(unsigned long long)st.dropped, mono_s(&s->t0));
	session_free(s);
	return rep;
}

/* ---------------------------------------------------------------- API */

static json_t *msg(const char *key, const char *text, unsigned int status)
{
	return json_pack("{s:s, s:i}", key, text, "status", (int)status);
}

#define FAIL(code, text)                                                                           \
	do {                                                                                       \
		*status = (code);                                                                  \
		*reply = msg("error", (text), (code));                                             \
		return 1;                                                                          \
	} while (0)

struct opts {
	double duration;
	bool cost;
	char hooks[16];
};

static int parse_body(const char *body, size_t len, struct opts *o, bool need_duration, char *err,
		      size_t errlen)
{
	json_error_t jerr;
	const char *k;
	json_t *root, *v;

	if (!body || !len)
		return 0;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		snprintf(err, errlen, "expected a JSON object {\"duration\": S, \"cost\": false, \"hooks\": \"auto\"}");
		return -1;
	}
	json_object_foreach(root, k, v) {
		if (!strcmp(k, "duration") && json_is_number(v)) {
			o->duration = json_number_value(v);
		} else if (!strcmp(k, "cost") && json_is_boolean(v)) {
			o->cost = json_is_true(v);
		} else if (!strcmp(k, "hooks") && json_is_string(v) &&
			   strlen(json_string_value(v)) < sizeof(o->hooks)) {
			snprintf(o->hooks, sizeof(o->hooks), "%s", json_string_value(v));
		} else {
			snprintf(err, errlen, "unknown or malformed field \"%.32s\" (duration: seconds, "
					      "cost: boolean, hooks: auto|tracepoint|fentry|kprobe)", k);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	if (need_duration ? !(o->duration > 0 && o->duration <= MAX_DURATION_S)
			  : !(o->duration >= 0 && o->duration <= 86400)) {
		snprintf(err, errlen, "duration: %s", need_duration ? "0 < S <= 3600 seconds"
								     : "0 (until stopped) .. 86400 seconds");
		return -1;
	}
	return 0;
}

static bool take_busy(void)
{
	bool ok;

	pthread_mutex_lock(&M.lock);
	ok = !M.busy;
	if (ok)
		M.busy = true;
	pthread_mutex_unlock(&M.lock);
	return ok;
}

static void done(json_t *rep)
{
	pthread_mutex_lock(&M.lock);
	if (rep) {
		json_decref(M.last);
		M.last = json_incref(rep);
	}
	M.sessions++;
	M.cur = NULL;
	M.busy = false;
	pthread_mutex_unlock(&M.lock);
}

static void *background(void *arg)
{
	struct session *s = arg;
	json_t *rep;

	session_run(s, M.bg_duration, &M.stop_bg);
	pthread_mutex_lock(&M.lock);
	M.cur = NULL; /* no more snapshots of it */
	pthread_mutex_unlock(&M.lock);
	rep = session_finish(s);
	done(rep);
	json_decref(rep);
	return NULL;
}

static json_t *status_json(void)
{
	json_t *o;

	pthread_mutex_lock(&M.lock);
	o = json_pack("{s:b, s:b, s:I}", "running", M.busy, "background", M.busy && M.background,
		      "sessions", (json_int_t)M.sessions);
	if (M.cur) {
		struct session *s = M.cur;

		json_t *live;

		pthread_mutex_lock(&s->lock);
		live = session_report(s, false);
		pthread_mutex_unlock(&s->lock);
		if (live)
			json_object_set_new(live, "bpf", mc_monitor_bpf_json(s->skel));
		json_object_set_new(o, "live", live);
	}
	if (M.last)
		json_object_set(o, "last", M.last);
	pthread_mutex_unlock(&M.lock);
	return o;
}

static int stop_background(unsigned int *status, json_t **reply)
{
	pthread_t t;

	pthread_mutex_lock(&M.lock);
	if (!M.busy || !M.background) {
		bool busy = M.busy;

		pthread_mutex_unlock(&M.lock);
		*status = busy ? 409 : 404;
		*reply = msg("error", busy ? "the running session is not a background one (it ends by itself)"
					   : "no background session runs",
			     *status);
		return 1;
	}
	M.background = false; /* one stopper joins */
	t = M.thread;
	M.stop_bg = 1;
	pthread_mutex_unlock(&M.lock);
	pthread_join(t, NULL);
	pthread_mutex_lock(&M.lock);
	*reply = M.last ? json_incref(M.last) : msg("message", "stopped", 200);
	pthread_mutex_unlock(&M.lock);
	*status = 200;
	return 1;
}

int mc_monitor_http(struct mc_agent *a, const char *method, const char *url, const char *body,
		    size_t len, unsigned int *status, json_t **reply)
{
	struct opts o = {.duration = DEFAULT_DURATION_S, .hooks = "auto"};
	char err[256] = "";
	const char *sub;
	struct session *s;
	json_t *rep;

	if (strncmp(url, "/v1/monitor", 11) || (url[11] && url[11] != '/'))
		return 0;
	sub = url + 11;
	if (!*sub && !strcmp(method, "GET")) {
		*status = 200;
		*reply = status_json();
		return 1;
	}
	if ((!*sub && !strcmp(method, "DELETE")) || (!strcmp(sub, "/stop") && !strcmp(method, "POST")))
		return stop_background(status, reply);
	if (!(!*sub && !strcmp(method, "POST")) && !(!strcmp(sub, "/start") && !strcmp(method, "POST"))) {
		if (!*sub || !strcmp(sub, "/start") || !strcmp(sub, "/stop"))
			FAIL(405, "method not allowed: GET|POST|DELETE /v1/monitor, POST /v1/monitor/start|stop");
		FAIL(404, "not found");
	}
	if (*sub)
		o.duration = 0; /* background: until stopped */
	if (parse_body(body, len, &o, !*sub, err, sizeof(err)))
		FAIL(400, err);
	if (!take_busy())
		FAIL(409, "a monitor session is already running (one at a time)");
	s = session_start(a, o.hooks, o.cost, err, sizeof(err));
	if (!s) {
		done(NULL);
		FAIL(500, err);
	}
	if (*sub) { /* background */
		pthread_mutex_lock(&M.lock);
		M.cur = s;
		M.stop_bg = 0;
		M.bg_duration = o.duration;
		M.background = true;
		if (pthread_create(&M.thread, NULL, background, s)) {
			M.background = false;
			M.cur = NULL;
			pthread_mutex_unlock(&M.lock);
			rep = session_finish(s);
			json_decref(rep);
			done(NULL);
			FAIL(500, "cannot start the session's thread");
		}
		pthread_mutex_unlock(&M.lock);
		*status = 200;
		*reply = json_pack("{s:s, s:s, s:i}", "message",
				   "monitor running in the background: POST /v1/monitor/stop ends it",
				   "send_entry", hook_name(s->hook), "status", 200);
		return 1;
	}
	pthread_mutex_lock(&M.lock);
	M.cur = s;
	pthread_mutex_unlock(&M.lock);
	session_run(s, o.duration, NULL);
	pthread_mutex_lock(&M.lock);
	M.cur = NULL;
	pthread_mutex_unlock(&M.lock);
	rep = session_finish(s);
	done(rep);
	if (!rep)
		FAIL(500, "the report could not be built");
	*status = 200;
	*reply = rep;
	return 1;
}

void mc_monitor_fini(struct mc_agent *a)
{
	unsigned int st;
	json_t *r = NULL;

	(void)a;
	M.shutdown = 1;
	pthread_mutex_lock(&M.lock);
	if (M.busy && M.background) {
		pthread_mutex_unlock(&M.lock);
		stop_background(&st, &r);
		json_decref(r);
	} else {
		pthread_mutex_unlock(&M.lock);
	}
	pthread_mutex_lock(&M.lock);
	json_decref(M.last);
	M.last = NULL;
	pthread_mutex_unlock(&M.lock);
}

bool mc_monitor_running(void)
{
	bool running;

	pthread_mutex_lock(&M.lock);
	running = M.busy;
	pthread_mutex_unlock(&M.lock);
	return running;
}
