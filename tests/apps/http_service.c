/* http_service: meshapp's HTTP/1.1 request handling and upstream calls (see
 * http_service.h). One thread runs one client connection; it owns its own
 * keep-alive connections to the upstreams, so nothing here is shared or locked. */
#include "http_service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "applog.h"
#include "http1.h"

/* The body is 'a' + (i % 26). A block whose length is a multiple of 26 can be
 * repeated back to back, so any body is a few iovecs pointing at one buffer. */
#define PATTERN_LEN (26u * 40330u) /* ~1 MiB: 64 MiB is 65 iovecs */
#define MAX_IOV ((HTTP_MAX_BODY + PATTERN_LEN - 1) / PATTERN_LEN + 2) /* + head, text */

static const struct http_config *cfg;
static char *pattern;

/* A growable string for X-Trace values and response heads. */
struct strbuf {
	char *p;
	size_t len, cap;
};

static int sb_append(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		while (cap < sb->len + n + 1)
			cap *= 2;
		char *p = realloc(sb->p, cap);
		if (!p)
			return -1;
		sb->p = p;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
	return 0;
}

static int sb_puts(struct strbuf *sb, const char *s)
{
	return sb_append(sb, s, strlen(s));
}

struct conn {
	int fd;
	bool oom;      /* a strbuf could not grow: answer 500 */
	bool head_req; /* HEAD: the answer has a Content-Length but no body */
	char in[HTTP1_MAX_HEAD]; /* client bytes: request heads, pipelined ones too */
	size_t in_len;
	char up[HTTP1_MAX_HEAD]; /* upstream response head (+ body bytes, dropped) */
	struct strbuf trace, head;
	char err[512];           /* why the last upstream call failed */
	int upfd[];              /* per upstream, -1 when not connected */
};

int http_service_init(const struct http_config *c)
{
	cfg = c;
	pattern = malloc(PATTERN_LEN);
	if (!pattern)
		return -1;
	for (size_t i = 0; i < PATTERN_LEN; i++)
		pattern[i] = (char)('a' + i % 26);
	return 0;
}

static void up_close(struct conn *c, int i)
{
	if (c->upfd[i] >= 0)
		close(c->upfd[i]);
	c->upfd[i] = -1;
}

/* Read and drop n bytes from fd using buf as scratch. */
static int discard(int fd, char *buf, size_t bufsz, uint64_t n)
{
	while (n) {
		ssize_t r = read(fd, buf, n < bufsz ? (size_t)n : bufsz);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n -= (uint64_t)r;
	}
	return 0;
}

enum up_result { UP_OK, UP_HTTP_ERROR, UP_IO_ERROR };

/* One request/response on the (connected) upstream i. On UP_OK and
 * UP_HTTP_ERROR the trace element has been appended to c->trace. */
static enum up_result up_exchange(struct conn *c, int i)
{
	const struct http_upstream *u = &cfg->up[i];
	int fd = c->upfd[i];
	struct http1_msg m;
	size_t len = 0;
	int hl = 0;

	if (net_write_all(fd, u->request, u->request_len)) {
		snprintf(c->err, sizeof(c->err), "send: %s", strerror(errno));
		return UP_IO_ERROR;
	}
	while (hl == 0) {
		ssize_t r = read(fd, c->up + len, sizeof(c->up) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(c->err, sizeof(c->err), "receive: %s",
				 r ? strerror(errno) : len ? "truncated response head" : "connection closed");
			return UP_IO_ERROR;
		}
		len += (size_t)r;
		hl = http1_parse_response(c->up, len, &m);
	}
	if (hl < 0) {
		snprintf(c->err, sizeof(c->err), "invalid response head");
		return UP_IO_ERROR;
	}
	if (m.status < 200 || m.status == 204 || m.status == 304)
		m.content_length = 0; /* bodiless by definition (RFC 9112 6.3) */
	if (m.chunked) {
		snprintf(c->err, sizeof(c->err), "chunked responses are not supported");
		return UP_IO_ERROR;
	}

