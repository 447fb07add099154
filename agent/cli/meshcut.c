/*
 * meshcut: the operator's CLI. Talks to the node agent over its Unix socket.
 *
 *   meshcut [--socket PATH] status [--json]
 *   meshcut [--socket PATH] pods [--json]
 *   meshcut [--socket PATH] stats [--json]
 *   meshcut [--socket PATH] mode MODES      full|off|intra|node|cross|outbound|inbound[,...]
 *   meshcut [--socket PATH] backlog-limit BYTES   redirected bytes one reader may hold
 *   meshcut [--socket PATH] pod-pairs-max SLOTS   pair slots one pod's connections may
 *                                                 hold (0: no limit)
 *   meshcut [--socket PATH] deregister NAMESPACE/NAME [--netns COOKIE]
 *   meshcut [--socket PATH] why NAMESPACE/POD|IP [--json]   (why.c)
 *
 * Admin commands (mode, backlog-limit, pod-pairs-max, monitor, deregister, and pods for
 * every pod) are served only to root in the agent's own network namespace:
 * run them in the agent's pod (kubectl exec). Elsewhere the agent answers
 * 403; in a pod, `pods` lists the pod's own registration.
 *
 * Exit codes: 0 ok, 1 the agent refused or failed, 2 usage, 3 agent unreachable.
 */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_call.h"
#include "cli/monitor_cmd.h"
#include "cli/why.h"

static const char *socket_path = "/var/run/meshcut/agent.sock";

static void usage(FILE *f)
{
	fprintf(f, "usage: meshcut [--socket PATH] status|pods|stats [--json]\n"
		   "       meshcut [--socket PATH] mode MODES   (full, off, intra, node, cross,\n"
		   "                                             outbound, inbound; comma-separated)\n"
		   "       meshcut [--socket PATH] backlog-limit BYTES\n"
		   "       meshcut [--socket PATH] pod-pairs-max SLOTS   (per pod; 0: no limit)\n"
		   "       meshcut [--socket PATH] deregister NAMESPACE/NAME [--netns COOKIE]\n"
		   "         (a name is a label: two pods may carry one; --netns names the one\n"
		   "          to remove, as `meshcut pods` lists its NETNS)\n"
		   "       meshcut [--socket PATH] why NAMESPACE/POD|IP [--json]\n"
		   "         (is this pod accelerated, and if not why: registered with its policy\n"
		   "          and live pairs, refused with the agent's reason, or unsupported\n"
		   "          kernel; exit 0 registered, 1 not)\n"
		   "       meshcut [--socket PATH] monitor [--duration S] [--json] [--compare] ...  (see monitor --help)\n"
		   "Admin commands (all but status and stats) run as root in the agent's pod.\n");
}

/* GET/PUT and parse; prints the agent's error and returns the exit code */
static int call(const char *method, const char *path, const char *body, json_t **out)
{
	return mc_cli_call(socket_path, method, path, body, 10, NULL, out);
}

