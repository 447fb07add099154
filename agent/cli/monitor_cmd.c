/*
 * meshcut monitor: where a request's time goes (sidecar proxies, kernel network
 * stack, applications), measured live by the node agent (agent/monitor/).
 *
 *   meshcut [--socket PATH] monitor [--duration S] [--json] [--cost] [--hooks H]
 *   meshcut [--socket PATH] monitor --compare [--against MODE] [--duration S] [--json]
 *   meshcut [--socket PATH] monitor start [--hooks H] [--cost] | stop [--json] | status [--json]
 *   meshcut [--socket PATH] monitor --overhead [--iterations N] [--hooks H] [--json]
 *
 * --compare runs two sessions of the same live traffic: one in the agent's
 * current mode, then one with meshcut off (PUT /v1/mode), and restores the
 * mode. Switching off moves live connections to TCP at once (the drain), so
 * the current mode goes first; switching back applies to new connections only.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_call.h"
#include "cli/monitor_cmd.h"

static const char *sock_path;

static int call(const char *method, const char *path, json_t *body, long timeout_s, json_t **out)
{
	char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status;
	int rc;

	rc = mc_cli_call(sock_path, method, path, b ? b : "{}", timeout_s, &status, out);
	free(b);
	if (rc == 1 && (status == 501 || status == 404))
		fprintf(stderr, "meshcut: this agent has no latency monitor\n");
	return rc;
}

static double num(json_t *o, const char *path)
{
	char tmp[128], *save = NULL, *tok;
	json_t *v = o;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (tok = strtok_r(tmp, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_object_get(v, tok);
	return v ? json_number_value(v) : 0.0;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

/* "default/front" -> "front" when every pod is in default */
static const char *short_pod(const char *p)
{
	return !strncmp(p, "default/", 8) ? p + 8 : p;
}

static const char *const cats[] = {"proxy", "kernel", "app", "remote"};
static const char *const cat_intervals[] = {
	"Ts3-Tr2, Ts5-Tr4, Ts4-Tr5, Ts2-Tr3 (recv -> send in a sidecar)",
	"Tr2-Ts1, Tr4-Ts3, Tr6-Ts5, Tr5-Ts6, Tr3-Ts4, Tr1-Ts2 (send -> peer's recv)",
	"Ts6-Tr6 (recv -> send in an app; the hops it calls are theirs)",
	"behind a peer this node does not record (other node)",
};

static void print_report(json_t *r)
{
	json_t *hops = json_object_get(r, "hops"), *h, *notes;
	double dur = num(r, "duration_s");
	size_t i;
	int k;

	printf("meshcut monitor: %.0f requests in %.1f s on this node (mode %s; send entry from %s)\n",
	       num(r, "requests"), dur, str(r, "mode"), str(json_object_get(r, "hooks"), "send_entry"));
	if (json_object_get(r, "mode_changed_to"))
		printf("  note: the mode changed to %s during the session\n", str(r, "mode_changed_to"));
	notes = json_object_get(json_object_get(r, "hooks"), "notes");
	json_array_foreach(notes, i, h)
		printf("  note: %s\n", json_string_value(h));
	printf("\n%-8s %-76s %9s %9s %9s %9s %6s\n", "", "intervals of one hop (sockets 1..6 of Istio's table)",
	       "mean us", "p50", "p90", "p99", "share");
	for (k = 0; k < 4; k++) {
		json_t *c = json_object_get(json_object_get(r, "categories"), cats[k]);

		if (k == 3 && num(c, "mean_us") == 0)
			continue;
		printf("%-8s %-76s %9.1f %9.1f %9.1f %9.1f %5.1f%%\n", cats[k], cat_intervals[k],
		       num(c, "mean_us"), num(c, "p50_us"), num(c, "p90_us"), num(c, "p99_us"),
		       100 * num(c, "share"));
	}
	printf("%-8s %-76s %9.1f %9.1f %9.1f %9.1f %5.1f%%\n", "total", "Tr1-Ts1 (end to end)",
	       num(r, "total.mean_us"), num(r, "total.p50_us"), num(r, "total.p90_us"),
	       num(r, "total.p99_us"), 100.0);
	printf("(percentiles are per category over requests: they do not add up; means do)\n");
	if (!json_array_size(hops))
		return;
	printf("\nper hop, us per call: %-23s %6s %8s %8s %8s %9s %9s %9s %8s %8s %8s\n", "", "calls/req",
	       "total", "proxy-out", "proxy-in", "kern 1-2", "kern 3-4", "kern 5-6", "app",
	       "remote", "nested");
	json_array_foreach(hops, i, h) {
		json_t *p = json_object_get(h, "parts_us");
		char name[96];

		snprintf(name, sizeof(name), "%s -> %s", short_pod(str(h, "client")),
			 short_pod(str(h, "server")));
		printf("  %-42s %6.2f %8.1f %8.1f %8.1f %9.1f %9.1f %9.1f %8.1f %8.1f %8.1f\n", name,
		       num(h, "per_request"), num(h, "mean_us"), num(p, "proxy_out"),
		       num(p, "proxy_in"), num(p, "kernel_out") + num(p, "kernel_other"),
		       num(p, "kernel_node"), num(p, "kernel_in"), num(p, "app"), num(p, "remote"),
		       num(p, "nested"));
	}
	if (num(r, "reconstruction.incomplete") > 0)
		printf("(%.0f requests could not be rebuilt: in flight at the start or the end, or "
		       "their events were lost)\n",
		       num(r, "reconstruction.incomplete"));
	if (json_object_get(r, "cost"))
		printf("\nBPF run time: %.0f ns per request, %.0f ns per event (kernel.bpf_stats)\n",
		       num(r, "cost.ns_per_request"), num(r, "cost.ns_per_event"));
}

