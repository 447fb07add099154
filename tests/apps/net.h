/* net: the few socket helpers meshapp and meshstream share: address parsing,
 * listen/connect with the options every test socket wants, and read/write
 * loops that hide short reads and writes. */
#ifndef MESHCUT_TESTS_NET_H
#define MESHCUT_TESTS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NET_HOST_MAX 256
#define NET_PORT_MAX 16

/* Split "HOST:PORT", "[V6]:PORT" or (when port_only_ok) a bare "PORT" (host
 * becomes ""). Returns 0, or -1 when the text is malformed or too long. */
int net_split_hostport(const char *s, bool port_only_ok, char *host, char *port);

/* A listening TCP socket with SO_REUSEADDR. An empty host means every address:
 * 0.0.0.0, or with ipv6 "::" accepting v4-mapped clients too (IPV6_V6ONLY=0).
 * Returns the fd, or -1 with a message in err. */
int net_listen(const char *host, const char *port, bool ipv6, char *err, size_t errsz);

/* A connected TCP socket with TCP_NODELAY, trying every resolved address.
 * Returns the fd, or -1 with a message in err. */
int net_connect(const char *host, const char *port, char *err, size_t errsz);

/* TCP_NODELAY: the services are request/response, Nagle only adds latency. */
void net_nodelay(int fd);

/* "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of the socket's local end. */
void net_local_name(int fd, char *buf, size_t bufsz);

/* Read until n bytes or EOF. Returns the byte count (< n only at EOF) or -1. */
ssize_t net_read_full(int fd, void *buf, size_t n);

/* Write all n bytes. Returns 0 or -1 (errno set). */
int net_write_all(int fd, const void *buf, size_t n);

/* Write every iovec (the array is consumed). Returns 0 or -1 (errno set). */
int net_writev_all(int fd, struct iovec *iov, int cnt);

#endif
