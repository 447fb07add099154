/* stream_service: the server side of the byte-stream integrity tests (see
 * stream_service.h). Each function serves one connection on a blocking socket;
 * meshapp runs it in a thread per connection. */
#include "stream_service.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "applog.h"
#include "net.h"
#include "stream_data.h"

#define LINE_MAX_LEN 256
#define IO_BUF (256 * 1024)

/* A connection whose first read may have fetched bytes past the command line:
 * those are handed out before the socket is read again. */
struct sconn {
	int fd;
	char line[LINE_MAX_LEN];
	size_t extra_off, extra_len; /* unread bytes left in line[] */
	bool strict;                 /* ECHO STRICT: EAGAIN is an error */
};

static ssize_t sc_read(struct sconn *c, void *buf, size_t n)
{
	if (c->extra_len) {
		size_t k = n < c->extra_len ? n : c->extra_len;
		memcpy(buf, c->line + c->extra_off, k);
		c->extra_off += k;
		c->extra_len -= k;
		return (ssize_t)k;
	}
	for (;;) {
		ssize_t r = read(c->fd, buf, n);
		if (r >= 0 || (errno != EINTR && (errno != EAGAIN || c->strict)))
			return r;
		if (errno == EAGAIN) { /* woken without data (see the header) */
			struct pollfd p = {.fd = c->fd, .events = POLLIN};

			poll(&p, 1, 100);
		}
	}
}

/* Read exactly n bytes; returns how many arrived before EOF, or -1. */
static ssize_t sc_read_full(struct sconn *c, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = sc_read(c, (char *)buf + got, n - got);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void reply(struct sconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct sconn *c, const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && net_write_all(c->fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1))
		applog("stream: reply: %s", strerror(errno));
}

/* Reading errors from a client that went away are its business, not ours;
 * anything else is worth a line in the log. */
static void io_error(const char *what)
{
	if (errno != ECONNRESET && errno != EPIPE)
		applog("stream: %s: %s", what, strerror(errno));
}

/* Wait for the client's FIN so that our close never resets data in flight. */
static void drain_to_eof(struct sconn *c)
{
	char buf[4096];
	while (sc_read(c, buf, sizeof(buf)) > 0)
		;
}

static void serve_echo(struct sconn *c)
{
	char *buf = malloc(IO_BUF);
	ssize_t r;

	if (!buf)
		return;
	while ((r = sc_read(c, buf, IO_BUF)) > 0)
		if (net_write_all(c->fd, buf, (size_t)r)) {
			io_error("echo write");
			break;
		}
	if (r < 0)
		io_error("echo read");
	shutdown(c->fd, SHUT_WR);
	free(buf);
}

static void serve_sink(struct sconn *c, uint64_t nbytes, uint64_t seed)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(IO_BUF);
	uint64_t off = 0;
	int64_t bad = -1;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		reply(c, "ERR out of memory\n");
		goto out;
	}
	/* Read everything even after a mismatch: closing with unread data would
	 * reset the connection and the client could lose our answer. */
	while (off < nbytes) {
		size_t want = nbytes - off < IO_BUF ? (size_t)(nbytes - off) : IO_BUF;
		ssize_t r = sc_read(c, buf, want);
		if (r < 0) {
			io_error("sink read");
			goto out;
		}
		if (r == 0)
			break;
		if (bad < 0)
			bad = stream_verify(seed, off, buf, (size_t)r);
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		off += (uint64_t)r;
	}
	if (bad < 0 && off < nbytes)
		bad = (int64_t)off; /* short stream: the first missing byte */
	if (bad >= 0) {
		reply(c, "BAD %" PRId64 "\n", bad);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	reply(c, "OK %s\n", hex);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
}

