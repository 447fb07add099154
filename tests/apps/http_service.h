/* http_service: meshapp's HTTP/1.1 side. Serves keep-alive connections; each
 * request fans out to the configured upstreams in order and is answered with
 * an X-Trace header describing the whole call tree:
 *   NAME                      no upstreams
 *   NAME(t1,t2,...)           the upstreams' own X-Trace values, in order
 *   NAME(t1,!HOST:PORT)       status 502: this upstream failed (no answer, or
 *                             an answer without X-Trace); an upstream answering
 *                             non-200 with an X-Trace keeps its trace, so the
 *                             failing hop stays visible however deep it is.
 */
#ifndef MESHCUT_TESTS_HTTP_SERVICE_H
#define MESHCUT_TESTS_HTTP_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define HTTP_MAX_BODY (64u << 20)

struct http_upstream {
	char spec[NET_HOST_MAX + NET_PORT_MAX + 4]; /* as given: HOST:PORT */
	char host[NET_HOST_MAX];                    /* for connect() */
	char port[NET_PORT_MAX];
	char *request; /* the GET we send, built once */
	size_t request_len;
};

struct http_config {
	const char *name;
	struct http_upstream *up;
	int nup;
	uint64_t body;     /* default body size */
	uint64_t delay_us; /* pause before answering */
};

/* Keeps a pointer to cfg. Returns 0, or -1 when out of memory. */
int http_service_init(const struct http_config *cfg);

/* Serve one accepted connection until the client closes, then close fd. */
void http_service_serve(int fd);

#endif
