/* meshload: a closed-loop HTTP/1.1 load generator whose numbers add up.
 *
 *   meshload --url http://HOST[:PORT][/PATH] -c CONNECTIONS [-t THREADS]
 *            -d SECONDS [--warmup SECONDS] [--warmup-max SECONDS] [--timeout SECONDS]
 *            [--cpu-stat CGROUP/cpu.stat ...] [--new-connection-per-request] [--json]
 *
 * Every connection sends "GET PATH HTTP/1.1\r\nHost: HOST\r\n\r\n", reads the
 * whole response and sends the next request at once, on the same keep-alive
 * connection (load_engine.h). With --new-connection-per-request every request
 * carries "Connection: close" and goes on a new connection, timed from its
 * connect(): the workload of HTTP/1.0 clients, health checks and clients
 * that reconnect, where a shortcut must pay off from a connection's first
 * request. All connections are opened before the warm-up;
 * after the warm-up comes the measured window of -d seconds, in which only
 * requests whose response completed inside it count. The warm-up lasts
 * --warmup seconds and, if that is not 0, until every connection has had a
 * response (until --warmup-max at most, by default --warmup + --timeout): at
 * c=1000 through TLS sidecars the first requests wait for thousands of
 * handshakes, which is not steady state. Latencies go into one
 * histogram per thread (load_hist.h), merged at the end.
 *
 * Self-check: with C connections always busy, Little's law says the mean
 * latency is C * window / requests; "littles_law_mean_us" reports that value
 * next to the measured mean. The two differ only by the time a connection
 * spends between two requests (a few microseconds of this program's own work).
 *
 * --cpu-stat (repeatable): also report the CPU time those cgroups spent during
 * the window, "window_cpu_us" (load_cpu.h).
 *
 * Exit status: 0 when the run completed (request errors are in the output),
 * 1 on an internal error, 2 on usage errors or when no connection could be
 * made at all.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load_cpu.h"
#include "load_engine.h"
#include "load_hist.h"
#include "load_url.h"
#include "net.h"

#define MAX_CONNECTIONS 100000
#define MAX_THREADS 256
#define MAX_SECONDS 86400.0

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshload --url http://HOST[:PORT][/PATH] -c CONNECTIONS [-t THREADS]\n"
		"                -d SECONDS [--warmup SECONDS] [--warmup-max SECONDS]\n"
		"                [--timeout SECONDS] [--cpu-stat FILE ...]\n"
		"                [--new-connection-per-request] [--json]\n"
		"  --url URL            target; only http://, PORT defaults to 80\n"
		"  -c, --connections N  keep-alive connections, each one request at a time\n"
		"  -t, --threads N      event-loop threads, connections spread evenly (default 1)\n"
		"  -d, --duration S     measured window in seconds (decimals allowed)\n"
		"  --warmup S           load before the window, not recorded (default 1); it\n"
		"                       lasts until every connection has had a response too;\n"
		"                       0: no warm-up at all\n"
		"  --warmup-max S       the longest warm-up (default --warmup + --timeout)\n"
		"  --cpu-stat FILE      a cgroup v2 cpu.stat: report its CPU time in the window\n"
		"                       as window_cpu_us (repeatable: summed)\n"
		"  --timeout S          a response must complete within S (default 10)\n"
		"  --new-connection-per-request\n"
		"                       each request on a new connection (Connection: close),\n"
		"                       its latency from connect() to the last response byte;\n"
		"                       -c is then the number of clients\n"
		"  --json               one JSON line instead of the text summary\n"
		"Exit: 0 run completed (errors are reported, not fatal), 1 internal error,\n"
		"      2 usage error or no connection could be made.\n");
}

/* Seconds: a plain decimal number in [min, MAX_SECONDS]. */
static int parse_seconds(const char *s, double min, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*out) || *out < min || *out > MAX_SECONDS)
		return -1;
	return 0;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

