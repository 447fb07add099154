/* libmicrohttpd glue shared by the agent's API and the webhook: see http_server.h. */
#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int mc_http_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned int *port)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	unsigned long p;
	size_t hlen;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!colon || !colon[1])
		return -1;
	p = strtoul(colon + 1, &end, 10);
	if (*end || p > 65535)
		return -1;
	*port = (unsigned int)p;
	hlen = (size_t)(colon - s);
	if (hlen == 0)
		return 0;
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		memmove(host, host + 1, hlen - 1);
	} else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
		return -1;
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons((uint16_t)p);
	return 0;
}

enum MHD_Result mc_http_body_start(void **con_cls, atomic_size_t *budget_used, size_t budget)
{
	struct mc_http_body *b = calloc(1, sizeof(*b));

	if (!b)
		return MHD_NO;
	b->budget_used = budget_used;
	b->budget = budget;
	*con_cls = b;
	return MHD_YES;
}

static int body_add(struct mc_http_body *b, const char *data, size_t n, size_t max)
{
	char *p;

	if (b->too_large || b->over_budget)
		return 0; /* read on, answer at the end */
	if (b->len + n > max) {
		b->too_large = true; /* chunked body: read on, answer 413 at the end */
		return 0;
	}
	if (b->budget_used && atomic_fetch_add(b->budget_used, n) + n > b->budget) {
		b->over_budget = true; /* give back what it holds: 503 at the end */
		atomic_fetch_sub(b->budget_used, n + b->len);
		free(b->buf);
		b->buf = NULL;
		b->len = 0;
		return 0;
	}
	p = realloc(b->buf, b->len + n + 1);
	if (!p) {
		if (b->budget_used)
			atomic_fetch_sub(b->budget_used, n);
		return -1;
	}
	memcpy(p + b->len, data, n);
	b->buf = p;
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

enum MHD_Result mc_http_body_take(struct mc_http_body *b, const char *upload, size_t *upload_size,
				  size_t max)
{
	size_t n = *upload_size;

	*upload_size = 0;
	return body_add(b, upload, n, max) ? MHD_NO : MHD_YES;
}

void mc_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe)
{
	struct mc_http_body *b = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (b) {
		if (b->budget_used)
			atomic_fetch_sub(b->budget_used, b->len);
		free(b->buf);
		free(b);
	}
	*con_cls = NULL;
}

enum MHD_Result mc_http_reply_with(struct MHD_Connection *c, unsigned int status, const char *type,
				   char *text, const char *hname, const char *hvalue)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (hname)
		MHD_add_response_header(r, hname, hvalue);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}
