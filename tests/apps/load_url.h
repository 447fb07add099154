/* load_url: meshload's target: http://HOST[:PORT][/PATH] and the one request
 * it sends there, built once. */
#ifndef MESHCUT_TESTS_LOAD_URL_H
#define MESHCUT_TESTS_LOAD_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

#define LOAD_PATH_MAX 2048

struct load_url {
	char host[NET_HOST_MAX];   /* for connect(): no brackets */
	char port[NET_PORT_MAX];   /* default 80 */
	char authority_host[NET_HOST_MAX + 2]; /* Host: value, [v6] keeps brackets */
	char path[LOAD_PATH_MAX];  /* origin-form, query included; "/" by default */
};

/* Parse an http:// URL (no https, no user info; a #fragment is dropped).
 * Returns 0, or -1 with a message in err. */
int load_url_parse(const char *url, struct load_url *u, char *err, size_t errsz);

/* "GET PATH HTTP/1.1\r\nHost: HOST\r\n\r\n" into buf, with "Connection:
 * close" when close is true (a new connection for every request). Returns its
 * length, or -1 when it does not fit. */
int load_url_request(const struct load_url *u, bool close, char *buf, size_t bufsz);

#endif
