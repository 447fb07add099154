/* The webhook's metrics: see metrics.h. */
#include "metrics.h"

#include "http_server.h"
#include "log.h"
#include "prom.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_SLOTS 32
#define NB 12

static const double le[NB] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
			      0.05,   0.1,   0.25,   0.5,   1,    2.5};

static struct {
	pthread_mutex_t lock;
	struct {
		const char *outcome, *reason; /* static strings, compared by address first */
		char label[48];
		unsigned long long n;
	} slot[METRICS_SLOTS];
	int used;
	unsigned long long bucket[NB], count;
	double sum;
} M = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* "no Istio sidecar (yet)" -> "no_istio_sidecar_yet"; a longer aside in
 * parentheses (an annotation and its value) is left out:
 * "captured by Istio ambient (ambient.istio.io/redirection: enabled)" ->
 * "captured_by_istio_ambient" */
static void label_of(const char *reason, char *out, size_t size)
{
	size_t n = 0;
	bool sep = false;

	for (; *reason && n + 2 < size; reason++) {
		const char *close = *reason == '(' ? strchr(reason, ')') : NULL;

		if (close && close - reason > 8) {
			reason = close;
			continue;
		}
		if (isalnum((unsigned char)*reason)) {
			if (sep && n)
				out[n++] = '_';
			out[n++] = (char)tolower((unsigned char)*reason);
			sep = false;
		} else {
			sep = true;
		}
	}
	out[n] = '\0';
}

void metrics_admission(const char *outcome, const char *reason, double seconds)
{
	int i;

	if (!reason)
		reason = "other";
	pthread_mutex_lock(&M.lock);
	for (i = 0; i < M.used; i++)
		if (!strcmp(M.slot[i].outcome, outcome) && !strcmp(M.slot[i].reason, reason))
			break;
	if (i == M.used && M.used < METRICS_SLOTS - 1) {
		M.slot[i].outcome = outcome;
		M.slot[i].reason = reason;
		label_of(reason, M.slot[i].label, sizeof(M.slot[i].label));
		M.used++;
	} else if (i == M.used) {
		/* full (a reason nobody wrote yet): the last slot counts the rest,
		 * outcome and reason "other" (never a real one mislabelled) */
		i = METRICS_SLOTS - 1;
		if (M.used == METRICS_SLOTS - 1) {
			M.slot[i].outcome = M.slot[i].reason = "other";
			snprintf(M.slot[i].label, sizeof(M.slot[i].label), "other");
			M.used++;
		}
	}
	M.slot[i].n++;
	if (seconds >= 0) { /* < 0: refused before it was decided, nothing to time */
		for (int b = 0; b < NB; b++)
			if (seconds <= le[b])
				M.bucket[b]++;
		M.count++;
		M.sum += seconds;
	}
	pthread_mutex_unlock(&M.lock);
}

char *metrics_text(void)
{
	static const char *const outcomes[] = {"injected", "skipped", "error"};
	char *out = NULL, labels[128];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int i, b;

	if (!f)
		return NULL;
	pthread_mutex_lock(&M.lock);
	mc_prom_family(f, "meshcut_webhook_admissions_total", "counter",
		       "AdmissionReviews answered, by outcome (injected, skipped, error) and reason.");
	for (i = 0; i < 3; i++) { /* every outcome shows, also before its first review */
		bool seen = false;

		for (b = 0; b < M.used; b++)
			seen |= !strcmp(M.slot[b].outcome, outcomes[i]);
		if (!seen) {
			snprintf(labels, sizeof(labels), "outcome=\"%s\",reason=\"none\"", outcomes[i]);
			mc_prom_u64(f, "meshcut_webhook_admissions_total", labels, 0);
		}
	}
	for (i = 0; i < M.used; i++) {
		snprintf(labels, sizeof(labels), "outcome=\"%s\",reason=\"%s\"", M.slot[i].outcome,
			 M.slot[i].label);
		mc_prom_u64(f, "meshcut_webhook_admissions_total", labels, M.slot[i].n);
	}
	mc_prom_family(f, "meshcut_webhook_admission_duration_seconds", "histogram",
		       "Time to decide on a review and build its answer (from its complete body).");
	for (b = 0; b < NB; b++) {
		snprintf(labels, sizeof(labels), "le=\"%g\"", le[b]);
		mc_prom_u64(f, "meshcut_webhook_admission_duration_seconds_bucket", labels, M.bucket[b]);
	}
	mc_prom_u64(f, "meshcut_webhook_admission_duration_seconds_bucket", "le=\"+Inf\"", M.count);
	mc_prom_f64(f, "meshcut_webhook_admission_duration_seconds_sum", NULL, M.sum);
	mc_prom_u64(f, "meshcut_webhook_admission_duration_seconds_count", NULL, M.count);
	pthread_mutex_unlock(&M.lock);
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

struct metrics_server {
	struct MHD_Daemon *daemon;
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	char *t;

	(void)cls, (void)version, (void)upload, (void)upload_size, (void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return mc_http_reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
				     strdup("not found (this listener serves only /metrics)\n"));
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return mc_http_reply_with(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
					  strdup("use GET\n"), MHD_HTTP_HEADER_ALLOW, "GET");
	t = metrics_text();
	return t ? mc_http_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", t) : MHD_NO;
}

struct metrics_server *metrics_server_start(const char *listen)
{
	struct sockaddr_storage ss;
	struct metrics_server *m;
	unsigned int port;

	if (mc_http_parse_listen(listen, &ss, &port)) {
		pr_err("--metrics-listen %s: expected IP:PORT, [IPv6]:PORT or :PORT", listen);
		return NULL;
	}
	if (!ss.ss_family) { /* ":PORT": every IPv4 address, as before */
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
					     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				     (uint16_t)port, NULL, NULL, handle, NULL,
				     MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_CONNECTION_LIMIT, 32u,
				     MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_END);
	if (!m->daemon) {
		pr_err("cannot serve metrics on %s", listen);
		free(m);
		return NULL;
	}
	{
		const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);

		pr_info("serving metrics (plain http) on %s (port %u)", listen, i ? i->port : 0);
	}
	return m;
}

void metrics_server_stop(struct metrics_server *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	free(m);
}
