/* http1: a minimal HTTP/1.1 message-head parser for the test services.
 *
 * It parses only what meshapp needs: the request line or status line and the
 * headers that frame a message (Content-Length, Transfer-Encoding, Connection)
 * plus X-Trace. It never copies: results point into the caller's buffer, and
 * the caller simply calls again with more bytes when the head is incomplete.
 */
#ifndef MESHCUT_TESTS_HTTP1_H
#define MESHCUT_TESTS_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A head bigger than this is refused: the services never send one. */
#define HTTP1_MAX_HEAD (64 * 1024)

struct http1_str {
	const char *p;
	size_t len;
};

struct http1_msg {
	struct http1_str method, target; /* requests */
	int status;                       /* responses */
	int minor;                        /* HTTP/1.<minor> */
	int64_t content_length;           /* -1: no Content-Length header */
	bool chunked;                     /* Transfer-Encoding present (any coding) */
	bool conn_close, conn_keep_alive; /* Connection header tokens */
	bool has_trace;
	struct http1_str trace;           /* X-Trace value */
};

/* Parse the head of a request / response at buf[0..len).
 * Returns the head length in bytes (start line + headers + blank line) when
 * complete, 0 when more bytes are needed, -1 when the input is invalid (also
 * when the head would exceed HTTP1_MAX_HEAD). */
int http1_parse_request(const char *buf, size_t len, struct http1_msg *m);
int http1_parse_response(const char *buf, size_t len, struct http1_msg *m);

/* Whether the connection stays open after this message: HTTP/1.1 unless
 * "Connection: close", HTTP/1.0 only with "Connection: keep-alive". */
bool http1_keep_alive(const struct http1_msg *m);

/* Find `name`=<decimal> in the query part of a request target.
 * Returns 1 and sets *val when found, 0 when absent, -1 when the value is not
 * a decimal number below 2^63. */
int http1_query_uint(struct http1_str target, const char *name, uint64_t *val);

#endif
