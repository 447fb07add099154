/*
 * meshcut-init: runs once in a meshed pod's network namespace (an init
 * container added by meshcut's webhook) and registers the pod with the node's
 * agent over its Unix socket: pod IPs, the host side of eth0's veth, eth0's
 * MAC, the Istio ports and uid, and what Istio excludes from capture. The
 * agent trusts none of it without checking (the caller's network namespace is
 * read from the socket itself).
 *
 * A pod that Istio ambient captures (POD_AMBIENT_REDIRECTION=enabled, from
 * its annotation ambient.istio.io/redirection) is never registered: ztunnel,
 * not a sidecar, carries its traffic, and meshcut pairs no socket of it.
 *
 * Fail open: nothing here ever blocks the pod (it starts without meshcut,
 * with the reason in the log) unless --required. Exit codes: 0 registered (or
 * skipped; an ambient pod always), 2 usage or bad settings (--required, or a bad command line),
 * 3 agent unreachable (--required), 4 registration refused (--required).
 *
 * The outcome, in one line, also goes to the container's termination message
 * file (--termination-log, default /dev/termination-log: `kubectl describe
 * pod` shows it as the init container's Message): "registered: ...",
 * "refused: <the agent's reason>", "agent absent: ...", "unsupported kernel:
 * ..." or "skipped: ...". Only a file that exists is written (the kubelet
 * makes it); failing to write it changes nothing else.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "agent_client.h"
#include "capture_settings.h"
#include "log.h"
#include "netlink.h"
#include "netns.h"

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_ABSENT = 3, EXIT_REFUSED = 4, GO_ON = -1 };

struct opts {
	const char *socket, *iface, *name, *namespace, *ips, *term_log, *ambient, *log_format;
	const char *cap[MC_CAPTURE_NSETTINGS]; /* lib/capture_settings.h; NULL: unset */
	bool required, deregister;
	long timeout;
	double wait; /* seconds to wait for an agent that is not there (yet) */
};

/* what went wrong with a setting, for the termination message */
static char bad_setting[256];

#define setting_err(...)                                                         \
	do {                                                                     \
		snprintf(bad_setting, sizeof(bad_setting), __VA_ARGS__);         \
		pr_err("%s", bad_setting);                                       \
	} while (0)

/* The outcome in one line in the termination message file, which the kubelet
 * made (never created here: outside a container that path is the host's);
 * any failure is only logged: the pod's fate does not depend on it. */
static void outcome(const struct opts *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t n;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++) /* one line */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = strlen(line);
	line[n++] = '\n';
	if (!o->term_log || !*o->term_log)
		return;
	fd = open(o->term_log, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			pr_warn("termination message %s: %s", o->term_log, strerror(errno));
		return;
	}
	if (write(fd, line, n) != (ssize_t)n)
		pr_warn("termination message %s: %s", o->term_log, strerror(errno));
	close(fd);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* lists where "" means "capture nothing" (istio-iptables -b "" / -i ""), not unset */
static const char *env_list(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v ? v : def;
}

