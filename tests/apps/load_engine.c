/* load_engine: meshload's per-thread closed-loop HTTP/1.1 client (see
 * load_engine.h).
 *
 * Epoll is level-triggered and a connection waits for EPOLLIN only, except
 * while connecting or when a request could not be written at once (EPOLLOUT).
 * In the steady state a request costs one epoll_wait (shared by every ready
 * connection), one read, one write and two clock_gettime (vDSO): a response
 * that arrives whole is read with one read() because a read shorter than the
 * buffer means the socket is drained, so no read ends in EAGAIN.
 *
 * Timeouts and reconnect back-off are checked by a scan of the thread's
 * connections every tick (10 ms, less for a shorter --timeout), so they fire
 * up to a tick late; that costs nothing per request. */
#include "load_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "http1.h"
#include "net.h"

#define BUF_SIZE HTTP1_MAX_HEAD        /* a head must fit; bodies are read through it */
#define TICK_NS 10000000ull            /* timeout / back-off scan period */
#define MIN_TICK_NS 1000000ull
#define BACKOFF_NS 10000000ull         /* after a failed connect */
#define MAX_EVENTS 256

const char *const load_err_names[LOAD_ERR_KINDS] = {
	[LOAD_ERR_CONNECT] = "connect", [LOAD_ERR_RESET] = "reset",
	[LOAD_ERR_CLOSED] = "closed",   [LOAD_ERR_TIMEOUT] = "timeout",
	[LOAD_ERR_STATUS] = "status",   [LOAD_ERR_MALFORMED] = "malformed",
};

enum cstate {
	CS_BACKOFF,    /* no socket; connect again at t + BACKOFF_NS */
	CS_CONNECTING, /* non-blocking connect in progress since t */
	CS_SENDING,    /* request started at t, not all written yet */
	CS_HEAD,       /* request written, response head not complete */
	CS_BODY,       /* head parsed, body_left bytes (or until EOF) to go */
	CS_DONE,       /* the window is over and its last request completed */
};

struct load_conn {
	int fd;
	uint8_t state;
	bool epollout;  /* EPOLLOUT is in the registered events */
	bool ever;      /* this slot has been connected before: next time is a reconnect */
	bool used;      /* completed a request in the window */
	bool warm;      /* has had a response (counted in tgt->warmed) */
	bool keep_alive, until_eof;
	int status;
	uint64_t t;     /* start of the current state (see enum cstate) */
	uint64_t began; /* the current request's clock: its send, or its connect */
	size_t sent;    /* request bytes written */
	size_t len;     /* response head bytes in buf */
	uint64_t body_left;
	char buf[BUF_SIZE];
};

uint64_t load_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int load_thread_init(struct load_thread *t, struct load_target *tgt, const int *fds,
		     int nconn)
{
	memset(t, 0, sizeof(*t));
	load_hist_init(&t->hist);
	t->tgt = tgt;
	t->nconn = nconn;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -1;
	/* One block; its pages are only touched as far as responses reach. */
	t->conns = calloc((size_t)nconn, sizeof(struct load_conn));
	if (!t->conns) {
		close(t->epfd);
		return -1;
	}
	for (int i = 0; i < nconn; i++) {
		struct load_conn *c = &t->conns[i];
		c->fd = fds[i];
		c->ever = fds[i] >= 0;
		c->state = CS_BACKOFF;
		if (c->fd >= 0) {
			int fl = fcntl(c->fd, F_GETFL);
			if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
				return -1; /* the caller destroys: fds are ours now */
		}
	}
	return 0;
}

void load_thread_destroy(struct load_thread *t)
{
	if (t->conns) {
		for (int i = 0; i < t->nconn; i++)
			if (t->conns[i].fd >= 0)
				close(t->conns[i].fd);
		free(t->conns);
		t->conns = NULL;
	}
	if (t->epfd >= 0)
		close(t->epfd);
	t->epfd = -1;
}

/* ---- accounting: by the time something happened ---- */

static inline uint64_t window_start(const struct load_target *tgt)
{
	return atomic_load_explicit(&tgt->window_start, memory_order_acquire);
}

static inline bool before_window(const struct load_thread *t, uint64_t now)
{
	uint64_t s = window_start(t->tgt);

	return s == LOAD_WINDOW_UNSET || now < s;
}

