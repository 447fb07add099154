/* server: see server.h. Request bodies are gathered per connection (MHD hands
 * them over in pieces) up to SERVER_MAX_BODY, and up to SERVER_BODY_BUDGET
 * for all connections together; the TLS key pair comes from tls_reload at
 * every handshake.
 *
 * Any pod can open connections to the webhook (unless the chart's
 * NetworkPolicy keeps it out), and the API server's are few: it connects from
 * a few addresses, sends its review at once and gives up after
 * timeoutSeconds (5 s in the chart, 30 s at most). So:
 *  - a connection idle for SERVER_IDLE_TIMEOUT_S is closed. libmicrohttpd
 *    notes activity on a TLS connection only once its handshake completes
 *    (MHD_run_tls_handshake_, 0.9.75 as today), so this is also the deadline
 *    of the handshake, counted from the accept, however slowly its bytes
 *    trickle in;
 *  - one address holds at most SERVER_PER_IP_LIMIT connections (its next ones
 *    are closed at once), room for the API server's concurrent reviews;
 *  - all addresses together hold SERVER_CONNECTION_LIMIT, many times one
 *    address's share, so that a handful of flooding addresses cannot fill it
 *    (a full server stops accepting, and the API server's connections would
 *    wait in the kernel's queue until the API server gives up);
 *  - memory stays bounded whatever the number of connections: bodies take at
 *    most SERVER_BODY_BUDGET in all (a review beyond it gets a 503 and the
 *    API server admits the pod unchanged, failurePolicy Ignore), and at most
 *    two reviews (the pool's threads) are parsed at a time. */
#include "server.h"

#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "review.h"
#include "tls_reload.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SERVER_IDLE_TIMEOUT_S 5u
#define SERVER_PER_IP_LIMIT 32u
#define SERVER_CONNECTION_LIMIT 512u
#define SERVER_BODY_BUDGET (48u << 20)
#define SERVER_THREADS 2u

struct server {
	struct MHD_Daemon *daemon;
	const struct inject_cfg *inject;
	atomic_bool unready;
	atomic_size_t buffered; /* body bytes held by all connections */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     char *text)
{
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		return mc_http_reply_with(conn, status, type, text, MHD_HTTP_HEADER_ALLOW, "POST");
	return mc_http_reply(conn, status, type, text);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status, const char *s)
{
	return reply(conn, status, "text/plain", strdup(s));
}

static enum MHD_Result mutate(struct server *s, struct MHD_Connection *conn, struct mc_http_body *b)
{
	struct review_reply r;
	struct timespec t0, t1;

	if (b->too_large)
		return metrics_admission("error", "too large", -1),
		       reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	if (b->over_budget)
		return metrics_admission("error", "over budget", -1),
		       reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "too many request bodies in flight, try again\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (review_handle(b->buf ? b->buf : "", b->len, s->inject, &r) < 0) {
		metrics_admission("error", "internal", -1);
		return MHD_NO;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_admission(r.outcome, r.reason,
			  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return reply(conn, r.http_status, "application/json", r.body);
}

/* The first call for a request (no body seen yet) answers everything but a
 * POST /mutate, whose body then arrives over further calls, the last one
 * with *upload_size == 0. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct mc_http_body *b = *con_cls;
	const char *clen;

	(void)version;
	if (!b) {
		if (strcmp(url, "/healthz") == 0)
			return reply_text(conn, MHD_HTTP_OK, "ok\n");
		if (strcmp(url, "/readyz") == 0)
			return atomic_load(&s->unready)
				       ? reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n")
				       : reply_text(conn, MHD_HTTP_OK, "ok\n");
		if (strcmp(url, "/mutate") != 0)
			return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n");
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > SERVER_MAX_BODY)
			return metrics_admission("error", "too large", -1), reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
		return mc_http_body_start(con_cls, &s->buffered, SERVER_BODY_BUDGET);
	}
	if (*upload_size)
		return mc_http_body_take(b, upload, upload_size, SERVER_MAX_BODY);
	return mutate(s, conn, b);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	pr_warn("http: %s", msg);
}


static struct MHD_Daemon *start(struct server *s, unsigned int flags, unsigned int port,
				const struct sockaddr_storage *ss)
{
	flags |= MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	return MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, handle, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, so it sees everything */
		MHD_OPTION_HTTPS_CERT_CALLBACK2, tls_reload_retrieve,
		/* TLS 1.2 or 1.3 only: the API server speaks both */
		MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		/* a hostile 3 MiB of JSON parses into some 60 MiB: one per
		 * thread at a time */
		MHD_OPTION_THREAD_POOL_SIZE, SERVER_THREADS,
		/* see the top of this file; idle keep-alive connections also
		 * close, so a drain ends */
		MHD_OPTION_CONNECTION_TIMEOUT, SERVER_IDLE_TIMEOUT_S,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, SERVER_PER_IP_LIMIT,
		MHD_OPTION_CONNECTION_LIMIT, SERVER_CONNECTION_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, mc_http_completed, s,
		/* ":PORT" passes no address: MHD then binds the wildcard itself */
		ss->ss_family ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, ss,
		MHD_OPTION_END);
}

struct server *server_start(const char *listen, const struct inject_cfg *inject)
{
	struct sockaddr_storage ss;
	struct server *s;
	unsigned int port;

	if (mc_http_parse_listen(listen, &ss, &port) < 0) {
		pr_err("--listen %s: expected IP:PORT, [IPv6]:PORT or :PORT", listen);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->inject = inject;
	atomic_init(&s->unready, false);
	if (ss.ss_family == AF_INET6)
		s->daemon = start(s, MHD_USE_IPv6, port, &ss);
	else if (ss.ss_family == AF_INET)
		s->daemon = start(s, 0, port, &ss);
	else if (!(s->daemon = start(s, MHD_USE_DUAL_STACK, port, &ss)))
		s->daemon = start(s, 0, port, &ss); /* a kernel without IPv6 */
	if (!s->daemon) {
		pr_err("cannot serve HTTPS on %s", listen);
		free(s);
		return NULL;
	}
	pr_info("serving https on %s (port %u)", listen, server_port(s));
	return s;
}

unsigned int server_port(const struct server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);

	return i ? i->port : 0;
}

void server_unready(struct server *s)
{
	atomic_store(&s->unready, true);
}

void server_stop(struct server *s, unsigned int drain_s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	time_t until = time(NULL) + drain_s;
	const union MHD_DaemonInfo *i;

	if (fd != MHD_INVALID_SOCKET)
		close(fd); /* refuse new connections instead of leaving them queued */
	while (time(NULL) < until) {
		i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!i || i->num_connections == 0)
			break;
		usleep(100 * 1000);
	}
	MHD_stop_daemon(s->daemon);
	free(s);
}