/* one line per capture setting, from lib/capture_settings.h */
static const struct cap_opt {
	const char *json, *option, *env, *metavar, *note;
	enum mc_capture_kind kind;
} cap_opts[MC_CAPTURE_NSETTINGS] = {
#define CAP_OPT(id, json, opt, env, kind, metavar, note, ...) \
	[MC_CAPTURE_##id] = { json, opt, env, metavar, note, kind },
	MC_CAPTURE_SETTINGS(CAP_OPT)
#undef CAP_OPT
};

static void usage(FILE *f)
{
	char opt[64];

	fprintf(f,
		"usage: meshcut-init [options]   (every option also reads an environment variable)\n"
		"  --socket PATH                  MESHCUT_SOCKET      agent socket (/var/run/meshcut/agent.sock)\n"
		"  --pod-name NAME                POD_NAME\n"
		"  --pod-namespace NS             POD_NAMESPACE\n"
		"  --pod-ips IP[,IP]              POD_IPS, POD_IP     (default: addresses of --interface)\n"
		"  --interface IF                 MESHCUT_INTERFACE   (eth0)\n"
		"  --termination-log PATH         MESHCUT_TERMINATION_LOG  the outcome in one line, for\n"
		"                                 kubectl describe pod (/dev/termination-log; \"\": none)\n"
		"  --log-format text|json         MESHCUT_LOG_FORMAT  (text; the webhook passes the\n"
		"                                 chart's logFormat)\n"
		"  --ambient-redirection V        POD_AMBIENT_REDIRECTION: the pod's annotation\n"
		"                                 ambient.istio.io/redirection; enabled (Istio ambient\n"
		"                                 captures the pod): exit 0 without registering\n");
	for (int k = 0; k < MC_CAPTURE_NSETTINGS; k++) {
		snprintf(opt, sizeof(opt), "--%s %s", cap_opts[k].option, cap_opts[k].metavar);
		fprintf(f, "  %-30s %s%s\n", opt, cap_opts[k].env, cap_opts[k].note);
	}
	fprintf(f,
		"  --required                     MESHCUT_REQUIRED=1: fail (3 absent, 4 refused) instead of\n"
		"                                 letting the pod start unaccelerated\n"
		"  --deregister                   remove this pod's registration instead\n"
		"  --timeout S                    (5)\n"
		"  --wait S                       MESHCUT_WAIT: wait this long for an agent that is\n"
		"                                 not there yet, e.g. during its rolling update (10)\n");
}

/* pod IPs: POD_IPS (downward API status.podIPs: comma-separated), else the
 * interface's global addresses */
static int collect_ips(const struct opts *o, json_t *ips)
{
	char err[MC_ERRLEN], buf[INET6_ADDRSTRLEN];
	struct ifaddrs *ifa, *i;
	struct mc_addr a;

	if (o->ips) {
		char *copy = strdup(o->ips), *save = NULL, *tok;

		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			while (*tok == ' ')
				tok++;
			if (mc_parse_ip(tok, &a, err)) {
				setting_err("pod IPs: %s", err);
				free(copy);
				return -1;
			}
			json_array_append_new(ips, json_string(mc_format_ip(&a, buf, sizeof(buf))));
		}
		free(copy);
		return json_array_size(ips) ? 0 : -1;
	}
	if (getifaddrs(&ifa))
		return -1;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, o->iface))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, sizeof(buf));
			json_array_append_new(ips, json_string(buf));
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			struct in6_addr *v6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(v6))
				continue;
			inet_ntop(AF_INET6, v6, buf, sizeof(buf));
			json_array_append_new(ips, json_string(buf));
		}
	}
	freeifaddrs(ifa);
	if (!json_array_size(ips)) {
		setting_err("no IP address on %s and no POD_IPS/POD_IP: cannot tell the pod's IP", o->iface);
		return -1;
	}
	return 0;
}

static int check_list(const char *what, const char *v, bool cidrs, bool star_ok)
{
	char err[MC_ERRLEN];
	uint16_t ports[64];
	struct mc_cidr c[8];
	size_t n;
	bool all;

	if (!v)
		return 0;
	if (cidrs ? mc_parse_cidrs(v, c, 8, &n, star_ok ? &all : NULL, err)
		  : mc_parse_ports(v, ports, 64, &n, star_ok ? &all : NULL, err)) {
		setting_err("%s: %s", what, err);
		return -1;
	}
	return 0;
}

static int put_int(json_t *o, const char *key, const char *v, long lo, long hi)
{
	char *end;
	long x;

	if (!v)
		return 0;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || *end || x < lo || x > hi) {
		setting_err("%s: \"%s\" is not a number in %ld..%ld", key, v, lo, hi);
		return -1;
	}
	json_object_set_new(o, key, json_integer(x));
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* The agent may be restarting (a rolling update) or not there yet: retry
 * until --wait seconds have passed since the first try, measured on the
 * clock, so that an agent which accepts and never answers (each try then
 * lasts --timeout) holds the pod no longer than one that is absent. */