/* the window is over (and so it was open) */
static inline bool after_window(const struct load_thread *t, uint64_t now)
{
	uint64_t s = window_start(t->tgt);

	return s != LOAD_WINDOW_UNSET && now >= s + t->tgt->duration_ns;
}

static inline bool in_window(const struct load_thread *t, uint64_t now)
{
	return !before_window(t, now) && !after_window(t, now);
}

/* Open the window at `now` if the warm-up is over (see load_engine.h). */
static void maybe_open_window(struct load_thread *t, uint64_t now)
{
	struct load_target *tgt = t->tgt;
	uint64_t unset = LOAD_WINDOW_UNSET;
	int warmed;

	if (window_start(tgt) != LOAD_WINDOW_UNSET || now < tgt->start_ns + tgt->warmup_ns)
		return;
	warmed = atomic_load_explicit(&tgt->warmed, memory_order_relaxed);
	if (tgt->warmup_ns && warmed < tgt->nconn &&
	    now < tgt->start_ns + tgt->warmup_max_ns)
		return;
	if (atomic_compare_exchange_strong(&tgt->window_start, &unset, now))
		tgt->warmed_at_open = warmed;
}

static void count_error(struct load_thread *t, enum load_err kind, uint64_t now)
{
	if (in_window(t, now))
		t->errors[kind]++;
	else if (before_window(t, now))
		t->pre_errors++;
}

/* ---- connection life cycle ---- */

static void start_connect(struct load_thread *t, struct load_conn *c, uint64_t now);
static void send_request(struct load_thread *t, struct load_conn *c);

static int watch(struct load_thread *t, struct load_conn *c, int op, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	c->epollout = out;
	return epoll_ctl(t->epfd, op, c->fd, &ev);
}

static void drop(struct load_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
}

/* The request on c failed: count it, close, and connect again (at once, or
 * after a back-off when connecting was what failed). */
static void fail(struct load_thread *t, struct load_conn *c, enum load_err kind, uint64_t now)
{
	count_error(t, kind, now);
	drop(c);
	if (after_window(t, now)) {
		c->state = CS_DONE; /* draining: no new connection */
		return;
	}
	if (kind == LOAD_ERR_CONNECT) {
		c->state = CS_BACKOFF;
		c->t = now;
	} else {
		start_connect(t, c, now);
	}
}

static void connected(struct load_thread *t, struct load_conn *c, uint64_t now)
{
	if (c->ever && in_window(t, now))
		t->reconnects++;
	c->ever = true;
	send_request(t, c);
}

static void start_connect(struct load_thread *t, struct load_conn *c, uint64_t now)
{
	const struct load_target *tgt = t->tgt;

	c->fd = socket(tgt->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(t, c, LOAD_ERR_CONNECT, now);
		return;
	}
	net_nodelay(c->fd);
	c->state = CS_CONNECTING;
	c->t = now;
	c->began = now;
	/* Even a connect that succeeds at once is finished from the loop (the socket
	 * is writable): sending from here could fail, reconnect and recurse. */
	int rc = connect(c->fd, (const struct sockaddr *)&tgt->addr, tgt->addrlen);
	if ((rc && errno != EINPROGRESS) || watch(t, c, EPOLL_CTL_ADD, true))
		fail(t, c, LOAD_ERR_CONNECT, now);
}

static void finish_connect(struct load_thread *t, struct load_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	uint64_t now = load_now_ns();

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		fail(t, c, LOAD_ERR_CONNECT, now);
		return;
	}
	connected(t, c, now);
}

/* Write what is left of the request; EPOLLOUT while it does not all fit. */
static void write_request(struct load_thread *t, struct load_conn *c)
{
	const struct load_target *tgt = t->tgt;

	while (c->sent < tgt->request_len) {
		ssize_t w = send(c->fd, tgt->request + c->sent, tgt->request_len - c->sent,
				 MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->epollout && watch(t, c, EPOLL_CTL_MOD, true))
					fail(t, c, LOAD_ERR_RESET, load_now_ns());
				return;
			}
			fail(t, c, LOAD_ERR_RESET, load_now_ns());
			return;
		}
		c->sent += (size_t)w;
	}
	if (c->state == CS_SENDING)
		c->state = CS_HEAD;
	if (c->epollout && watch(t, c, EPOLL_CTL_MOD, false))
		fail(t, c, LOAD_ERR_RESET, load_now_ns());
}

