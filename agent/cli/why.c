/*
 * meshcut why NAMESPACE/POD | IP [--json]: answers from the agent's own state
 * on this node (agent/api/why.h):
 *   - the agent cannot run here: "unsupported kernel" and its reason;
 *   - registered: its policy (ports, uid, capture lists, app sockets) and its
 *     live pairs by kind; fallbacks to TCP by reason are counted for the whole
 *     node only (the datapath has no per-pod counters), and shown as such;
 *   - refused: the agent's reason for its latest refusals (the agent keeps
 *     the last few, in memory);
 *   - neither: the agent never heard of it (exit 1): see the init
 *     container's termination message (kubectl describe pod).
 * Admin only for other pods (root in the agent's pod); a pod may ask about
 * itself.
 */
#include "cli/why.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_call.h"

static const char *str(json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : def;
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* "namespace/name" of Kubernetes names */
static bool pod_key_ok(const char *k)
{
	const char *slash = strchr(k, '/');

	if (!slash || slash == k || !slash[1] || strchr(slash + 1, '/') || strlen(k) > 317)
		return false;
	for (const char *p = k; *p; p++)
		if (*p != '/' && !isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return true;
}

/* an IP as the agent spells it (inet_ntop's form), or false */
static bool norm_ip(const char *s, char *out, size_t len)
{
	unsigned char b[16];

	if (inet_pton(AF_INET, s, b) == 1)
		return inet_ntop(AF_INET, b, out, (socklen_t)len) != NULL;
	if (inet_pton(AF_INET6, s, b) == 1)
		return inet_ntop(AF_INET6, b, out, (socklen_t)len) != NULL;
	return false;
}

static char *list_text(json_t *a, char *buf, size_t len)
{
	json_t *v;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(a, i, v) {
		if (json_is_string(v))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? "," : "",
					      json_string_value(v));
		else
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%lld", i ? "," : "",
					      (long long)json_integer_value(v));
	}
	if (!json_array_size(a))
		snprintf(buf, len, "none");
	return buf;
}

static void print_registered(json_t *p, json_t *stats)
{
	static const char *const kinds[] = {"outbound", "node_local", "inbound"};
	static const char *const reasons[] = {"peer_missing", "mode",    "backlog",   "ulp",
					      "rcvlowat",     "waitall", "send_error"};
	json_t *pairs = json_object_get(p, "pairs"), *to_tcp, *in;
	char b[512];
	time_t at = (time_t)num(p, "registered_at");
	char when[40] = "-";

	if (at)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
	printf("%s: registered (accelerated), netns %lld, since %s\n", str(p, "pod", "-"),
	       num(p, "netns_cookie"), when);
	printf("  ips                     %s\n", list_text(json_object_get(p, "ips"), b, sizeof(b)));
	printf("  sidecar ports           %lld outbound, %lld inbound, proxy uid %lld\n",
	       num(p, "outbound_port"), num(p, "inbound_port"), num(p, "proxy_uid"));
	if ((in = json_object_get(p, "include_inbound_ports")))
		printf("  inbound ports captured  only %s\n", list_text(in, b, sizeof(b)));
	else
		printf("  inbound ports excluded  %s\n",
		       list_text(json_object_get(p, "exclude_inbound_ports"), b, sizeof(b)));
	printf("  outbound ports excluded %s\n",
	       list_text(json_object_get(p, "exclude_outbound_ports"), b, sizeof(b)));
	printf("  outbound CIDRs excluded %s\n",
	       list_text(json_object_get(p, "exclude_outbound_cidrs"), b, sizeof(b)));
	if (json_object_get(p, "include_outbound_cidrs"))
		printf("  outbound CIDRs captured only %s\n",
		       list_text(json_object_get(p, "include_outbound_cidrs"), b, sizeof(b)));
	printf("  app sockets             %s\n", str(p, "app_sockets", "-"));
	printf("  app reads               %s\n", str(p, "app_reads", "-"));
	printf("  host veth, MAC          ifindex %lld, %s\n", num(p, "host_ifindex"),
	       str(p, "mac", "-"));
	printf("  live pairs it opened    %-10s %6s %8s %11s %7s\n", "KIND", "PAIRS", "WAITING",
	       "DIRS SHORT", "DIRS TCP");
	for (size_t k = 0; k < 3; k++) {
		json_t *o = json_object_get(pairs, kinds[k]);

		printf("                          %-10s %6lld %8lld %11lld %7lld\n", kinds[k],
		       num(o, "pairs"), num(o, "waiting"), num(o, "redirected"), num(o, "tcp"));
	}
	if (!stats)
		return;
	to_tcp = json_object_get(stats, "to_tcp");
	b[0] = '\0';
	for (size_t r = 0, n = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++)
		n += (size_t)snprintf(b + n, n < sizeof(b) ? sizeof(b) - n : 0, "%s%s %lld",
				      r ? ", " : "", reasons[r], num(to_tcp, reasons[r]));
	printf("  fallbacks to TCP        node-wide only (no per-pod counters): %s\n", b);
}