static int call_agent(const struct opts *o, const char *method, const char *path,
		      const char *body, long *status, json_t **answer, char *err, size_t errlen)
{
	char *text = NULL;
	double start = now_s(), left;
	long timeout = o->timeout;
	bool said = false;

	while (mc_agent_call(o->socket, method, path, body, timeout, status, &text, err, errlen)) {
		left = o->wait - (now_s() - start);
		if (left > 0.5) {
			if (!said)
				pr_info("%s: waiting up to %.0f s for the agent", err, o->wait);
			said = true;
			usleep(500000);
			left -= 0.5;
			/* whole seconds for curl; never past the wait by more than one */
			timeout = left < o->timeout ? (long)left + 1 : o->timeout;
			continue;
		}
		if (o->required)
			pr_err("%s (is meshcut-agent running on this node, with its socket mounted at that path?)", err);
		else
			pr_warn("%s (is meshcut-agent running on this node, with its socket mounted at that path?)", err);
		return -1;
	}
	if (said)
		pr_info("the agent answered after %.1f s", now_s() - start);
	*answer = json_loads(text, 0, NULL);
	if (!*answer) /* not JSON (e.g. an HTTP library's own error page): show it as it is */
		*answer = json_pack("{s:s%}", *status < 400 ? "message" : "error", text,
				    strcspn(text, "\n") < 200 ? strcspn(text, "\n") : (size_t)200);
	free(text);
	return 0;
}

/* Every setting given is checked before any is sent: numbers go into req
 * as they are checked, lists are only checked here. */
static int check_settings(const struct opts *o, json_t *req)
{
	for (int k = 0; k < MC_CAPTURE_NSETTINGS; k++) {
		const struct cap_opt *c = &cap_opts[k];
		const char *v = o->cap[k];
		int rc = 0;

		switch (c->kind) {
		case MC_CAP_PORT: rc = put_int(req, c->json, v, 1, 65535); break;
		case MC_CAP_UID: rc = put_int(req, c->json, v, 0, 4294967294L); break;
		case MC_CAP_PORTS:
		case MC_CAP_PORTS_UNSUPPORTED: rc = check_list(c->json, v, false, false); break;
		case MC_CAP_PORTS_OR_ALL: rc = check_list(c->json, v, false, true); break;
		case MC_CAP_CIDRS: rc = check_list(c->json, v, true, false); break;
		case MC_CAP_CIDRS_OR_ALL: rc = check_list(c->json, v, true, true); break;
		case MC_CAP_MODE: /* checked in main */
		case MC_CAP_APP_SOCKETS:
		case MC_CAP_APP_READS: break;
		}
		if (rc)
			return -1;
	}
	return 0;
}

/* The string settings, as given (lists and the interception mode). */
static void put_settings(const struct opts *o, json_t *req)
{
	const char *excl_in = o->cap[MC_CAPTURE_EXCLUDE_INBOUND_PORTS],
		   *incl_in = o->cap[MC_CAPTURE_INCLUDE_INBOUND_PORTS];

	for (int k = 0; k < MC_CAPTURE_NSETTINGS; k++) {
		const char *v = o->cap[k];

		if (!v || cap_opts[k].kind == MC_CAP_PORT || cap_opts[k].kind == MC_CAP_UID)
			continue;
		/* An include list (or "") names the only captured inbound ports,
		 * and istio-iptables then ignores -d altogether (its exclusions
		 * are RETURN rules before the catch-all "*" redirect, which a
		 * list does not write). The Istio injection template and older
		 * webhooks pass both: send only what is in effect, which agents
		 * that refuse the combination accept too. */
		if (k == MC_CAPTURE_EXCLUDE_INBOUND_PORTS && incl_in && strcmp(incl_in, "*")) {
			if (*excl_in)
				pr_info("inbound ports %s are captured (include list): exclude list %s plays no part",
					*incl_in ? incl_in : "(none)", excl_in);
			continue;
		}
		/* only when it is not the default: an agent older than the
		 * field would refuse the whole registration for an unknown field */
		if (cap_opts[k].kind == MC_CAP_APP_SOCKETS && strcmp(v, "tcp"))
			continue;
		if (cap_opts[k].kind == MC_CAP_APP_READS && strcmp(v, "recv"))
			continue;
		json_object_set_new(req, cap_opts[k].json, json_string(v));
	}
}