static void serve_source(struct sconn *c, uint64_t seed, uint64_t nbytes, uint64_t minmsg,
			 uint64_t maxmsg, uint64_t sizeseed)
{
	struct size_rng rng;
	char *buf = malloc(maxmsg);
	uint64_t off = 0;

	if (!buf) {
		reply(c, "ERR out of memory\n");
		return;
	}
	size_rng_init(&rng, sizeseed);
	while (off < nbytes) {
		uint64_t n = size_rng_range(&rng, minmsg, maxmsg);
		if (n > nbytes - off)
			n = nbytes - off;
		stream_fill(seed, off, buf, n);
		/* One write() per message: on a blocking socket it returns only when
		 * all of it is queued, so the message boundaries are the chosen ones. */
		if (net_write_all(c->fd, buf, n)) {
			io_error("source write");
			free(buf);
			return;
		}
		off += n;
	}
	free(buf);
	shutdown(c->fd, SHUT_WR);
	drain_to_eof(c);
}

static void serve_rr(struct sconn *c, uint64_t size)
{
	char *buf = malloc(size);
	ssize_t r;

	if (!buf) {
		reply(c, "ERR out of memory\n");
		return;
	}
	while ((r = sc_read_full(c, buf, size)) == (ssize_t)size)
		if (net_write_all(c->fd, buf, size)) {
			io_error("rr write");
			break;
		}
	if (r < 0)
		io_error("rr read");
	free(buf);
}

/* Parse up to `max` decimal numbers separated by single spaces after the
 * command word. Returns how many were read, -1 on garbage. */
static int parse_args(const char *s, uint64_t *v, int max)
{
	int n = 0;

	while (*s == ' ' && n < max) {
		char *end;
		if (s[1] < '0' || s[1] > '9')
			return -1;
		errno = 0;
		v[n++] = strtoull(s + 1, &end, 10);
		if (errno)
			return -1;
		s = end;
	}
	return *s ? -1 : n;
}

void stream_service_serve(int fd)
{
	struct sconn c = { .fd = fd };
	size_t have = 0;
	char *nl = NULL;
	uint64_t v[5];

	/* Read the command line; bytes after it belong to the data stream. */
	while (!nl && have < sizeof(c.line) - 1) {
		ssize_t r = read(fd, c.line + have, sizeof(c.line) - 1 - have);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			goto out;
		}
		nl = memchr(c.line + have, '\n', (size_t)r);
		have += (size_t)r;
	}
	if (!nl) {
		reply(&c, "ERR command line too long\n");
		goto out;
	}
	*nl = '\0';
	if (nl > c.line && nl[-1] == '\r')
		nl[-1] = '\0'; /* tolerate CR LF from people typing into nc */
	c.extra_off = (size_t)(nl + 1 - c.line);
	c.extra_len = have - c.extra_off;

	if (strcmp(c.line, "ECHO") == 0 || strcmp(c.line, "ECHO STRICT") == 0) {
		c.strict = strcmp(c.line, "ECHO STRICT") == 0;
		serve_echo(&c);
	} else if (strncmp(c.line, "SINK", 4) == 0 && parse_args(c.line + 4, v, 2) == 2) {
		serve_sink(&c, v[0], v[1]);
	} else if (strncmp(c.line, "SOURCE", 6) == 0 && parse_args(c.line + 6, v, 5) == 5) {
		if (v[2] < 1 || v[2] > v[3] || v[3] > STREAM_MAX_MSG)
			reply(&c, "ERR need 1 <= minmsg <= maxmsg <= %u\n", STREAM_MAX_MSG);
		else
			serve_source(&c, v[0], v[1], v[2], v[3], v[4]);
	} else if (strncmp(c.line, "RR", 2) == 0 && parse_args(c.line + 2, v, 1) == 1) {
		if (v[0] < 1 || v[0] > STREAM_MAX_MSG)
			reply(&c, "ERR need 1 <= size <= %u\n", STREAM_MAX_MSG);
		else
			serve_rr(&c, v[0]);
	} else {
		reply(&c, "ERR unknown command (ECHO [STRICT], SINK n seed, SOURCE seed n min max sizeseed, RR size)\n");
	}
out:
	close(fd);
}