static int usage_to(FILE *f, int rc)
{
	fprintf(f,
		"usage: meshcut [--socket PATH] monitor [--duration S] [--json] [--cost] [--hooks H]\n"
		"       meshcut [--socket PATH] monitor --compare [--against MODE] [--duration S] [--json]\n"
		"       meshcut [--socket PATH] monitor start [--hooks H] [--cost] | stop | status\n"
		"       meshcut [--socket PATH] monitor --overhead [--iterations N] [--hooks H] [--json]\n"
		"  H: auto (fentry, kprobe, then tp_btf/sys_enter), tracepoint, fentry, kprobe\n");
	return rc;
}

static int usage(void)
{
	return usage_to(stderr, 2);
}

static json_t *session_body(double duration, bool cost, const char *hooks)
{
	json_t *b = json_object();

	if (duration > 0)
		json_object_set_new(b, "duration", json_real(duration));
	if (cost)
		json_object_set_new(b, "cost", json_true());
	if (hooks)
		json_object_set_new(b, "hooks", json_string(hooks));
	return b;
}

static int run_session(double duration, bool cost, const char *hooks, json_t **rep)
{
	json_t *b = session_body(duration, cost, hooks);
	int rc = call("POST", "/v1/monitor", b, (long)duration + 60, rep);

	json_decref(b);
	return rc;
}

static int set_mode(const char *mode)
{
	json_t *b = json_pack("{s:s}", "mode", mode), *ans;
	int rc = call("PUT", "/v1/mode", b, 10, &ans);

	json_decref(b);
	json_decref(ans);
	return rc;
}

static int cmd_compare(double duration, const char *against, bool cost, const char *hooks,
		       bool as_json)
{
	json_t *st, *a = NULL, *b = NULL;
	char mode[64];
	int rc, k;

	rc = call("GET", "/v1/status", NULL, 10, &st);
	if (rc) {
		json_decref(st);
		return rc;
	}
	snprintf(mode, sizeof(mode), "%s", str(st, "mode"));
	json_decref(st);
	if (!strcmp(mode, against)) {
		fprintf(stderr, "meshcut: the agent's mode is already %s: set the mode to compare "
				"with and restart the pods (live connections keep the path they were "
				"opened with), then run --compare again\n",
			mode);
		return 1;
	}
	if (!as_json)
		fprintf(stderr, "meshcut: %.0f s in mode %s, then %.0f s in mode %s ...\n", duration,
			mode, duration, against);
	rc = run_session(duration, cost, hooks, &a);
	if (rc)
		goto out;
	rc = set_mode(against);
	if (rc)
		goto out;
	usleep(500000); /* the drain moves live pairs to TCP within milliseconds */
	rc = run_session(duration, cost, hooks, &b);
	if (set_mode(mode))
		fprintf(stderr, "meshcut: could not restore mode %s\n", mode);
	if (rc)
		goto out;
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s, s:O, s:O}", "mode", mode, "against", against, mode,
				      a, against, b);

		mc_cli_print_json(o);
		json_decref(o);
		goto out;
	}
	printf("meshcut monitor --compare: the same live traffic, mode %s then mode %s (us per request)\n\n",
	       mode, against);
	printf("%-8s %24s %24s %10s\n", "", against, mode, "change");
	for (k = 0; k < 5; k++) {
		const char *c = k < 4 ? cats[k] : "total";
		char pa[64], pb[64];
		double va = k < 4 ? num(json_object_get(json_object_get(a, "categories"), c), "mean_us")
				  : num(a, "total.mean_us");
		double vb = k < 4 ? num(json_object_get(json_object_get(b, "categories"), c), "mean_us")
				  : num(b, "total.mean_us");

		if (k == 3 && va == 0 && vb == 0)
			continue;
		snprintf(pb, sizeof(pb), "%.1f (p99 %.0f)", vb,
			 k < 4 ? num(json_object_get(json_object_get(b, "categories"), c), "p99_us")
			       : num(b, "total.p99_us"));
		snprintf(pa, sizeof(pa), "%.1f (p99 %.0f)", va,
			 k < 4 ? num(json_object_get(json_object_get(a, "categories"), c), "p99_us")
			       : num(a, "total.p99_us"));
		printf("%-8s %24s %24s %+9.0f%%\n", c, pb, pa, vb > 0 ? 100 * (va - vb) / vb : 0.0);
	}
	printf("%-8s %24.0f %24.0f\n", "requests", num(b, "requests"), num(a, "requests"));
	printf("\nmode %s restored: live connections stay on the path they have now (TCP) until "
	       "they reconnect\n",
	       mode);