static long long num(json_t *o, const char *path)
{
	char tmp[128], *save = NULL, *tok;
	json_t *v = o;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (tok = strtok_r(tmp, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_object_get(v, tok);
	return v ? (long long)json_integer_value(v) : 0;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static int cmd_status(bool as_json)
{
	json_t *s;
	int rc = call("GET", "/v1/status", NULL, &s);

	if (rc)
		goto out;
	if (as_json) {
		mc_cli_print_json(s);
		goto out;
	}
	printf("meshcut-agent %s (map layout v%lld, libbpf %s)%s\n", str(s, "version"),
	       num(s, "layout"), str(s, "libbpf"),
	       json_is_true(json_object_get(s, "adopted")) ? ", adopted pinned state" : "");
	printf("  mode          %s\n", str(s, "mode"));
	printf("  pods          %lld registered\n", num(s, "pods"));
	printf("  sockops       %s (multi-attach link)\n", str(s, "cgroup"));
	printf("  pins          %s\n", str(s, "pin_dir"));
	printf("  pair slots    %lld / %lld used, %lld waiting for their second end\n",
	       num(s, "maps.pairs_used"), num(s, "maps.pairs_max"), num(s, "maps.pending"));
	printf("  pod table     %lld / %lld\n", num(s, "maps.pods"), num(s, "maps.pods_max"));
	printf("  backlog limit %lld bytes per receiver\n", num(s, "backlog_limit"));
	if (num(s, "pod_pairs_max"))
		printf("  per pod       %lld pair slots at most\n", num(s, "pod_pairs_max"));
	else
		printf("  per pod       no limit on pair slots\n");
	printf("  draining      %lld pairs, %lld bytes unread\n", num(s, "drain.waiting"),
	       num(s, "drain.backlog_bytes"));
	printf("  recv/send     %s (what counts each recv and send)\n",
	       str(json_object_get(s, "attach"), "recv_send_hooks"));
	{
		json_t *d;
		size_t i;

		json_array_foreach(json_object_get(s, "degraded"), i, d)
			printf("  degraded      %s\n", json_string_value(d));
	}
out:
	json_decref(s);
	return rc;
}

static int cmd_pods(bool as_json)
{
	json_t *a, *p;
	size_t i;
	int rc = call("GET", "/v1/pods", NULL, &a);

	if (rc)
		goto out;
	if (as_json) {
		mc_cli_print_json(a);
		goto out;
	}
	printf("%-40s %-18s %-10s %-8s %-16s %s\n", "POD", "IP", "NETNS", "VETH",
	       "PORTS out/in uid", "APP SOCKETS");
	json_array_foreach(a, i, p) {
		json_t *ips = json_object_get(p, "ips");
		char ports[40];

		snprintf(ports, sizeof(ports), "%lld/%lld %lld", num(p, "outbound_port"),
			 num(p, "inbound_port"), num(p, "proxy_uid"));
		printf("%-40s %-18s %-10lld %-8lld %-16s %s\n", str(p, "pod"),
		       json_string_value(json_array_get(ips, 0)) ? json_string_value(json_array_get(ips, 0)) : "-",
		       num(p, "netns_cookie"), num(p, "host_ifindex"), ports, str(p, "app_sockets"));
	}
out:
	json_decref(a);
	return rc;
}

static int cmd_stats(bool as_json)
{
	static const char *const kinds[] = {"outbound", "node_local", "inbound"};
	json_t *s;
	size_t k;
	int rc = call("GET", "/v1/stats", NULL, &s);

	if (rc)
		goto out;
	if (as_json) {
		mc_cli_print_json(s);
		goto out;
	}
	printf("sockets inserted %lld, pairs live %lld, fallbacks %lld\n", num(s, "sockets"),
	       num(s, "pairs_live"), num(s, "fallback"));
	printf("%-11s %8s %12s %14s %9s %9s %s\n", "PAIR", "SOCKETS", "REDIRECTED", "BYTES",
	       "TCP MSGS", "FIN HELD", "TO TCP missing/mode/backlog/ulp/lowat/waitall/senderr");
	for (k = 0; k < 3; k++) {
		json_t *o = json_object_get(json_object_get(s, "kinds"), kinds[k]);

		printf("%-11s %8lld %12lld %14lld %9lld %9lld %lld/%lld/%lld/%lld/%lld/%lld/%lld\n",
		       kinds[k], num(o, "sockets"), num(o, "msgs"), num(o, "bytes"),
		       num(o, "tcp_msgs"), num(o, "fin_held"), num(o, "to_tcp.peer_missing"),
		       num(o, "to_tcp.mode"), num(o, "to_tcp.backlog"), num(o, "to_tcp.ulp"),
		       num(o, "to_tcp.rcvlowat"), num(o, "to_tcp.waitall"),
		       num(o, "to_tcp.send_error"));
	}
out:
	json_decref(s);
	return rc;
}

/* PUT /v1/config with one setting: backlog-limit BYTES, pod-pairs-max SLOTS */
static int cmd_config(const char *key, const char *value, long long min, const char *what)
{
	char *end, *body;
	long long n = strtoll(value, &end, 10);
	json_t *req, *ans;
	int rc;

	if (*end || !*value || n < min) {
		fprintf(stderr, "meshcut: %s\n", what);
		return 2;
	}
	req = json_pack("{s:I}", key, (json_int_t)n);
	body = json_dumps(req, JSON_COMPACT);
	rc = call("PUT", "/v1/config", body, &ans);
	if (!rc)
		printf("%s\n", str(ans, "message"));
	free(body);
	json_decref(req);
	json_decref(ans);
	return rc;
}

/* "namespace/name" of Kubernetes names: nothing to escape in a URL */
static bool pod_key_ok(const char *k)
{
	const char *slash = strchr(k, '/');
	const char *p;

	if (!slash || slash == k || !slash[1] || strchr(slash + 1, '/') || strlen(k) > 317)
		return false;
	for (p = k; *p; p++)
		if (*p != '/' && !isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return true;
}

static int cmd_deregister(const char *key, const char *netns)
{
	char path[400], *end;
	json_t *ans;
	long status;
	int rc;

	if (!pod_key_ok(key)) {
		fprintf(stderr, "meshcut: deregister: NAMESPACE/NAME (letters, digits, '-', '.', '_')\n");
		return 2;
	}
	if (netns && (strtoull(netns, &end, 10) == 0 || *end || !isdigit((unsigned char)*netns))) {
		fprintf(stderr, "meshcut: deregister: --netns takes a netns cookie (a number)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/v1/pods/%s%s%s", key, netns ? "?netns=" : "", netns ? netns : "");
	rc = mc_cli_call(socket_path, "DELETE", path, NULL, 10, &status, &ans);
	if (!rc)
		printf("%s\n", str(ans, "message"));
	else if (status == 409)
		fprintf(stderr, "meshcut: name the registration to remove: meshcut deregister %s --netns "
				"COOKIE (`meshcut pods` lists each one's NETNS)\n", key);
	json_decref(ans);
	return rc;
}

static int cmd_mode(const char *modes)
{
	json_t *req = json_pack("{s:s}", "mode", modes), *ans;
	char *body = json_dumps(req, JSON_COMPACT);
	int rc = call("PUT", "/v1/mode", body, &ans);

	if (!rc)
		printf("%s\n", str(ans, "message"));
	free(body);
	json_decref(req);
	json_decref(ans);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, 0, 's'},
		{"json", no_argument, 0, 'j'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	bool as_json = false;
	const char *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "monitor")) /* agent/cli/monitor_cmd.c */
		return mc_cli_monitor(socket_path, as_json, argc - optind + 1, argv + optind - 1);
	/* options may also follow the command: `meshcut stats --json` */
	while (optind < argc && !strcmp(argv[optind], "--json")) {
		as_json = true;
		optind++;
	}
	if (!strcmp(cmd, "deregister")) {
		if (optind + 1 == argc)
			return cmd_deregister(argv[optind], NULL);
		if (optind + 3 == argc && !strcmp(argv[optind + 1], "--netns"))
			return cmd_deregister(argv[optind], argv[optind + 2]);
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "why")) {
		if (optind + 2 == argc && !strcmp(argv[optind + 1], "--json")) {
			as_json = true;
		} else if (optind + 1 != argc) {
			usage(stderr);
			return 2;
		}
		return mc_cli_why(socket_path, argv[optind], as_json);
	}
	if (!strcmp(cmd, "mode") || !strcmp(cmd, "backlog-limit") || !strcmp(cmd, "pod-pairs-max")) {
		if (optind + 1 != argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(cmd, "mode"))
			return cmd_mode(argv[optind]);
		if (!strcmp(cmd, "backlog-limit"))
			return cmd_config("backlog_limit", argv[optind], 1,
					  "backlog-limit: a number of bytes");
		return cmd_config("pod_pairs_max", argv[optind], 0,
				  "pod-pairs-max: a number of pair slots (0: no limit)");
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "status"))
		return cmd_status(as_json);
	if (!strcmp(cmd, "pods"))
		return cmd_pods(as_json);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(as_json);
	fprintf(stderr, "meshcut: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