	/* Copy the trace out before the body overwrites the buffer. */
	size_t mark = c->trace.len;
	bool ok = m.status == 200;
	if (m.has_trace)
		c->oom |= sb_append(&c->trace, m.trace.p, m.trace.len) != 0;
	else /* not one of ours (e.g. the proxy's own error page): blame the hop */
		c->oom |= (ok ? sb_puts(&c->trace, u->spec)
			      : sb_puts(&c->trace, "!") || sb_puts(&c->trace, u->spec)) != 0;

	size_t have = len - (size_t)hl;
	if (m.content_length >= 0) {
		if (have > (uint64_t)m.content_length) {
			snprintf(c->err, sizeof(c->err), "%zu unexpected bytes after the response",
				 have - (size_t)m.content_length);
			goto io_error;
		}
		if (discard(fd, c->up, sizeof(c->up), (uint64_t)m.content_length - have)) {
			snprintf(c->err, sizeof(c->err), "truncated response body");
			goto io_error;
		}
		if (!http1_keep_alive(&m))
			up_close(c, i);
	} else {
		/* No length: the body runs to EOF (RFC 9112 6.3). */
		ssize_t r;
		while ((r = read(fd, c->up, sizeof(c->up))) > 0 || (r < 0 && errno == EINTR))
			;
		up_close(c, i);
	}
	if (!ok)
		snprintf(c->err, sizeof(c->err), "HTTP %d", m.status);
	return ok ? UP_OK : UP_HTTP_ERROR;
io_error:
	c->trace.len = mark; /* this attempt leaves no trace element */
	if (c->trace.p)
		c->trace.p[mark] = '\0';
	return UP_IO_ERROR;
}

/* Call upstream i, reconnecting once: a kept-alive connection may have been
 * closed by the other side since the last request. Returns 0 on success. */
static int up_call(struct conn *c, int i)
{
	const struct http_upstream *u = &cfg->up[i];
	enum up_result r = UP_IO_ERROR;

	for (int attempt = 0; attempt < 2 && r == UP_IO_ERROR; attempt++) {
		if (c->upfd[i] < 0)
			c->upfd[i] = net_connect(u->host, u->port, c->err, sizeof(c->err));
		if (c->upfd[i] < 0)
			continue;
		r = up_exchange(c, i);
		if (r == UP_IO_ERROR)
			up_close(c, i);
	}
	if (r == UP_IO_ERROR) {
		c->oom |= sb_puts(&c->trace, "!") || sb_puts(&c->trace, u->spec);
		applog("upstream %s: %s", u->spec, c->err);
	}
	return r == UP_OK ? 0 : -1;
}

/* Fill c->trace for this request; returns 0 when every upstream answered 200. */
static int call_upstreams(struct conn *c)
{
	c->trace.len = 0;
	c->oom |= sb_puts(&c->trace, cfg->name) != 0;
	if (cfg->nup == 0)
		return 0;
	for (int i = 0; i < cfg->nup; i++) {
		c->oom |= sb_puts(&c->trace, i ? "," : "(") != 0;
		if (up_call(c, i)) { /* stop at the first failure: later hops are moot */
			c->oom |= sb_puts(&c->trace, ")") != 0;
			return -1;
		}
	}
	c->oom |= sb_puts(&c->trace, ")") != 0;
	return 0;
}

/* Answer with either `text` or, when text is NULL, body_len pattern bytes.
 * Head and body go out in one writev(). */