struct summary {
	struct load_hist hist;
	uint64_t requests, errors, errors_by[LOAD_ERR_KINDS], reconnects, used;
	uint64_t pre_requests, pre_errors;
	uint64_t duration_ns;
	uint64_t warmup_ns; /* how long the warm-up lasted */
	int warmed;         /* connections that had had a response when it ended */
	bool conn_per_request;  /* --new-connection-per-request */
	int cpu_files;          /* --cpu-stat files given */
	int64_t window_cpu_us;  /* their CPU time in the window, -1: unknown */
};

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_json(const struct summary *s, int conns, int threads)
{
	const struct load_hist *h = &s->hist;
	double secs = (double)s->duration_ns / 1e9;

	printf("{\"requests\":%" PRIu64 ",\"duration_us\":%" PRIu64 ",\"qps\":%.1f", s->requests,
	       s->duration_ns / 1000, secs > 0 ? (double)s->requests / secs : 0.0);
	printf(",\"mean_us\":%.2f,\"min_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f"
	       ",\"p999_us\":%.1f,\"max_us\":%.1f",
	       load_hist_mean_ns(h) / 1000.0, us(h->count ? h->min_ns : 0),
	       us(load_hist_percentile(h, 50)), us(load_hist_percentile(h, 90)),
	       us(load_hist_percentile(h, 99)), us(load_hist_percentile(h, 99.9)), us(h->max_ns));
	printf(",\"errors\":%" PRIu64 ",\"errors_by_kind\":{", s->errors);
	for (int k = 0; k < LOAD_ERR_KINDS; k++)
		printf("%s\"%s\":%" PRIu64, k ? "," : "", load_err_names[k], s->errors_by[k]);
	printf("},\"reconnects\":%" PRIu64 ",\"connections\":%d,\"connections_used\":%" PRIu64
	       ",\"threads\":%d",
	       s->reconnects, conns, s->used, threads);
	printf(",\"littles_law_mean_us\":%.2f",
	       s->requests ? (double)conns * (double)s->duration_ns / 1000.0 / (double)s->requests
			   : 0.0);
	printf(",\"warmup_requests\":%" PRIu64 ",\"warmup_errors\":%" PRIu64
	       ",\"warmup_us\":%" PRIu64 ",\"warmed_connections\":%d",
	       s->pre_requests, s->pre_errors, s->warmup_ns / 1000, s->warmed);
	if (s->cpu_files)
		printf(",\"window_cpu_us\":%" PRId64, s->window_cpu_us);
	printf(",\"connection_per_request\":%s}\n", s->conn_per_request ? "true" : "false");
}