static void send_request(struct load_thread *t, struct load_conn *c)
{
	c->state = CS_SENDING;
	c->sent = 0;
	c->len = 0;
	c->until_eof = false;
	c->t = load_now_ns(); /* just before the first byte goes out */
	/* a connection made before the run (the first request) has no connect
	 * to time: its request counts from its send in both modes */
	if (!t->tgt->conn_per_request || !c->began)
		c->began = c->t;
	write_request(t, c);
}

/* The response to c's request is complete at `now`. */
static void complete(struct load_thread *t, struct load_conn *c, uint64_t now)
{
	bool ok = c->status >= 200 && c->status < 300;

	if (!c->warm) {
		c->warm = true;
		atomic_fetch_add_explicit(&t->tgt->warmed, 1, memory_order_relaxed);
	}
	if (in_window(t, now)) {
		load_hist_record(&t->hist, now - c->began);
		t->requests++;
		if (!ok)
			t->errors[LOAD_ERR_STATUS]++;
		if (!c->used) {
			c->used = true;
			t->used++;
		}
	} else if (before_window(t, now)) {
		t->pre_requests++;
		t->pre_errors += !ok;
	}
	/* After the window no new request starts: the connection is closed only
	 * once idle, so no response is ever left in flight (a server or proxy
	 * would otherwise write it into a closed socket). */
	if (after_window(t, now)) {
		c->state = CS_DONE;
		return;
	}
	/* Answered before it had all of our request: the rest would be garbage. */
	if (c->keep_alive && !c->until_eof && c->sent == t->tgt->request_len &&
	    !t->tgt->conn_per_request) {
		send_request(t, c);
	} else {
		drop(c);
		start_connect(t, c, now);
	}
}

/* Parse the head in c->buf. Returns 1 when the response is complete, 0 when
 * more bytes are needed, -1 after a failure (already handled). */
static int got_head_bytes(struct load_thread *t, struct load_conn *c, uint64_t now)
{
	struct http1_msg m;
	int hl;

	for (;;) {
		hl = http1_parse_response(c->buf, c->len, &m);
		if (hl == 0)
			return 0;
		if (hl < 0 || m.status == 101) {
			fail(t, c, LOAD_ERR_MALFORMED, now);
			return -1;
		}
		if (m.status >= 200)
			break;
		/* 1xx interim response: no body, the real one follows. */
		memmove(c->buf, c->buf + hl, c->len - (size_t)hl);
		c->len -= (size_t)hl;
	}
	if (m.chunked) { /* not supported: count, do not guess */
		fail(t, c, LOAD_ERR_MALFORMED, now);
		return -1;
	}
	c->status = m.status;
	c->keep_alive = http1_keep_alive(&m);
	int64_t cl = m.content_length;
	if (m.status == 204 || m.status == 304)
		cl = 0;
	size_t extra = c->len - (size_t)hl;
	c->state = CS_BODY;
	if (cl < 0) { /* delimited by the server closing */
		c->until_eof = true;
		c->keep_alive = false;
		return 0;
	}
	if (extra > (uint64_t)cl) { /* we never pipeline: nothing may follow */
		fail(t, c, LOAD_ERR_MALFORMED, now);
		return -1;
	}
	c->body_left = (uint64_t)cl - extra;
	return c->body_left == 0;
}

static void on_readable(struct load_thread *t, struct load_conn *c)
{
	for (;;) {
		bool body = c->state == CS_BODY;
		char *dst = body ? c->buf : c->buf + c->len;
		size_t room = body ? BUF_SIZE : BUF_SIZE - c->len;
		ssize_t r;
		uint64_t now;
		int rc;

		if (room == 0) { /* cannot happen: http1 refuses a head this big first */
			fail(t, c, LOAD_ERR_MALFORMED, load_now_ns());
			return;
		}
		r = read(c->fd, dst, room);
		now = load_now_ns(); /* the last byte may have just arrived */

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fail(t, c, LOAD_ERR_RESET, now);
			return;
		}
		if (r == 0) {
			if (body && c->until_eof)
				complete(t, c, now);
			else
				fail(t, c, !body && c->len == 0 ? LOAD_ERR_CLOSED : LOAD_ERR_RESET, now);
			return;
		}
		if (body) {
			if (c->until_eof) {
				rc = 0;
			} else if ((uint64_t)r > c->body_left) {
				fail(t, c, LOAD_ERR_MALFORMED, now);
				return;
			} else {
				c->body_left -= (uint64_t)r;
				rc = c->body_left == 0;
			}
		} else {
			c->len += (size_t)r;
			rc = got_head_bytes(t, c, now);
			if (rc < 0)
				return;
		}
		if (rc) {
			complete(t, c, now);
			return;
		}
		if ((size_t)r < room) /* drained: wait for epoll instead of an EAGAIN read */
			return;
	}
}