out:
	json_decref(a);
	json_decref(b);
	return rc;
}

/* ------------------------------------------------------------ overhead */

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double ns_per_call(int which, long n, int fd)
{
	char c = 0;
	double t0 = now_s();
	long i;

	for (i = 0; i < n; i++) {
		if (which == 0)
			syscall(SYS_getppid);
		else if (write(fd, &c, 1) != 1)
			break;
	}
	return (now_s() - t0) * 1e9 / (double)n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define ROUNDS 5

static int cmd_overhead(long iters, const char *hooks, bool as_json)
{
	static const char *const names[2] = {"getppid", "write 1 byte to /dev/null"};
	double v[2][2][ROUNDS]; /* [monitor off/on][syscall][round] */
	json_t *ans = NULL, *o;
	int fd = open("/dev/null", O_WRONLY), r, s, m, rc = 0;
	const char *entry = "?";

	if (fd < 0) {
		perror("meshcut: /dev/null");
		return 1;
	}
	for (r = 0; r < ROUNDS; r++) {
		for (m = 0; m < 2; m++) {
			if (m == 1) {
				json_t *b = session_body(0, false, hooks);

				rc = call("POST", "/v1/monitor/start", b, 30, &ans);
				json_decref(b);
				if (rc)
					goto out;
				if (r == 0)
					entry = strdup(str(ans, "send_entry"));
				json_decref(ans);
				ans = NULL;
			}
			for (s = 0; s < 2; s++)
				v[m][s][r] = ns_per_call(s, iters, fd);
			if (m == 1) {
				rc = call("POST", "/v1/monitor/stop", NULL, 60, &ans);
				json_decref(ans);
				ans = NULL;
				if (rc)
					goto out;
			}
		}
	}
	for (m = 0; m < 2; m++)
		for (s = 0; s < 2; s++)
			qsort(v[m][s], ROUNDS, sizeof(double), cmp_d);
	o = json_pack("{s:s, s:i, s:I}", "send_entry", entry, "rounds", ROUNDS, "calls_per_round",
		      (json_int_t)iters);
	for (s = 0; s < 2; s++)
		json_object_set_new(o, s ? "write_devnull" : "getppid",
				    json_pack("{s:f, s:f, s:f}", "off_ns", v[0][s][ROUNDS / 2], "on_ns",
					      v[1][s][ROUNDS / 2], "delta_ns",
					      v[1][s][ROUNDS / 2] - v[0][s][ROUNDS / 2]));
	if (as_json) {
		mc_cli_print_json(o);
	} else {
		printf("syscall cost on this node with the monitor off and on (median of %d rounds of "
		       "%ld calls; send entry from %s)\n",
		       ROUNDS, iters, entry);
		printf("%-28s %10s %10s %10s\n", "", "off", "on", "delta");
		for (s = 0; s < 2; s++)
			printf("%-28s %7.1f ns %7.1f ns %+7.1f ns\n", names[s], v[0][s][ROUNDS / 2],
			       v[1][s][ROUNDS / 2], v[1][s][ROUNDS / 2] - v[0][s][ROUNDS / 2]);
	}
	json_decref(o);
out:
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------- main */

/* monitor start | stop | status: a background session the operator ends */
static int cmd_session(const char *sub, bool cost, const char *hooks, bool as_json)
{
	json_t *rep = NULL;
	int rc;

	if (!strcmp(sub, "start")) {
		json_t *b = session_body(0, cost, hooks);

		rc = call("POST", "/v1/monitor/start", b, 30, &rep);
		json_decref(b);
		if (!rc)
			printf("%s (send entry from %s)\n", str(rep, "message"), str(rep, "send_entry"));
	} else if (!strcmp(sub, "stop")) {
		rc = call("POST", "/v1/monitor/stop", NULL, 120, &rep);
		if (!rc)
			as_json ? mc_cli_print_json(rep) : print_report(rep);
	} else if (!strcmp(sub, "status")) {
		rc = call("GET", "/v1/monitor", NULL, 30, &rep);
		if (!rc && as_json) {
			mc_cli_print_json(rep);
		} else if (!rc) {
			printf("monitor: %s, %.0f sessions so far\n",
			       json_is_true(json_object_get(rep, "running"))
				       ? (json_is_true(json_object_get(rep, "background"))
						  ? "running in the background"
						  : "a session is running")
				       : "not running (no BPF program loaded)",
			       num(rep, "sessions"));
			if (json_object_get(rep, "live")) {
				printf("\nlive:\n");
				print_report(json_object_get(rep, "live"));
			} else if (json_object_get(rep, "last")) {
				printf("\nlast session:\n");
				print_report(json_object_get(rep, "last"));
			}
		}
	} else {
		return usage();
	}
	json_decref(rep);
	return rc;
}

int mc_cli_monitor(const char *socket_path, bool as_json, int argc, char **argv)
{
	enum { O_DURATION = 256, O_JSON, O_COST, O_HOOKS, O_COMPARE, O_AGAINST, O_OVERHEAD,
	       O_ITER };
	static const struct option opts[] = {
		{"duration", required_argument, 0, O_DURATION},
		{"json", no_argument, 0, O_JSON},
		{"cost", no_argument, 0, O_COST},
		{"hooks", required_argument, 0, O_HOOKS},
		{"compare", no_argument, 0, O_COMPARE},
		{"against", required_argument, 0, O_AGAINST},
		{"overhead", no_argument, 0, O_OVERHEAD},
		{"iterations", required_argument, 0, O_ITER},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *hooks = NULL, *against = "off", *sub = NULL;
	bool cost = false, compare = false, overhead = false;
	double duration = 10;
	long iters = 1000000;
	json_t *rep = NULL;
	char *end;
	int c, rc;

	sock_path = socket_path;
	optind = 0; /* argv[0] is "monitor"; 0 also resets GNU getopt after main's parsing */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_DURATION:
			duration = strtod(optarg, &end);
			if (*end || !(duration > 0 && duration <= 3600)) {
				fprintf(stderr, "meshcut: --duration: 0 < S <= 3600 seconds\n");
				return 2;
			}
			break;
		case O_JSON:
			as_json = true;
			break;
		case O_COST:
			cost = true;
			break;
		case O_HOOKS:
			hooks = optarg;
			break;
		case O_COMPARE:
			compare = true;
			break;
		case O_AGAINST:
			against = optarg;
			break;
		case O_OVERHEAD:
			overhead = true;
			break;
		case O_ITER:
			iters = strtol(optarg, &end, 10);
			if (*end || iters < 1000 || iters > 1000000000) {
				fprintf(stderr, "meshcut: --iterations: 1000 .. 1000000000\n");
				return 2;
			}
			break;
		case 'h':
			return usage_to(stdout, 0);
		default:
			return usage();
		}
	}
	if (optind < argc)
		sub = argv[optind++];
	if (optind < argc)
		return usage();
	if (sub) {
		if (compare || overhead)
			return usage();
		return cmd_session(sub, cost, hooks, as_json);
	}
	if (compare && overhead)
		return usage();
	if (compare)
		return cmd_compare(duration, against, cost, hooks, as_json);
	if (overhead)
		return cmd_overhead(iters, hooks, as_json);
	if (!as_json)
		fprintf(stderr, "meshcut: collecting for %.0f s ...\n", duration);
	rc = run_session(duration, cost, hooks, &rep);
	if (!rc)
		as_json ? mc_cli_print_json(rep) : print_report(rep);
	json_decref(rep);
	return rc;
}
