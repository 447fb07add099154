/* load_engine: meshload's closed-loop HTTP/1.1 client, one epoll loop per
 * thread. Each connection sends the request, reads the whole response, and
 * sends the next; keep-alive, reconnecting when the server closes.
 *
 * Time: everything is CLOCK_MONOTONIC nanoseconds. The measured window is
 * [window_start, window_start + duration) on that clock. It opens when the
 * warm-up is over: at least warmup_ns after start_ns and, with a warm-up,
 * once every connection has had a response (so that at high concurrency no
 * connection's first request, which fills the proxies' pools and does their
 * TLS handshakes, is measured), or warmup_max_ns after start_ns at the
 * latest (a connection that never answers must not hold the run: it shows up
 * as errors in the window). Whichever thread sees that first opens it for all.
 * A request is counted when its last
 * response byte was read inside it, whenever it started. Latency is from just
 * before the request's first byte is written to just after its last response
 * byte is read; with conn_per_request (every request on a new connection, as
 * HTTP/1.0 clients, health checks and reconnecting clients make them), from
 * just before connect() instead, so the handshake and the proxies' work for a
 * new connection count. Errors and reconnects are counted by when they happen: inside
 * the window, or (only as a total) before it.
 *
 * The loop does no allocation and no formatted output per request. */
#ifndef MESHCUT_TESTS_LOAD_ENGINE_H
#define MESHCUT_TESTS_LOAD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "load_hist.h"

enum load_err {
	LOAD_ERR_CONNECT,   /* connect() failed or did not finish within the timeout */
	LOAD_ERR_RESET,     /* read/write error, or EOF in the middle of a response */
	LOAD_ERR_CLOSED,    /* EOF before any byte of the response to a sent request */
	LOAD_ERR_TIMEOUT,   /* no complete response within the timeout */
	LOAD_ERR_STATUS,    /* a complete response whose status is not 2xx */
	LOAD_ERR_MALFORMED, /* unparsable head, chunked, bytes beyond the body, ... */
	LOAD_ERR_KINDS
};
extern const char *const load_err_names[LOAD_ERR_KINDS];

#define LOAD_WINDOW_UNSET UINT64_MAX

/* What every thread shares: read-only while they run, but for the window's
 * opening (window_start, warmed) and what the thread that opened it saw. */
struct load_target {
	struct sockaddr_storage addr; /* where reconnects go (the first connect's peer) */
	socklen_t addrlen;
	const char *request;
	size_t request_len;
	int nconn;                          /* connections, all threads together */
	bool conn_per_request;              /* close after each response, connect anew */
	uint64_t start_ns, warmup_ns, warmup_max_ns, duration_ns, timeout_ns;
	_Atomic uint64_t window_start;      /* LOAD_WINDOW_UNSET until it opens */
	_Atomic int warmed;                 /* connections that have had a response */
	int warmed_at_open;                 /* written once, by the opener */
};

struct load_conn;

struct load_thread {
	/* in */
	struct load_target *tgt;
	struct load_conn *conns;
	int nconn;
	int epfd;
	/* out, valid after load_thread_run */
	struct load_hist hist;  /* latencies of the requests in the window */
	uint64_t requests;      /* complete responses in the window, any status */
	uint64_t errors[LOAD_ERR_KINDS];
	uint64_t reconnects;    /* connections re-established in the window */
	uint64_t pre_requests;  /* the same before the window (warm-up) */
	uint64_t pre_errors;
	uint64_t used;          /* connections with a response in the window */
	uint64_t end_ns;        /* when the loop stopped (>= the window's end) */
	char fatal[128];        /* why the loop gave up early (epoll failed), or "" */
};

uint64_t load_now_ns(void);

/* Prepare t for nconn connections; fds[i] is an already connected socket or -1
 * (to be connected from the loop, after a connect error counted before the
 * window). Takes ownership of the fds. Returns 0, or -1 with errno set. */
int load_thread_init(struct load_thread *t, struct load_target *tgt, const int *fds,
		     int nconn);

/* Run until the window is over; closes every socket. Usable as a pthread start routine. */
void *load_thread_run(void *arg);

/* Frees what init allocated. */
void load_thread_destroy(struct load_thread *t);

#endif
