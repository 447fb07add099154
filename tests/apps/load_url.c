/* load_url: URL parsing and the request line for meshload (see load_url.h). */
#include "load_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int load_url_parse(const char *url, struct load_url *u, char *err, size_t errsz)
{
	static const char scheme[] = "http://";
	const char *auth, *slash, *end;
	char hostport[NET_HOST_MAX + NET_PORT_MAX + 4];
	size_t alen, plen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
		snprintf(err, errsz, "URL must start with http:// (no TLS): '%s'", url);
		return -1;
	}
	auth = url + sizeof(scheme) - 1;
	end = auth + strcspn(auth, "#");
	slash = auth + strcspn(auth, "/?#"); /* http://h:1?q is http://h:1/?q */
	alen = (size_t)(slash - auth);
	if (alen == 0 || alen >= sizeof(hostport)) {
		snprintf(err, errsz, "URL has no or an overlong host: '%s'", url);
		return -1;
	}
	memcpy(hostport, auth, alen);
	hostport[alen] = '\0';
	if (strchr(hostport, '@')) {
		snprintf(err, errsz, "URL user info is not supported: '%s'", url);
		return -1;
	}

	/* HOST:PORT, [V6]:PORT, or the same without port (80). */
	const char *rb = strrchr(hostport, ']');
	const char *colon = strrchr(hostport, ':');
	if (colon && (!rb || colon > rb)) {
		if (net_split_hostport(hostport, false, u->host, u->port) || !u->host[0]) {
			snprintf(err, errsz, "bad HOST:PORT '%s' in URL", hostport);
			return -1;
		}
		alen = (size_t)(colon - hostport);
	} else if (hostport[0] == '[') {
		if (!rb || rb[1] || alen - 2 >= sizeof(u->host) || alen == 2) {
			snprintf(err, errsz, "bad host '%s' in URL", hostport);
			return -1;
		}
		memcpy(u->host, hostport + 1, alen - 2);
		strcpy(u->port, "80");
	} else {
		if (alen >= sizeof(u->host)) {
			snprintf(err, errsz, "bad host '%s' in URL", hostport);
			return -1;
		}
		strcpy(u->host, hostport);
		strcpy(u->port, "80");
	}
	unsigned long port = strtoul(u->port, NULL, 10);
	if (strlen(u->port) > 5 || port == 0 || port > 65535) {
		snprintf(err, errsz, "bad port '%s' in URL", u->port);
		return -1;
	}
	memcpy(u->authority_host, hostport, alen);
	u->authority_host[alen] = '\0';

	/* The rest up to the fragment is the request target. */
	plen = (size_t)(end - slash);
	if (plen + 2 > sizeof(u->path)) {
		snprintf(err, errsz, "URL path longer than %d bytes", LOAD_PATH_MAX - 2);
		return -1;
	}
	u->path[0] = '/';
	memcpy(u->path + (*slash != '/'), slash, plen);
	u->path[plen + (*slash != '/')] = '\0';
	for (const char *p = u->path; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(err, errsz, "URL path contains a blank or control character");
			return -1;
		}
	}
	for (const char *p = u->host; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/' || *p == '[' || *p == ']') {
			snprintf(err, errsz, "bad host '%s' in URL", u->host);
			return -1;
		}
	}
	return 0;
}

int load_url_request(const struct load_url *u, bool close, char *buf, size_t bufsz)
{
	int n = snprintf(buf, bufsz, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", u->path,
			 u->authority_host, close ? "Connection: close\r\n" : "");
	return n < 0 || (size_t)n >= bufsz ? -1 : n;
}