static void on_event(struct load_thread *t, struct load_conn *c, uint32_t events)
{
	switch (c->state) {
	case CS_CONNECTING:
		finish_connect(t, c);
		break;
	case CS_SENDING:
		if (events & EPOLLOUT) {
			write_request(t, c);
			if (c->state != CS_HEAD) /* still sending, or failed and reconnecting */
				break;
		}
		/* fall through: a server may answer (an error) before reading it all */
		if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
			break;
		on_readable(t, c);
		break;
	case CS_HEAD:
	case CS_BODY:
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(t, c);
		else if ((events & EPOLLOUT) && c->epollout && watch(t, c, EPOLL_CTL_MOD, false))
			fail(t, c, LOAD_ERR_RESET, load_now_ns());
		break;
	default:
		break;
	}
}

/* now - since, 0 if since is later (it may have been stamped after now was read) */
static inline uint64_t elapsed(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

/* Every tick: time out slow requests and connects, retry after back-off. */
static void scan(struct load_thread *t, uint64_t now)
{
	uint64_t timeout = t->tgt->timeout_ns;

	for (int i = 0; i < t->nconn; i++) {
		struct load_conn *c = &t->conns[i];

		switch (c->state) {
		case CS_BACKOFF:
			if (elapsed(now, c->t) >= BACKOFF_NS && !after_window(t, now))
				start_connect(t, c, now);
			break;
		case CS_CONNECTING:
			if (elapsed(now, c->t) >= timeout)
				fail(t, c, LOAD_ERR_CONNECT, now);
			break;
		case CS_DONE:
			break;
		default:
			if (elapsed(now, c->t) >= timeout)
				fail(t, c, LOAD_ERR_TIMEOUT, now);
			break;
		}
	}
}

void *load_thread_run(void *arg)
{
	struct load_thread *t = arg;
	struct load_target *tgt = t->tgt;
	struct epoll_event ev[MAX_EVENTS];
	uint64_t tick = tgt->timeout_ns / 4, now = load_now_ns(), next_tick;

	if (tick > TICK_NS)
		tick = TICK_NS;
	if (tick < MIN_TICK_NS)
		tick = MIN_TICK_NS;
	next_tick = now + tick;

	for (int i = 0; i < t->nconn; i++) {
		struct load_conn *c = &t->conns[i];
		if (c->fd < 0) { /* its first connect failed: retry after the back-off */
			c->t = now;
			continue;
		}
		if (watch(t, c, EPOLL_CTL_ADD, false))
			fail(t, c, LOAD_ERR_CONNECT, now);
		else
			send_request(t, c);
	}

	for (;;) {
		now = load_now_ns();
		maybe_open_window(t, now);
		if (after_window(t, now)) {
			/* drain: wait (up to the request timeout) for requests in flight */
			int busy = 0;

			for (int i = 0; i < t->nconn; i++)
				busy += t->conns[i].fd >= 0 && t->conns[i].state >= CS_SENDING &&
					t->conns[i].state <= CS_BODY;
			if (!busy || now >= window_start(tgt) + tgt->duration_ns + tgt->timeout_ns)
				break;
		}
		if (now >= next_tick) {
			scan(t, now);
			next_tick = now + tick;
		}
		/* wake for the next tick, or the window's end if that comes first */
		uint64_t wake = next_tick;
		if (!before_window(t, now) && !after_window(t, now) &&
		    window_start(tgt) + tgt->duration_ns < wake)
			wake = window_start(tgt) + tgt->duration_ns;
		int ms = (int)((wake - now + 999999) / 1000000);
		int n = epoll_wait(t->epfd, ev, MAX_EVENTS, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(t->fatal, sizeof(t->fatal), "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			on_event(t, ev[i].data.ptr, ev[i].events);
	}
	t->end_ns = after_window(t, now) ? window_start(tgt) + tgt->duration_ns : now;
	for (int i = 0; i < t->nconn; i++)
		drop(&t->conns[i]);
	return NULL;
}
