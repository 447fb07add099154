/* http1: minimal HTTP/1.1 head parser (see http1.h). Strict where a mistake
 * would desynchronise message framing (Content-Length, line structure), lenient
 * elsewhere (bare LF line ends, unknown headers). */
#include "http1.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar: what a method or header name may contain. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool str_ieq(struct http1_str s, const char *lit)
{
	return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

static struct http1_str trim(const char *p, size_t len)
{
	while (len && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	return (struct http1_str){ p, len };
}

/* Next line of buf[*pos..len): sets *line (without CR LF) and advances *pos.
 * Returns 1, or 0 when no full line is there yet. */
static int next_line(const char *buf, size_t len, size_t *pos, struct http1_str *line)
{
	const char *nl = memchr(buf + *pos, '\n', len - *pos);
	size_t n;

	if (!nl)
		return 0;
	n = (size_t)(nl - (buf + *pos));
	line->p = buf + *pos;
	line->len = n && line->p[n - 1] == '\r' ? n - 1 : n;
	*pos += n + 1;
	return 1;
}

/* "HTTP/1.x" -> x, else -1. */
static int parse_version(const char *p, size_t len)
{
	if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
		return -1;
	return p[7] - '0';
}

static int parse_request_line(struct http1_str l, struct http1_msg *m)
{
	const char *sp1 = memchr(l.p, ' ', l.len), *sp2;

	if (!sp1 || sp1 == l.p)
		return -1;
	m->method = (struct http1_str){ l.p, (size_t)(sp1 - l.p) };
	for (size_t i = 0; i < m->method.len; i++)
		if (!is_tchar((unsigned char)l.p[i]))
			return -1;
	sp2 = memchr(sp1 + 1, ' ', l.len - (size_t)(sp1 + 1 - l.p));
	if (!sp2 || sp2 == sp1 + 1)
		return -1;
	m->target = (struct http1_str){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
	for (size_t i = 0; i < m->target.len; i++)
		if ((unsigned char)m->target.p[i] <= ' ' || m->target.p[i] == 0x7f)
			return -1;
	m->minor = parse_version(sp2 + 1, l.len - (size_t)(sp2 + 1 - l.p));
	return m->minor < 0 ? -1 : 0;
}

static int parse_status_line(struct http1_str l, struct http1_msg *m)
{
	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (l.len < 12 || l.p[8] != ' ' || (l.len > 12 && l.p[12] != ' '))
		return -1;
	m->minor = parse_version(l.p, 8);
	if (m->minor < 0)
		return -1;
	m->status = 0;
	for (int i = 9; i < 12; i++) {
		if (l.p[i] < '0' || l.p[i] > '9')
			return -1;
		m->status = m->status * 10 + (l.p[i] - '0');
	}
	return m->status < 100 ? -1 : 0;
}

static int parse_content_length(struct http1_str v, struct http1_msg *m)
{
	int64_t n = 0;

	if (v.len == 0 || v.len > 18) /* 18 digits cannot overflow int64 */
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (v.p[i] - '0');
	}
	/* A repeated header must agree, or the framing is ambiguous (smuggling). */
	if (m->content_length >= 0 && m->content_length != n)
		return -1;
	m->content_length = n;
	return 0;
}

static void parse_connection(struct http1_str v, struct http1_msg *m)
{
	while (v.len) {
		const char *comma = memchr(v.p, ',', v.len);
		size_t n = comma ? (size_t)(comma - v.p) : v.len;
		struct http1_str tok = trim(v.p, n);

		if (str_ieq(tok, "close"))
			m->conn_close = true;
		else if (str_ieq(tok, "keep-alive"))
			m->conn_keep_alive = true;
		v.p += comma ? n + 1 : n;
		v.len -= comma ? n + 1 : n;
	}
}

static int parse_header(struct http1_str l, struct http1_msg *m)
{
	const char *colon = memchr(l.p, ':', l.len);
	struct http1_str name, value;

	if (!colon || colon == l.p)
		return -1; /* also refuses obs-fold continuation lines (leading SP) */
	name = (struct http1_str){ l.p, (size_t)(colon - l.p) };
	for (size_t i = 0; i < name.len; i++)
		if (!is_tchar((unsigned char)name.p[i]))
			return -1;
	value = trim(colon + 1, l.len - name.len - 1);

	if (str_ieq(name, "content-length"))
		return parse_content_length(value, m);
	if (str_ieq(name, "transfer-encoding"))
		m->chunked = true;
	else if (str_ieq(name, "connection"))
		parse_connection(value, m);
	else if (str_ieq(name, "x-trace")) {
		m->has_trace = true;
		m->trace = value;
	}
	return 0;
}

static int parse_head(const char *buf, size_t len, struct http1_msg *m, bool request)
{
	struct http1_str line;
	size_t pos = 0;

	memset(m, 0, sizeof(*m));
	m->content_length = -1;
	if (len > HTTP1_MAX_HEAD)
		len = HTTP1_MAX_HEAD;
	if (!next_line(buf, len, &pos, &line))
		return len == HTTP1_MAX_HEAD ? -1 : 0;
	if ((request ? parse_request_line : parse_status_line)(line, m))
		return -1;
	for (;;) {
		if (!next_line(buf, len, &pos, &line))
			return len == HTTP1_MAX_HEAD ? -1 : 0;
		if (line.len == 0)
			break;
		if (parse_header(line, m))
			return -1;
	}
	/* Both framings at once is a classic smuggling vector: refuse. */
	if (m->chunked && m->content_length >= 0)
		return -1;
	return (int)pos;
}

int http1_parse_request(const char *buf, size_t len, struct http1_msg *m)
{
	return parse_head(buf, len, m, true);
}

int http1_parse_response(const char *buf, size_t len, struct http1_msg *m)
{
	return parse_head(buf, len, m, false);
}

bool http1_keep_alive(const struct http1_msg *m)
{
	if (m->conn_close)
		return false;
	return m->minor >= 1 || m->conn_keep_alive;
}

int http1_query_uint(struct http1_str target, const char *name, uint64_t *val)
{
	const char *q = memchr(target.p, '?', target.len);
	size_t nlen = strlen(name);
	const char *end = target.p + target.len;

	if (!q)
		return 0;
	for (const char *p = q + 1; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pend = amp ? amp : end;

		if ((size_t)(pend - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
			const char *d = p + nlen + 1;
			uint64_t v = 0;
			if (d == pend || pend - d > 18)
				return -1;
			for (; d < pend; d++) {
				if (*d < '0' || *d > '9')
					return -1;
				v = v * 10 + (uint64_t)(*d - '0');
			}
			*val = v;
			return 1;
		}
		p = pend + 1;
	}
	return 0;
}