static void print_text(const struct summary *s, const char *url, int conns, int threads)
{
	const struct load_hist *h = &s->hist;
	double secs = (double)s->duration_ns / 1e9;

	printf("meshload %s: %d %s on %d thread%s, %.3f s window after %.3g s warm-up"
	       " (%d connections had answered)\n",
	       url, conns, s->conn_per_request ? "clients, a new connection per request"
					     : "connections",
	       threads, threads == 1 ? "" : "s", secs, (double)s->warmup_ns / 1e9, s->warmed);
	printf("  requests   %" PRIu64 " (%.1f/s), %" PRIu64 " of %d connections used, "
	       "%" PRIu64 " reconnects\n",
	       s->requests, secs > 0 ? (double)s->requests / secs : 0.0, s->used, conns,
	       s->reconnects);
	printf("  latency    mean %.1f us (Little's law: %.1f us), min %.1f, p50 %.1f, p90 %.1f,"
	       " p99 %.1f, p99.9 %.1f, max %.1f\n",
	       load_hist_mean_ns(h) / 1000.0,
	       s->requests ? (double)conns * (double)s->duration_ns / 1000.0 / (double)s->requests
			   : 0.0,
	       us(h->count ? h->min_ns : 0), us(load_hist_percentile(h, 50)),
	       us(load_hist_percentile(h, 90)), us(load_hist_percentile(h, 99)),
	       us(load_hist_percentile(h, 99.9)), us(h->max_ns));
	printf("  errors     %" PRIu64, s->errors);
	for (int k = 0; k < LOAD_ERR_KINDS; k++)
		printf("%s%s %" PRIu64, k ? ", " : " (", load_err_names[k], s->errors_by[k]);
	printf(")\n");
	if (s->pre_errors)
		printf("  warm-up    %" PRIu64 " requests, %" PRIu64 " errors (not counted above)\n",
		       s->pre_requests, s->pre_errors);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, 0, 'u' },
		{ "connections", required_argument, 0, 'c' },
		{ "threads", required_argument, 0, 't' },
		{ "duration", required_argument, 0, 'd' },
		{ "warmup", required_argument, 0, 'w' },
		{ "timeout", required_argument, 0, 'T' },
		{ "warmup-max", required_argument, 0, 'W' },
		{ "cpu-stat", required_argument, 0, 'C' },
		{ "json", no_argument, 0, 'j' },
		{ "new-connection-per-request", no_argument, 0, 'N' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *url = NULL;
	int conns = 0, threads = 1, c;
	double duration = -1, warmup = 1, timeout = 10, warmup_max = -1;
	bool json = false, per_request = false;
	static struct load_cpu cpu;

	while ((c = getopt_long(argc, argv, "c:t:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'c':
			if (parse_int(optarg, 1, MAX_CONNECTIONS, &conns)) {
				fprintf(stderr, "meshload: -c wants 1..%d\n", MAX_CONNECTIONS);
				return 2;
			}
			break;
		case 't':
			if (parse_int(optarg, 1, MAX_THREADS, &threads)) {
				fprintf(stderr, "meshload: -t wants 1..%d\n", MAX_THREADS);
				return 2;
			}
			break;
		case 'd':
			if (parse_seconds(optarg, 0.001, &duration)) {
				fprintf(stderr, "meshload: -d wants seconds, 0.001..%.0f\n", MAX_SECONDS);
				return 2;
			}
			break;
		case 'w':
			if (parse_seconds(optarg, 0, &warmup)) {
				fprintf(stderr, "meshload: --warmup wants seconds, 0..%.0f\n", MAX_SECONDS);
				return 2;
			}
			break;
		case 'W':
			if (parse_seconds(optarg, 0, &warmup_max)) {
				fprintf(stderr, "meshload: --warmup-max wants seconds, 0..%.0f\n",
					MAX_SECONDS);
				return 2;
			}
			break;
		case 'C':
			if (cpu.nfiles == LOAD_CPU_MAX_FILES) {
				fprintf(stderr, "meshload: at most %d --cpu-stat files\n",
					LOAD_CPU_MAX_FILES);
				return 2;
			}
			cpu.files[cpu.nfiles++] = optarg;
			break;
		case 'T':
			if (parse_seconds(optarg, 0.001, &timeout)) {
				fprintf(stderr, "meshload: --timeout wants seconds, 0.001..%.0f\n",
					MAX_SECONDS);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'N':
			per_request = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !url || !conns || duration < 0) {
		usage(stderr);
		return 2;
	}
	if (threads > conns) {
		fprintf(stderr, "meshload: -t %d is more threads than -c %d connections\n", threads,
			conns);
		return 2;
	}

	if (warmup_max < 0)
		warmup_max = warmup + timeout;
	if (warmup_max < warmup) {
		fprintf(stderr, "meshload: --warmup-max %.3g is shorter than --warmup %.3g\n",
			warmup_max, warmup);
		return 2;
	}

	if (cpu.nfiles && load_cpu_usage_us(cpu.files, cpu.nfiles) < 0) {
		fprintf(stderr, "meshload: --cpu-stat: cannot read usage_usec from every file\n");
		return 2;
	}

	char err[512], request[LOAD_PATH_MAX + NET_HOST_MAX + 64];
	struct load_url u;
	if (load_url_parse(url, &u, err, sizeof(err))) {
		fprintf(stderr, "meshload: %s\n", err);
		return 2;
	}
	int request_len = load_url_request(&u, per_request, request, sizeof(request));
	if (request_len < 0) {
		fprintf(stderr, "meshload: URL too long\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Connect everything before the clock starts. A target that refuses the
	 * very first connection is not there: exit 2 at once. Later failures are
	 * counted, and those connections keep trying from the event loop. */
	static struct load_target tgt;
	int *fds = malloc((size_t)conns * sizeof(int));
	uint64_t setup_errors = 0;
	bool have_peer = false;
	if (!fds) {
		fprintf(stderr, "meshload: out of memory\n");
		return 1;
	}
	for (int i = 0; i < conns; i++) {
		fds[i] = net_connect(u.host, u.port, err, sizeof(err));
		if (fds[i] < 0) {
			if (!have_peer) {
				fprintf(stderr, "meshload: %s\n", err);
				return 2;
			}
			setup_errors++;
			continue;
		}
		if (!have_peer) {
			tgt.addrlen = sizeof(tgt.addr);
			if (getpeername(fds[i], (struct sockaddr *)&tgt.addr, &tgt.addrlen)) {
				fprintf(stderr, "meshload: getpeername: %s\n", strerror(errno));
				return 1;
			}
			have_peer = true;
		}
	}
	tgt.request = request;
	tgt.request_len = (size_t)request_len;
	tgt.timeout_ns = (uint64_t)(timeout * 1e9);
	tgt.nconn = conns;
	tgt.conn_per_request = per_request;
	tgt.warmup_ns = (uint64_t)(warmup * 1e9);
	tgt.warmup_max_ns = (uint64_t)(warmup_max * 1e9);
	tgt.duration_ns = (uint64_t)(duration * 1e9);
	atomic_init(&tgt.window_start, LOAD_WINDOW_UNSET);
	atomic_init(&tgt.warmed, 0);

	struct load_thread *th = calloc((size_t)threads, sizeof(*th));
	pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
	if (!th || !tid) {
		fprintf(stderr, "meshload: out of memory\n");
		return 1;
	}
	for (int i = 0; i < threads; i++) {
		/* contiguous, even shares: thread i gets [i*C/T, (i+1)*C/T) */
		int lo = (int)((int64_t)i * conns / threads), hi = (int)((int64_t)(i + 1) * conns / threads);
		if (load_thread_init(&th[i], &tgt, fds + lo, hi - lo)) {
			fprintf(stderr, "meshload: thread setup: %s\n", strerror(errno));
			return 1;
		}
	}

	/* The warm-up starts now, on the clock the requests are timed with; the
	 * threads open the window when it is over. */
	tgt.start_ns = load_now_ns();
	for (int i = 0; i < threads; i++) {
		int rc = pthread_create(&tid[i], NULL, load_thread_run, &th[i]);
		if (rc) {
			fprintf(stderr, "meshload: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	cpu.tgt = &tgt;
	if (cpu.nfiles) {
		int rc = load_cpu_start(&cpu);
		if (rc) {
			fprintf(stderr, "meshload: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}

	static struct summary s;
	int status = 0;
	load_hist_init(&s.hist);
	s.duration_ns = tgt.duration_ns;
	s.conn_per_request = per_request;
	s.pre_errors = setup_errors;
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		if (th[i].fatal[0]) {
			fprintf(stderr, "meshload: thread %d: %s\n", i, th[i].fatal);
			status = 1;
		}
		load_hist_merge(&s.hist, &th[i].hist);
		s.requests += th[i].requests;
		for (int k = 0; k < LOAD_ERR_KINDS; k++) {
			s.errors_by[k] += th[i].errors[k];
			s.errors += th[i].errors[k];
		}
		s.reconnects += th[i].reconnects;
		s.used += th[i].used;
		s.pre_requests += th[i].pre_requests;
		s.pre_errors += th[i].pre_errors;
		load_thread_destroy(&th[i]);
	}
	if (cpu.nfiles) {
		load_cpu_join(&cpu);
		s.cpu_files = cpu.nfiles;
		s.window_cpu_us = cpu.window_us;
	}
	uint64_t opened = atomic_load(&tgt.window_start);
	if (opened != LOAD_WINDOW_UNSET) { /* unset: every thread failed before */
		s.warmup_ns = opened - tgt.start_ns;
		s.warmed = tgt.warmed_at_open;
	}
	if (json)
		print_json(&s, conns, threads);
	else
		print_text(&s, url, conns, threads);
	free(fds);
	free(th);
	free(tid);
	return status;
}