static json_t *build_request(const struct opts *o)
{
	json_t *req = json_object(), *ips = json_array();
	struct mc_link eth;
	uint64_t cookie;

	if (collect_ips(o, ips)) {
		json_decref(ips);
		goto bad;
	}
	json_object_set_new(req, "namespace", json_string(o->namespace));
	json_object_set_new(req, "name", json_string(o->name));
	json_object_set_new(req, "ips", ips);
	/* our own namespace, as a claim the agent compares with what it reads */
	cookie = mc_own_netns_cookie(); /* 0: this kernel cannot tell */
	if (cookie)
		json_object_set_new(req, "netns_cookie", json_integer((json_int_t)cookie));
	/* the host side of eth0's veth and eth0's MAC (for the tc shortcut) */
	if (mc_nl_get_link(o->iface, 0, &eth) == 0) {
		char mac[24];

		if (eth.iflink != eth.ifindex || eth.link_netnsid >= 0)
			json_object_set_new(req, "host_ifindex", json_integer(eth.iflink));
		if (eth.has_mac) {
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", eth.mac[0],
				 eth.mac[1], eth.mac[2], eth.mac[3], eth.mac[4], eth.mac[5]);
			json_object_set_new(req, "mac", json_string(mac));
		}
	} else {
		pr_warn("no interface %s: registering without host veth and MAC", o->iface);
	}
	if (check_settings(o, req))
		goto bad;
	put_settings(o, req);
	return req;
bad:
	json_decref(req);
	return NULL;
}

enum { O_SOCKET = 256, O_NAME, O_NS, O_IPS, O_IFACE, O_REQ, O_DEREG, O_TIMEOUT, O_WAIT, O_TERM, O_AMBIENT, O_LOGFMT,
       O_CAP /* + enum mc_capture_id */ };

/* Options, then the environment for what no option gave. */
static void default_opts(struct opts *o)
{
	*o = (struct opts){
		.socket = env_or("MESHCUT_SOCKET", "/var/run/meshcut/agent.sock"),
		.iface = env_or("MESHCUT_INTERFACE", "eth0"),
		.term_log = env_list("MESHCUT_TERMINATION_LOG", "/dev/termination-log"),
		.name = env_or("POD_NAME", NULL),
		.namespace = env_or("POD_NAMESPACE", NULL),
		.ips = env_or("POD_IPS", env_or("POD_IP", NULL)),
		.ambient = env_or("POD_AMBIENT_REDIRECTION", NULL),
		.log_format = env_or("MESHCUT_LOG_FORMAT", "text"),
		.required = !strcmp(env_or("MESHCUT_REQUIRED", "0"), "1"),
		.timeout = 5,
		.wait = strtod(env_or("MESHCUT_WAIT", "10"), NULL),
	};
	for (int k = 0; k < MC_CAPTURE_NSETTINGS; k++)
		o->cap[k] = MC_CAP_KIND_IS_LIST(cap_opts[k].kind) ? env_list(cap_opts[k].env, NULL)
								  : env_or(cap_opts[k].env, NULL);
}

