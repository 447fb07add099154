/* options: see options.h. */
#include "options.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"Usage: meshcut-webhook --cert FILE --key FILE [options]\n"
	"Mutating admission webhook: adds meshcut-init to pods that carry Istio's sidecar.\n"
	"\n"
	"  --cert FILE              serving certificate chain, PEM (re-read when it changes)\n"
	"  --key FILE               its private key, PEM\n"
	"  --listen ADDR:PORT       IP:PORT, [IPv6]:PORT or :PORT (default :8443)\n"
	"  --metrics-listen ADDR:PORT  also serve GET /metrics, plain HTTP: IPv4:PORT or :PORT (default: none)\n"
	"  --init-image IMAGE       image of the meshcut-init container (default meshcut/meshcut:latest)\n"
	"  --socket-path DIR        host directory of the agent's socket (default /var/run/meshcut)\n"
	"  --init-cpu QTY           CPU request of meshcut-init (default 10m, \"\" for none)\n"
	"  --init-memory QTY        memory request (default 16Mi)\n"
	"  --init-cpu-limit QTY     CPU limit (default 100m)\n"
	"  --init-memory-limit QTY  memory limit (default 32Mi)\n"
	"  --run-as-user UID        non-zero user of meshcut-init (default 65532)\n"
	"  --run-as-group GID       its group (default 0: the agent socket's group)\n"
	"  --reload-interval SEC    how often to look at the certificate files (default 5)\n"
	"  --shutdown-delay SEC     after SIGTERM, stay unready but serving this long (default 5)\n"
	"  --log-json               log JSON lines, and so does every meshcut-init it injects\n"
	"  -v, --verbose            log every decision\n"
	"  -h, --help               this text\n";

enum {
	OPT_CERT = 256, OPT_KEY, OPT_LISTEN, OPT_IMAGE, OPT_SOCKET, OPT_CPU, OPT_MEMORY,
	OPT_CPU_LIMIT, OPT_MEMORY_LIMIT, OPT_UID, OPT_GID, OPT_RELOAD, OPT_SHUTDOWN, OPT_LOG_JSON,
	OPT_METRICS_LISTEN,
};

static const struct option longopts[] = {
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN },
	{ "init-image", required_argument, NULL, OPT_IMAGE },
	{ "socket-path", required_argument, NULL, OPT_SOCKET },
	{ "init-cpu", required_argument, NULL, OPT_CPU },
	{ "init-memory", required_argument, NULL, OPT_MEMORY },
	{ "init-cpu-limit", required_argument, NULL, OPT_CPU_LIMIT },
	{ "init-memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
	{ "run-as-user", required_argument, NULL, OPT_UID },
	{ "run-as-group", required_argument, NULL, OPT_GID },
	{ "reload-interval", required_argument, NULL, OPT_RELOAD },
	{ "shutdown-delay", required_argument, NULL, OPT_SHUTDOWN },
	{ "log-json", no_argument, NULL, OPT_LOG_JSON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Kubernetes' grammar: digits [. digits] then a binary (Ki..Ei) or decimal
 * (n u m k M G T P E) suffix or an exponent (e|E [+-] digits). */
bool options_quantity_valid(const char *q)
{
	static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n",
						"u", "m", "k", "M", "G", "T", "P", "E" };
	const char *p = q;
	size_t digits = 0;

	while (isdigit((unsigned char)*p))
		p++, digits++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	if (!digits)
		return false;
	if ((*p == 'e' || *p == 'E') && p[1]) {
		const char *e = p + 1 + (p[1] == '+' || p[1] == '-');

		if (*e && strspn(e, "0123456789") == strlen(e))
			return true;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (strcmp(p, suffixes[i]) == 0)
			return true;
	return false;
}

static int number(const char *opt, const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (!*s || *end || v < min || v > max) {
		fprintf(stderr, "meshcut-webhook: %s %s: expected a number from %lld to %lld\n", opt,
			s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Everything options_parse() cannot check option by option. */
static int check(const struct options *o)
{
	const struct inject_cfg *c = &o->inject;
	const char *q[] = { c->cpu_request, c->memory_request, c->cpu_limit, c->memory_limit };
	const char *qname[] = { "--init-cpu", "--init-memory", "--init-cpu-limit",
				"--init-memory-limit" };

	if (!o->cert || !o->key) {
		fprintf(stderr, "meshcut-webhook: --cert and --key are required\n%s", usage);
		return -1;
	}
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		if (*q[i] && !options_quantity_valid(q[i])) {
			fprintf(stderr, "meshcut-webhook: %s %s: not a resource quantity\n", qname[i],
				q[i]);
			return -1;
		}
	if (!*c->image || strpbrk(c->image, " \t\n")) {
		fprintf(stderr, "meshcut-webhook: --init-image '%s': not an image reference\n",
			c->image);
		return -1;
	}
	if (c->socket_dir[0] != '/') {
		fprintf(stderr, "meshcut-webhook: --socket-path %s: must be absolute\n",
			c->socket_dir);
		return -1;
	}
	return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
	long long v;
	int c;

	*o = (struct options){
		.listen = ":8443",
		.inject = {
			.image = "meshcut/meshcut:latest",
			.socket_dir = "/var/run/meshcut",
			.cpu_request = "10m",
			.memory_request = "16Mi",
			.cpu_limit = "100m",
			.memory_limit = "32Mi",
			.run_as_user = 65532,
			/* group root: the agent's socket is root:root 0660, and
			 * connect(2) needs write permission on it */
			.run_as_group = 0,
		},
		.reload_interval = 5,
		.shutdown_delay = 5,
	};
	optind = 0; /* glibc: a full reset, so the parser can run more than once */
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CERT: o->cert = optarg; break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_METRICS_LISTEN: o->metrics_listen = optarg; break;
		case OPT_IMAGE: o->inject.image = optarg; break;
		case OPT_SOCKET: o->inject.socket_dir = optarg; break;
		case OPT_CPU: o->inject.cpu_request = optarg; break;
		case OPT_MEMORY: o->inject.memory_request = optarg; break;
		case OPT_CPU_LIMIT: o->inject.cpu_limit = optarg; break;
		case OPT_MEMORY_LIMIT: o->inject.memory_limit = optarg; break;
		case OPT_UID:
		case OPT_GID:
			/* runAsNonRoot: the kubelet refuses uid 0 */
			if (number(c == OPT_UID ? "--run-as-user" : "--run-as-group", optarg,
				   c == OPT_UID ? 1 : 0, 2147483647, &v) < 0)
				return -1;
			*(c == OPT_UID ? &o->inject.run_as_user : &o->inject.run_as_group) = v;
			break;
		case OPT_RELOAD:
		case OPT_SHUTDOWN:
			if (number(c == OPT_RELOAD ? "--reload-interval" : "--shutdown-delay", optarg,
				   c == OPT_RELOAD ? 1 : 0, 3600, &v) < 0)
				return -1;
			*(c == OPT_RELOAD ? &o->reload_interval : &o->shutdown_delay) = (unsigned int)v;
			break;
		case OPT_LOG_JSON: o->log_json = o->inject.log_json = true; break;
		case 'v': o->verbose = true; break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshcut-webhook: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return check(o);
}
