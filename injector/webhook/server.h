/* The HTTPS side: libmicrohttpd with GnuTLS, serving POST /mutate (one
 * AdmissionReview per request), GET /healthz (the process answers) and
 * GET /readyz (it takes requests: not once shutdown began). */
#ifndef MESHCUT_WEBHOOK_SERVER_H
#define MESHCUT_WEBHOOK_SERVER_H

#include "patch.h"

/* Largest request body taken; the API server's own limit for an object is
 * lower, so a bigger body is not an AdmissionReview worth reading. */
#define SERVER_MAX_BODY (3u << 20)

struct server;

/* Listens on listen: "IP:PORT", "[IPv6]:PORT", or ":PORT" for every address
 * (IPv6 and IPv4 where the kernel has IPv6, else IPv4). Port 0 picks a free
 * port (see server_port). Returns NULL on failure (logged). */
struct server *server_start(const char *listen, const struct inject_cfg *inject);
unsigned int server_port(const struct server *s);

/* /readyz fails from now on, so the endpoints drop this pod while it still
 * serves the requests that are on their way. */
void server_unready(struct server *s);

/* Stops accepting, lets the requests in flight finish (at most drain_s
 * seconds), then stops. */
void server_stop(struct server *s, unsigned int drain_s);

#endif