/* GO_ON, or the exit code: EXIT_OK after --help, EXIT_USAGE for a bad command line */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option fixed[] = {
		{"socket", 1, 0, O_SOCKET}, {"pod-name", 1, 0, O_NAME},
		{"pod-namespace", 1, 0, O_NS}, {"pod-ips", 1, 0, O_IPS},
		{"interface", 1, 0, O_IFACE}, {"required", 0, 0, O_REQ},
		{"deregister", 0, 0, O_DEREG}, {"timeout", 1, 0, O_TIMEOUT},
		{"wait", 1, 0, O_WAIT}, {"termination-log", 1, 0, O_TERM},
		{"ambient-redirection", 1, 0, O_AMBIENT}, {"log-format", 1, 0, O_LOGFMT},
		{"help", 0, 0, 'h'},
	};
	enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct option lopts[NFIXED + MC_CAPTURE_NSETTINGS + 1] = { 0 };
	int c;

	memcpy(lopts, fixed, sizeof(fixed));
	for (int k = 0; k < MC_CAPTURE_NSETTINGS; k++)
		lopts[NFIXED + k] = (struct option){ cap_opts[k].option, 1, 0, O_CAP + k };
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case O_SOCKET: o->socket = optarg; break;
		case O_NAME: o->name = optarg; break;
		case O_NS: o->namespace = optarg; break;
		case O_IPS: o->ips = optarg; break;
		case O_IFACE: o->iface = optarg; break;
		case O_REQ: o->required = true; break;
		case O_DEREG: o->deregister = true; break;
		case O_TIMEOUT: o->timeout = strtol(optarg, NULL, 10); break;
		case O_WAIT: o->wait = strtod(optarg, NULL); break;
		case O_TERM: o->term_log = optarg; break;
		case O_AMBIENT: o->ambient = optarg; break;
		case O_LOGFMT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				pr_err("--log-format %s: use text or json", optarg);
				return EXIT_USAGE;
			}
			o->log_format = optarg;
			mc_log_init("meshcut-init", MC_LOG_INFO, !strcmp(optarg, "json"));
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default:
			if (c >= O_CAP && c < O_CAP + MC_CAPTURE_NSETTINGS) {
				o->cap[c - O_CAP] = optarg;
				break;
			}
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || o->timeout <= 0 || !(o->wait >= 0)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return GO_ON;
}

/* "registered: NS/NAME 10.0.0.1, ports 15001 out 15006 in, uid 1337, app sockets shortcut"
 * (", app reads recv" after it when the pod promised so) */
static void outcome_registered(const struct opts *o, const json_t *req, const char *msg)
{
	const json_t *ips = json_object_get(req, "ips"), *v;
	const char *app = o->cap[MC_CAPTURE_APP_SOCKETS], *reads = o->cap[MC_CAPTURE_APP_READS];
	char list[128] = "";
	size_t i;

	json_array_foreach(ips, i, v)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "," : "",
			 json_string_value(v));
	outcome(o, "registered: %s/%s %s, ports %s out %s in, uid %s, app sockets %s%s%s",
		o->namespace, o->name, list,
		o->cap[MC_CAPTURE_OUTBOUND_PORT] ? o->cap[MC_CAPTURE_OUTBOUND_PORT] : "15001",
		o->cap[MC_CAPTURE_INBOUND_PORT] ? o->cap[MC_CAPTURE_INBOUND_PORT] : "15006",
		o->cap[MC_CAPTURE_PROXY_UID] ? o->cap[MC_CAPTURE_PROXY_UID] : "1337",
		app && *app ? app : "shortcut", reads && !strcmp(reads, "recv") ? ", app reads recv" : "",
		msg && !strncmp(msg, "refreshed", 9) ? " (refreshed)" : "");
}

/* a setting that is one of two words (or unset): false, said, for anything else */
static bool choice_ok(const struct opts *o, int k, const char *a, const char *b, const char *what,
		      const char *annotation)
{
	const char *v = o->cap[k];

	if (!v || !*v || !strcmp(v, a) || !strcmp(v, b))
		return true;
	pr_err("%s \"%s\": must be %s or %s (annotation %s); not registering", what, v, a, b,
	       annotation);
	outcome(o, "skipped: %s \"%.100s\": must be %s or %s (annotation %s)", what, v, a, b,
		annotation);
	return false;
}