static int respond(struct conn *c, const char *status, uint64_t body_len, const char *text,
		   bool close_after)
{
	struct iovec iov[MAX_IOV];
	char line[128];
	int n = 0;

	if (text)
		body_len = strlen(text);
	c->head.len = 0;
	snprintf(line, sizeof(line), "HTTP/1.1 %s\r\nContent-Length: %llu\r\nX-Trace: ", status,
		 (unsigned long long)body_len);
	if (sb_puts(&c->head, line) || sb_append(&c->head, c->trace.p, c->trace.len) ||
	    sb_puts(&c->head, close_after ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n"))
		return -1;
	iov[n++] = (struct iovec){ c->head.p, c->head.len };
	if (c->head_req) {
		/* HEAD: same head, no body */
	} else if (text) {
		iov[n++] = (struct iovec){ (void *)text, body_len };
	} else {
		for (uint64_t left = body_len; left; n++) {
			size_t k = left < PATTERN_LEN ? (size_t)left : PATTERN_LEN;
			iov[n] = (struct iovec){ pattern, k };
			left -= k;
		}
	}
	return net_writev_all(c->fd, iov, n);
}

static void pause_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Serve one parsed request. Returns 0 to keep the connection, -1 to close. */
static int handle(struct conn *c, const struct http1_msg *req)
{
	bool keep = http1_keep_alive(req);
	uint64_t size = cfg->body;
	int q = http1_query_uint(req->target, "size", &size);
	char text[sizeof(c->err) + 128];

	c->head_req = req->method.len == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
	if (q < 0 || size > HTTP_MAX_BODY) {
		c->trace.len = 0;
		c->oom |= sb_puts(&c->trace, cfg->name) != 0;
		snprintf(text, sizeof(text), "size must be a number <= %u\n", HTTP_MAX_BODY);
		return respond(c, "400 Bad Request", 0, text, !keep) || !keep ? -1 : 0;
	}
	if (call_upstreams(c)) {
		snprintf(text, sizeof(text), "%s: upstream failed: %s\n", cfg->name, c->err);
		return respond(c, "502 Bad Gateway", 0, text, !keep) || !keep ? -1 : 0;
	}
	if (c->oom) {
		c->oom = false;
		return respond(c, "500 Internal Server Error", 0, "out of memory\n", !keep) || !keep
			       ? -1 : 0;
	}
	if (cfg->delay_us)
		pause_us(cfg->delay_us);
	return respond(c, "200 OK", size, NULL, !keep) || !keep ? -1 : 0;
}

/* Refuse a request we cannot frame and close: the rest of the stream is garbage. */
static void bad_request(struct conn *c, const char *why)
{
	c->head_req = false;
	c->trace.len = 0;
	if (sb_puts(&c->trace, cfg->name) == 0)
		respond(c, "400 Bad Request", 0, why, true);
}

void http_service_serve(int fd)
{
	struct conn *c = calloc(1, sizeof(*c) + (size_t)cfg->nup * sizeof(int));
	struct http1_msg req;

	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	for (int i = 0; i < cfg->nup; i++)
		c->upfd[i] = -1;

	for (;;) {
		int hl = http1_parse_request(c->in, c->in_len, &req);
		if (hl == 0) {
			ssize_t r = read(fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) /* client closed (or reset): normal end */
				break;
			c->in_len += (size_t)r;
			continue;
		}
		if (hl < 0) {
			bad_request(c, "malformed request head\n");
			break;
		}
		if (req.chunked) {
			bad_request(c, "chunked request bodies are not supported\n");
			break;
		}
		/* Drop the request body: first what is buffered, then from the socket. */
		uint64_t body = req.content_length > 0 ? (uint64_t)req.content_length : 0;
		size_t used = (size_t)hl + (body < c->in_len - (size_t)hl ? (size_t)body
									 : c->in_len - (size_t)hl);
		uint64_t rest = (uint64_t)hl + body - used;
		/* Handle before shifting: req points into c->in. */
		int rc = rest ? discard(fd, c->up, sizeof(c->up), rest) : 0;
		if (rc == 0)
			rc = handle(c, &req);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (rc)
			break;
	}
	for (int i = 0; i < cfg->nup; i++)
		up_close(c, i);
	free(c->trace.p);
	free(c->head.p);
	free(c);
	close(fd);
}