static void print_refusal(const char *target, json_t *f)
{
	time_t at = (time_t)num(f, "at");
	char when[40] = "-", b[128];

	if (at)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
	printf("%s: not registered: refused (HTTP %lld): %s\n", str(f, "pod", target),
	       num(f, "status"), str(f, "reason", "-"));
	printf("  ips %s, netns %lld, last at %s, %lld time(s)\n",
	       list_text(json_object_get(f, "ips"), b, sizeof(b)), num(f, "netns_cookie"), when,
	       num(f, "count"));
}

static bool refusal_matches(json_t *f, const char *pod, const char *ip)
{
	json_t *v;
	size_t i;

	if (pod)
		return !strcmp(str(f, "pod", ""), pod);
	json_array_foreach(json_object_get(f, "ips"), i, v)
		if (!strcmp(json_string_value(v), ip))
			return true;
	return false;
}

int mc_cli_why(const char *sock, const char *target, bool as_json)
{
	json_t *status = NULL, *pods = NULL, *stats = NULL, *refusals = NULL, *mine, *f, *out;
	const char *pod = NULL, *ip = NULL;
	char ipbuf[64], path[400];
	size_t i;
	int rc;

	if (pod_key_ok(target))
		pod = target;
	else if (norm_ip(target, ipbuf, sizeof(ipbuf)))
		ip = ipbuf;
	else {
		fprintf(stderr, "meshcut: why: NAMESPACE/POD or an IP address, not \"%s\"\n", target);
		return 2;
	}
	rc = mc_cli_call(sock, "GET", "/v1/status", NULL, 10, NULL, &status);
	if (rc)
		goto done;
	if (json_is_false(json_object_get(status, "supported"))) {
		if (as_json) {
			out = json_pack("{s:s, s:b, s:s, s:s}", "target", target, "registered", 0,
					"outcome", "unsupported kernel", "reason",
					str(status, "reason", "-"));
			mc_cli_print_json(out);
			json_decref(out);
		} else {
			printf("%s: not accelerated: unsupported kernel: meshcut cannot run on this node: %s\n",
			       target, str(status, "reason", "-"));
		}
		rc = 1;
		goto done;
	}
	snprintf(path, sizeof(path), "/v1/pods?%s=%s", pod ? "pod" : "ip", pod ? pod : ip);
	rc = mc_cli_call(sock, "GET", path, NULL, 10, NULL, &pods);
	if (rc)
		goto done;
	if (json_array_size(pods)) {
		if (mc_cli_call(sock, "GET", "/v1/stats", NULL, 10, NULL, &stats))
			stats = (json_decref(stats), NULL);
		if (as_json) {
			out = json_pack("{s:s, s:b, s:s, s:O, s:O*}", "target", target, "registered", 1,
					"outcome", "registered", "pods", pods, "node_fallbacks",
					stats ? json_object_get(stats, "to_tcp") : NULL);
			mc_cli_print_json(out);
			json_decref(out);
		} else {
			json_array_foreach(pods, i, f)
				print_registered(f, stats);
		}
		rc = 0;
		goto done;
	}
	rc = mc_cli_call(sock, "GET", "/v1/refusals", NULL, 10, NULL, &refusals);
	if (rc)
		goto done;
	mine = json_array();
	json_array_foreach(refusals, i, f)
		if (refusal_matches(f, pod, ip))
			json_array_append(mine, f);
	if (as_json) {
		out = json_pack("{s:s, s:b, s:s, s:O}", "target", target, "registered", 0, "outcome",
				json_array_size(mine) ? "refused" : "unknown", "refusals", mine);
		mc_cli_print_json(out);
		json_decref(out);
	} else {
		json_array_foreach(mine, i, f)
			print_refusal(target, f);
	}
	if (!json_array_size(mine))
		fprintf(stderr,
			"meshcut: why: %s is not registered on this node, and the agent remembers no refusal "
			"for it: its meshcut-init never reached this agent, skipped it, or ran before the "
			"agent's last restart (its termination message says which: kubectl describe pod), "
			"or the pod runs on another node\n",
			target);
	json_decref(mine);
	rc = 1;
done:
	json_decref(status);
	json_decref(pods);
	json_decref(stats);
	json_decref(refusals);
	return rc;
}
