/*
 * dirrace: many short bidirectional streams on connections that meshcut pairs,
 * each checked byte by byte and by SHA-256, while something else (the test)
 * moves pairs off the shortcut. It owns both ends of every connection, which
 * has the shape of Istio's inbound passthrough (pair 5<->6): the "sidecar"
 * socket is made with fsuid 1337 and bound to 127.0.0.6, the "app" listens on
 * the pod IP. Run it inside a registered pod's network namespace.
 *
 *   dirrace --addr POD_IP [--port P] [--workers N] [--seconds S] [--max-bytes B]
 *           [--max-write W] [--pause-us U] [--lowat-every K] [--lowat-max-us T]
 *           [--stuck-after S] [--hold]
 *
 * Each worker opens a connection, reads one warm-up byte each way with recv()
 * (meshcut redirects towards an app only then), and both ends then send a
 * deterministic stream of 1..B bytes (default 1 MiB) in writes of 1..W bytes
 * (default 64 KiB), sleeping up to U microseconds after each write (default 0:
 * a pause lets the reader catch up, as between requests), while the other end
 * reads and checks every byte; then both half-close and read to EOF. On every
 * K-th connection (default 3) a thread of the app sets SO_RCVLOWAT to 2 and
 * back to 1 at a random moment within T microseconds (default 20000): the
 * pair leaves the shortcut from inside the kernel while its writers may be
 * anywhere in sk_msg. Errors are counted, never retried: a send that fails
 * (EPIPE, ECONNRESET) ends that stream. A blocking recv() that comes back
 * EAGAIN early (tcp_bpf does when TCP bytes woke it) is retried; a reader
 * that gets nothing for S seconds (default 20) is stuck.
 *
 * With --hold, once the time is up each worker makes one more connection that
 * streams without the half-close and stays open, prints {"holding": N} and
 * waits for a line on stdin (or EOF) before closing them, so the test can
 * look at the pair table while those pairs are alive.
 *
 * Prints one JSON line with the totals; exit 0 when every stream arrived whole
 * and no send or recv failed, 1 otherwise, 2 on a usage or setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stream_data.h"

#define MAX_WORKERS 64
#define MAX_WRITE (64 << 10)

static struct {
	const char *addr, *src;
	int port, workers, seconds, lowat_every, lowat_max_us, uid, pause_us, stuck_s;
	uint64_t max_bytes, max_write;
	bool hold;
} o = {.max_write = MAX_WRITE, .lowat_max_us = 20000, .stuck_s = 20, .src = "127.0.0.6", .port = 17300, .workers = 4, .seconds = 10, .lowat_every = 3,
       .uid = 1337, .max_bytes = 1 << 20};

static atomic_bool time_up;
static atomic_uint_least64_t n_conns, n_bytes, n_bad, n_send_err, n_epipe, n_recv_err, n_stuck,
	n_lowat, n_eagain;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static socklen_t sockaddr_of(const char *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, ip, &a->sin6_addr) == 1 ? sizeof(*a) : 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? sizeof(*a) : 0;
}

/* one direction of one connection */
struct flow {
	int wfd, rfd;          /* the writer's and the reader's socket */
	uint64_t seed, bytes;  /* stream content and length */
	unsigned char sent_sha[32], got_sha[32];
	uint64_t got;
	int64_t mismatch;      /* stream offset of the first wrong byte, or -1 */
	int send_errno, recv_errno;
	bool stuck;
	bool keep_open; /* a held connection: no half-close, read exactly `bytes` */
};

static void *writer(void *arg)
{
	struct flow *f = arg;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct size_rng r;
	unsigned char *buf = malloc(MAX_WRITE);
	uint64_t off = 0;
	unsigned int len;

	size_rng_init(&r, f->seed ^ 0x5eed);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (buf && off < f->bytes) {
		size_t n = (size_t)size_rng_range(&r, 1, o.max_write);
		ssize_t w;

		if (n > f->bytes - off)
			n = (size_t)(f->bytes - off);
		stream_fill(f->seed, off, buf, n);
		w = send(f->wfd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			f->send_errno = errno; /* never retried: the stream ends here */
			break;
		}
		EVP_DigestUpdate(md, buf, (size_t)w);
		off += (uint64_t)w;
		if (o.pause_us)
			usleep((useconds_t)size_rng_range(&r, 0, (uint64_t)o.pause_us));
	}
	EVP_DigestFinal_ex(md, f->sent_sha, &len);
	EVP_MD_CTX_free(md);
	free(buf);
	if (!f->keep_open)
		shutdown(f->wfd, SHUT_WR);
	return NULL;
}