int main(int argc, char **argv)
{
	struct opts o;
	json_t *req = NULL, *answer = NULL;
	char path[512], err[256], *body;
	const char *mode;
	long status = 0;
	int rc;

	mc_log_init("meshcut-init", MC_LOG_INFO, false);
	default_opts(&o);
	/* JSON lines from the first one when the environment asks (an unknown
	 * format is said, in text, and the pod still starts: fail open) */
	if (!strcmp(o.log_format, "json"))
		mc_log_init("meshcut-init", MC_LOG_INFO, true);
	else if (strcmp(o.log_format, "text"))
		pr_warn("MESHCUT_LOG_FORMAT=%s: use text or json; logging text", o.log_format);
	rc = parse_opts(argc, argv, &o);
	if (rc != GO_ON)
		return rc;
	/* Istio ambient captured the pod after admission (istio-cni annotates
	 * it during CNI ADD, before init containers run): not meshcut's, not
	 * even with --required. A deregistration still goes through. */
	if (o.ambient && !strcmp(o.ambient, "enabled") && !o.deregister) {
		pr_info("pod %s/%s is captured by Istio ambient (ambient.istio.io/redirection: enabled): ztunnel carries its traffic, not registering with meshcut",
			o.namespace ? o.namespace : "?", o.name ? o.name : "?");
		outcome(&o, "skipped: captured by Istio ambient (ambient.istio.io/redirection: enabled)");
		return EXIT_OK;
	}
	if (!o.name || !o.namespace) {
		pr_err("the pod's name and namespace are needed (POD_NAME/POD_NAMESPACE from the downward API, or --pod-name/--pod-namespace)");
		outcome(&o, "skipped: the pod's name and namespace are not known (POD_NAME/POD_NAMESPACE)");
		return o.required ? EXIT_USAGE : EXIT_OK;
	}
	mode = o.cap[MC_CAPTURE_INTERCEPTION_MODE];
	if (mode && strcmp(mode, "REDIRECT")) {
		pr_warn("interception mode %s: meshcut only accelerates REDIRECT; not registering", mode);
		outcome(&o, "skipped: interception mode %s: meshcut only accelerates REDIRECT", mode);
		return o.required ? EXIT_REFUSED : EXIT_OK;
	}
	/* a typo must not pair the sockets of an app whose owner asked for TCP,
	 * nor redirect towards an app whose owner did not promise recv():
	 * then the whole pod stays on the normal path, which is TCP too */
	if (!choice_ok(&o, MC_CAPTURE_APP_SOCKETS, "tcp", "shortcut", "app sockets",
		       "meshcut.io/app-sockets") ||
	    !choice_ok(&o, MC_CAPTURE_APP_READS, "recv", "any", "app reads", "meshcut.io/app-reads"))
		return o.required ? EXIT_USAGE : EXIT_OK;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (o.deregister) {
		snprintf(path, sizeof(path), "/v1/pods/%s/%s", o.namespace, o.name);
		body = NULL;
	} else {
		req = build_request(&o);
		if (!req) {
			if (!o.required)
				pr_warn("the pod starts without meshcut (its traffic takes the normal path)");
			outcome(&o, "skipped: invalid setting: %s", bad_setting[0] ? bad_setting : "see the log");
			return o.required ? EXIT_USAGE : EXIT_OK;
		}
		body = json_dumps(req, JSON_COMPACT);
		snprintf(path, sizeof(path), "/v1/pods");
	}
	if (call_agent(&o, o.deregister ? "DELETE" : "POST", path, body, &status, &answer, err,
		       sizeof(err))) {
		rc = o.required ? EXIT_ABSENT : EXIT_OK;
		if (!o.required)
			pr_warn("the pod starts without meshcut (its traffic takes the normal path)");
		outcome(&o, "agent absent: %s", err);
	} else if (status >= 200 && status < 300) {
		const char *m = json_string_value(json_object_get(answer, "message"));

		pr_info("%s", m ? m : "registered");
		if (o.deregister)
			outcome(&o, "deregistered: %s/%s", o.namespace, o.name);
		else
			outcome_registered(&o, req, m);
		rc = EXIT_OK;
	} else {
		const char *m = json_string_value(json_object_get(answer, "error"));

		pr_err("the agent refused to %s pod %s/%s (HTTP %ld): %s", o.deregister ? "deregister" : "register",
		       o.namespace, o.name, status, m ? m : "no reason given");
		if (!o.required)
			pr_warn("the pod starts without meshcut (its traffic takes the normal path)");
		if (status == 503 && json_is_true(json_object_get(answer, "unsupported")))
			outcome(&o, "unsupported kernel: %s", m ? m : "no reason given");
		else
			outcome(&o, "refused: %s (HTTP %ld)", m ? m : "no reason given", status);
		rc = o.required ? EXIT_REFUSED : EXIT_OK;
	}
	free(body);
	json_decref(req);
	json_decref(answer);
	curl_global_cleanup();
	return rc;
}
