/* libmicrohttpd glue shared by the agent's API (agent/api/api.c) and the
 * admission webhook (injector/webhook/server.c): a request body gathered over
 * MHD's calls up to a limit, the one completion callback that frees it, and a
 * reply from a malloc'd text. Each server keeps its own limits and passes
 * them in. Links with $(LDLIBS_HTTP): not in LIB_OBJS (the CLI and
 * meshcut-init do not serve HTTP). */
#ifndef MESHCUT_HTTP_SERVER_H
#define MESHCUT_HTTP_SERVER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct sockaddr_storage;

/* A listen address: "v4:PORT", "[v6]:PORT", "v6:PORT" (no brackets: the last
 * colon ends the address, as a downward-API node IP renders) or ":PORT"
 * (family 0: no address, the caller picks the wildcard). Fills ss (the port
 * in it too) and port; 0, or -1 when it is none of these. */
int mc_http_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned int *port);

/* One request body being received (MHD's *con_cls). buf is NUL-terminated
 * past len once anything arrived. */
struct mc_http_body {
	char *buf;
	size_t len;
	bool too_large;    /* over the server's limit: read on, answer 413 at the end */
	bool over_budget;  /* over the budget of all connections: 503 at the end */
	atomic_size_t *budget_used; /* NULL: no budget across connections */
	size_t budget;
};

/* The first call of a request with a body: a new, empty body in *con_cls.
 * BUDGET_USED (or NULL) counts the body bytes all connections hold, at most
 * BUDGET. What the access handler returns: MHD_YES, or MHD_NO when out of
 * memory (MHD drops the connection). */
enum MHD_Result mc_http_body_start(void **con_cls, atomic_size_t *budget_used, size_t budget);

/* A call with a piece of the body (*UPLOAD_SIZE > 0): taken (and
 * *upload_size zeroed), up to MAX bytes in all; past MAX or the budget it only
 * notes too_large / over_budget (the rest is read and dropped; the server
 * answers at the end). What the access handler returns: MHD_YES, or MHD_NO
 * when out of memory. */
enum MHD_Result mc_http_body_take(struct mc_http_body *b, const char *upload, size_t *upload_size,
				  size_t max);

/* MHD_OPTION_NOTIFY_COMPLETED: frees the body in *con_cls (and gives its bytes
 * back to the budget). cls is not used. */
void mc_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe);

/* Queues TEXT (malloc'd; freed here, also on failure) as the answer: STATUS,
 * Content-Type TYPE, and the header HNAME: HVALUE when HNAME is not NULL.
 * MHD_NO (MHD drops the connection) when TEXT is NULL (out of memory) or the
 * response cannot be made. */
enum MHD_Result mc_http_reply_with(struct MHD_Connection *c, unsigned int status, const char *type,
				   char *text, const char *hname, const char *hvalue);

static inline enum MHD_Result mc_http_reply(struct MHD_Connection *c, unsigned int status,
					    const char *type, char *text)
{
	return mc_http_reply_with(c, status, type, text, NULL, NULL);
}

#endif