static void *reader(void *arg)
{
	struct flow *f = arg;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(MAX_WRITE);
	unsigned int len;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	f->mismatch = -1;
	while (buf && !(f->keep_open && f->got == f->bytes)) {
		double t = now();
		size_t want = f->keep_open ? (size_t)(f->bytes - f->got) : MAX_WRITE;
		ssize_t n = recv(f->rfd, buf, want < MAX_WRITE ? want : MAX_WRITE, 0);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* a blocking recv() on a socket in a SOCKHASH can come back
			 * EAGAIN early when it was woken by TCP bytes (docs/semantics.md: TCP
			 * semantics); only the receive timeout means stuck */
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    now() - t < o.stuck_s - 1) {
				atomic_fetch_add(&n_eagain, 1);
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				f->stuck = true;
			else
				f->recv_errno = errno;
			break;
		}
		if (f->mismatch < 0)
			f->mismatch = stream_verify(f->seed, f->got, buf, (size_t)n);
		EVP_DigestUpdate(md, buf, (size_t)n);
		f->got += (uint64_t)n;
	}
	EVP_DigestFinal_ex(md, f->got_sha, &len);
	EVP_MD_CTX_free(md);
	free(buf);
	return NULL;
}

/* The receiver's own thread sets SO_RCVLOWAT to 2 and back to 1 at a random
 * moment of the streams (not right after a read, when every writer has just
 * finished a send): the pair leaves the shortcut from inside the kernel
 * (cgroup/setsockopt) while its writers may be anywhere in sk_msg. */
struct toggle {
	int fd;
	uint64_t after_us;
	atomic_bool *done; /* both writers finished: nothing left to race */
};

static void *toggler(void *arg)
{
	struct toggle *t = arg;
	int one = 1, two = 2;

	for (uint64_t waited = 0; waited < t->after_us; waited += 500) {
		if (atomic_load(t->done))
			return NULL;
		usleep(500);
	}
	setsockopt(t->fd, SOL_SOCKET, SO_RCVLOWAT, &two, sizeof(two));
	setsockopt(t->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	atomic_fetch_add(&n_lowat, 1);
	return NULL;
}

/* judge one direction once both threads are done */
static void account(const struct flow *f)
{
	bool whole = f->got == f->bytes && f->mismatch < 0 &&
		     !memcmp(f->sent_sha, f->got_sha, sizeof(f->got_sha));

	atomic_fetch_add(&n_bytes, f->got);
	if (f->send_errno) {
		atomic_fetch_add(&n_send_err, 1);
		if (f->send_errno == EPIPE)
			atomic_fetch_add(&n_epipe, 1);
		fprintf(stderr, "dirrace: send: %s after %llu bytes\n", strerror(f->send_errno),
			(unsigned long long)f->got);
	} else if (f->recv_errno) {
		atomic_fetch_add(&n_recv_err, 1);
		fprintf(stderr, "dirrace: recv: %s\n", strerror(f->recv_errno));
	} else if (f->stuck) {
		atomic_fetch_add(&n_stuck, 1);
		fprintf(stderr, "dirrace: a reader waited %d s with %llu of %llu bytes\n",
			o.stuck_s, (unsigned long long)f->got, (unsigned long long)f->bytes);
	} else if (!whole) {
		atomic_fetch_add(&n_bad, 1);
		fprintf(stderr, "dirrace: stream of %llu bytes: got %llu, first wrong byte at %lld%s\n",
			(unsigned long long)f->bytes, (unsigned long long)f->got,
			(long long)f->mismatch,
			f->got == f->bytes && f->mismatch < 0 ? " (SHA-256 differs)" : "");
	}
}

static int app_listener(int port)
{
	struct sockaddr_storage a;
	socklen_t len = sockaddr_of(o.addr, port, &a);
	int fd = socket(a.ss_family, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || !len || bind(fd, (struct sockaddr *)&a, len) || listen(fd, 4))
		return -1;
	return fd;
}

/* the sidecar's end (fsuid 1337 from 127.0.0.6) and the app's accepted end */
static int connect_pair(int lfd, int port, int *side, int *app)
{
	struct sockaddr_storage s, d;
	socklen_t slen = sockaddr_of(o.src, 0, &s), dlen = sockaddr_of(o.addr, port, &d);
	struct timeval tv = {.tv_sec = o.stuck_s};
	int one = 1;

	setfsuid((uid_t)o.uid);
	*side = socket(d.ss_family, SOCK_STREAM, 0);
	setfsuid(0);
	if (*side < 0)
		return -1;
	setsockopt(*side, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(*side, (struct sockaddr *)&s, slen) || connect(*side, (struct sockaddr *)&d, dlen)) {
		close(*side);
		return -1;
	}
	*app = accept(lfd, NULL, NULL);
	if (*app < 0) {
		close(*side);
		return -1;
	}
	/* bounded waits both ways: a stream that stops is reported, never hangs */
	setsockopt(*side, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*app, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*side, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(*app, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

/* one warm-up byte each way, read with recv() */
static int warm_up(int side, int app)
{
	char b;

	return send(side, "w", 1, MSG_NOSIGNAL) == 1 && recv(app, &b, 1, 0) == 1 &&
			       send(app, "w", 1, MSG_NOSIGNAL) == 1 && recv(side, &b, 1, 0) == 1
		       ? 0
		       : -1;
}

/* One connection: warm-up, both streams, checked. With keep_open (the held
 * connection) the streams end without a half-close and the sockets are
 * returned in held[] instead of being closed. Returns -1 when no connection
 * could be made. */
static int run_connection(int lfd, int port, int id, uint64_t conn, struct size_rng *r,
			  bool keep_open, int held[2])
{
	struct flow f[2];
	atomic_bool writers_done = false;
	struct toggle tg = {.done = &writers_done};
	bool lowat = o.lowat_every && conn % (uint64_t)o.lowat_every == 0;
	pthread_t t[5];
	int side, app;

	if (connect_pair(lfd, port, &side, &app))
		return -1;
	if (warm_up(side, app)) {
		atomic_fetch_add(&n_recv_err, 1);
		close(side);
		close(app);
		return 0;
	}
	/* f[0]: sidecar -> app, f[1]: app -> sidecar */
	f[0] = (struct flow){.wfd = side, .rfd = app, .seed = ((uint64_t)id << 40) ^ (conn << 1),
			     .bytes = size_rng_range(r, 1, o.max_bytes), .keep_open = keep_open};
	f[1] = (struct flow){.wfd = app, .rfd = side,
			     .seed = ((uint64_t)id << 40) ^ (conn << 1) ^ 1,
			     .bytes = size_rng_range(r, 1, o.max_bytes), .keep_open = keep_open};
	pthread_create(&t[0], NULL, reader, &f[0]);
	pthread_create(&t[1], NULL, reader, &f[1]);
	pthread_create(&t[2], NULL, writer, &f[0]);
	pthread_create(&t[3], NULL, writer, &f[1]);
	if (lowat) { /* the app's socket, a receiver */
		tg.fd = app;
		tg.after_us = size_rng_range(r, 0, (uint64_t)o.lowat_max_us);
		pthread_create(&t[4], NULL, toggler, &tg);
	}
	pthread_join(t[2], NULL);
	pthread_join(t[3], NULL);
	atomic_store(&writers_done, true);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	if (lowat)
		pthread_join(t[4], NULL);
	account(&f[0]);
	account(&f[1]);
	atomic_fetch_add(&n_conns, 1);
	if (keep_open) {
		held[0] = side;
		held[1] = app;
	} else {
		close(side);
		close(app);
	}
	return 0;
}

struct worker {
	int id;
	int held[2]; /* the held connection (--hold) */
	bool setup_failed;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	int port = o.port + w->id, lfd = app_listener(port);
	struct size_rng r;
	uint64_t conn = 0;

	w->held[0] = w->held[1] = -1;
	if (lfd < 0) {
		w->setup_failed = true;
		return NULL;
	}
	size_rng_init(&r, (uint64_t)w->id * 7919 + 1);
	while (!atomic_load(&time_up))
		if (run_connection(lfd, port, w->id, ++conn, &r, false, w->held)) {
			w->setup_failed = true;
			break;
		}
	/* one more, left open: its pair is still in the table for the test */
	if (o.hold && !w->setup_failed && run_connection(lfd, port, w->id, ++conn, &r, true, w->held))
		w->setup_failed = true;
	close(lfd);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dirrace --addr POD_IP [--port P] [--workers N] [--seconds S] [--max-bytes B]\n"
		   "               [--max-write W] [--pause-us U] [--lowat-every K] [--lowat-max-us T]\n"
		   "               [--stuck-after S] [--hold]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"addr", 1, 0, 'a'},      {"port", 1, 0, 'p'},     {"workers", 1, 0, 'w'},
		{"seconds", 1, 0, 's'},   {"max-bytes", 1, 0, 'b'}, {"lowat-every", 1, 0, 'l'},
		{"hold", 0, 0, 'H'},      {"pause-us", 1, 0, 'P'}, {"max-write", 1, 0, 'W'},
		{"lowat-max-us", 1, 0, 'L'}, {"stuck-after", 1, 0, 'T'}, {"help", 0, 0, 'h'},
		{0, 0, 0, 0},
	};
	static struct worker w[MAX_WORKERS];
	pthread_t t[MAX_WORKERS];
	int c, held = 0, setup_failed = 0;
	double t0;
	char line[16];

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': o.addr = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'w': o.workers = atoi(optarg); break;
		case 's': o.seconds = atoi(optarg); break;
		case 'b': o.max_bytes = strtoull(optarg, NULL, 0); break;
		case 'l': o.lowat_every = atoi(optarg); break;
		case 'H': o.hold = true; break;
		case 'P': o.pause_us = atoi(optarg); break;
		case 'W': o.max_write = strtoull(optarg, NULL, 0); break;
		case 'L': o.lowat_max_us = atoi(optarg); break;
		case 'T': o.stuck_s = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.addr || o.workers < 1 || o.workers > MAX_WORKERS || o.seconds < 1 ||
	    o.max_bytes < 1 || o.port < 1 || o.port + o.workers > 65535 || o.lowat_every < 0 ||
	    o.pause_us < 0 || o.max_write < 1 || o.max_write > MAX_WRITE || o.lowat_max_us < 0 ||
	    o.stuck_s < 2) {
		usage(stderr);
		return 2;
	}
	t0 = now();
	for (int i = 0; i < o.workers; i++) {
		w[i].id = i;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	while (now() - t0 < o.seconds)
		usleep(50000);
	atomic_store(&time_up, true);
	for (int i = 0; i < o.workers; i++) {
		pthread_join(t[i], NULL);
		held += w[i].held[0] >= 0;
		setup_failed += w[i].setup_failed;
	}
	if (o.hold) {
		printf("{\"holding\":%d}\n", held);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			line[0] = '\0';
		for (int i = 0; i < o.workers; i++)
			for (int j = 0; j < 2; j++)
				if (w[i].held[j] >= 0)
					close(w[i].held[j]);
	}
	printf("{\"connections\":%llu,\"bytes\":%llu,\"seconds\":%.1f,\"bad_streams\":%llu,"
	       "\"send_errors\":%llu,\"epipe\":%llu,\"recv_errors\":%llu,\"stuck\":%llu,"
	       "\"lowat_toggles\":%llu,\"early_eagain\":%llu,\"setup_failed\":%d}\n",
	       (unsigned long long)n_conns, (unsigned long long)n_bytes, now() - t0,
	       (unsigned long long)n_bad, (unsigned long long)n_send_err,
	       (unsigned long long)n_epipe, (unsigned long long)n_recv_err,
	       (unsigned long long)n_stuck, (unsigned long long)n_lowat,
	       (unsigned long long)n_eagain, setup_failed);
	return setup_failed ? 2
	       : (n_bad || n_send_err || n_recv_err || n_stuck || !n_conns) ? 1
									    : 0;
}
