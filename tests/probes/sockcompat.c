/*
 * sockcompat: socket-semantics scenarios run over one connection whose both
 * ends this program owns, so the same scenario can be run on a redirected
 * pair and on plain TCP and the results compared.
 *
 * The connection has the shape of Istio's inbound passthrough (pair 5<->6):
 * the client socket is created with fsuid 1337 (the sidecar) and bound to
 * 127.0.0.6; the server listens on the pod IP as root (the app). Run inside a
 * registered pod's network namespace to get a redirected pair, with meshcut in
 * mode off (or --src 127.0.0.1) to get plain TCP.
 *
 *   sockcompat --scenario NAME --addr POD_IP [--port P] [--src 127.0.0.6] [--uid 1337]
 *              [--app-reads]   (the app's socket is the one that reads)
 * IPv6 works the same way: --addr POD_IPV6 --src ::6 (Istio's IPv6 passthrough).
 * Scenarios: half_close, rst_unread, peek, rcvlowat, waitall, fionread, splice,
 * close_unread, echo, splice_app, woken_reader, rcvmem (--memcg PROCS),
 * early_stream, early_short, fin_late_reader, fin_mixed_senders (--memcg PROCS), ulp,
 * one_request (a new connection's one request and answer: what crossed TCP),
 * edge_reader (an edge-triggered reader while its pair leaves: the node's
 * backlog limit must be 65536; or, with --gate PATH, the writer stops after
 * its first 60,000 bytes until PATH exists, while the test moves the pair to
 * TCP another way: a mode change, an uninstall),
 * hold_unread (redirected bytes wait unread until a line on stdin),
 * pingpong (a probe: one hop's round trip), pingpong_pipe (the same over two
 * pipes: the floor). Prints one JSON line; exit 0
 * unless the program itself failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/fsuid.h>
#include <time.h>
#include <unistd.h>

static const char *addr = "127.0.0.1", *src = "127.0.0.6";
static int port = 17070, uid = 1337, pause_ms = 200;
static bool app_reads; /* --app-reads: the app (server) end plays the reader */
static const char *gate; /* --gate PATH: edge_reader's writer waits for it (below) */
static const char *memcg_procs; /* --memcg: the app's memory cgroup (rcvmem, fin_mixed_senders) */
static int read_timeout_ms = 5000;

static void die(const char *what)
{
	printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
	exit(2);
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 131u + (i >> 8) * 7u) & 0xff);
}

static void fill(uint8_t *b, size_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pattern(off + i);
}

static bool check(const uint8_t *b, size_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pattern(off + i))
			return false;
	return true;
}

/* an IPv4 or IPv6 address (chosen by its text) with a port */
static socklen_t sockaddr_of(const char *ip, int p, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
			die("bad IPv6 address");
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)p);
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
		die("bad IPv4 address");
	return sizeof(*a);
}

static int listener(void)
{
	struct sockaddr_storage a;
	socklen_t len = sockaddr_of(addr, port, &a);
	int fd = socket(a.ss_family, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, len) || listen(fd, 16))
		die("listen");
	return fd;
}

/* the sidecar's socket: created with fsuid 1337 (what sockops and iptables
 * see as the owner), bound to the passthrough source */
static int client_connect(void)
{
	struct sockaddr_storage s, d;
	socklen_t slen = sockaddr_of(src, 0, &s), dlen = sockaddr_of(addr, port, &d);
	int fd, one = 1;

	setfsuid((uid_t)uid);
	fd = socket(d.ss_family, SOCK_STREAM, 0);
	setfsuid(0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s, slen))
		die("bind source");
	if (connect(fd, (struct sockaddr *)&d, dlen))
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* the connection, established (and paired, if meshed), nothing sent yet */
static void connect_accept(int *c, int *s)
{
	int l = listener();

	*c = client_connect();
	*s = accept(l, NULL, NULL);
	if (*s < 0)
		die("accept");
	close(l);
	msleep(20);
}

static void pair(int *c, int *s)
{
	connect_accept(c, s);
	if (app_reads) { /* scenarios read on *c: let that be the app's socket */
		int t = *c;
		char b;

		*c = *s;
		*s = t;
		/* one byte first, read with recv(): meshcut redirects towards an app
		 * only after that, so the scenario runs on redirected bytes */
		if (write(*s, "w", 1) != 1 || recv(*c, &b, 1, 0) != 1)
			die("warm-up byte");
	}
}

static size_t write_all(int fd, size_t off, size_t n)
{
	uint8_t buf[65536];
	size_t done = 0;

	while (done < n) {
		size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
		ssize_t w;

		fill(buf, off + done, k);
		w = write(fd, buf, k);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	return done;
}

/* read until EOF/error/timeout; returns bytes, verifies the pattern */
static size_t read_all(int fd, size_t off, bool *ok, int *err, int timeout_ms)
{
	uint8_t buf[65536];
	size_t got = 0;

	*ok = true;
	*err = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0) {
			*err = ETIMEDOUT;
			break;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			*err = errno;
			break;
		}
		if (r == 0)
			break;
		if (!check(buf, off + got, (size_t)r))
			*ok = false;
		got += (size_t)r;
	}
	return got;
}

static void sc_half_close(void)
{
	int c, s, cerr, serr;
	bool cok, sok;
	size_t sgot, cgot;

	pair(&c, &s);
	write_all(c, 0, 100000);
	shutdown(c, SHUT_WR);
	sgot = read_all(s, 0, &sok, &serr, 2000);
	write_all(s, 0, 100000);
	close(s);
	msleep(300); /* FINs exchanged: the client is in TIME_WAIT before it reads */
	cgot = read_all(c, 0, &cok, &cerr, 2000);
	printf("{\"scenario\":\"half_close\",\"server_got\":%zu,\"client_got\":%zu,\"intact\":%s,\"client_errno\":\"%s\"}\n",
	       sgot, cgot, sok && cok ? "true" : "false", cerr ? strerror(cerr) : "");
	close(c);
}

static void sc_rst_unread(void)
{
	struct linger lg = {1, 0};
	int c, s, cerr;
	bool cok;
	size_t cgot;

	pair(&c, &s);
	write_all(s, 0, 5000);
	msleep(50);
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s); /* RST while the client has not read */
	msleep(200);
	cgot = read_all(c, 0, &cok, &cerr, 1000);
	printf("{\"scenario\":\"rst_unread\",\"client_got\":%zu,\"intact\":%s,\"client_errno\":\"%s\"}\n",
	       cgot, cok ? "true" : "false", cerr ? strerror(cerr) : "");
	close(c);
}

static void sc_peek(void)
{
	char a[16] = {0}, b[16] = {0};
	int c, s;
	ssize_t p, r;

	pair(&c, &s);
	write(s, "hello world", 11);
	msleep(50);
	p = recv(c, a, 5, MSG_PEEK);
	r = recv(c, b, 11, 0);
	printf("{\"scenario\":\"peek\",\"peeked\":\"%.*s\",\"read\":\"%.*s\"}\n", (int)(p > 0 ? p : 0), a,
	       (int)(r > 0 ? r : 0), b);
	close(c);
	close(s);
}

static void sc_rcvlowat(void)
{
	int c, s, lowat = 1000, early;
	struct pollfd p;
	uint8_t buf[4096];
	ssize_t r;

	pair(&c, &s);
	setsockopt(c, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	write_all(s, 0, 500);
	p.fd = c;
	p.events = POLLIN;
	early = poll(&p, 1, 100); /* must not be readable: 500 < lowat */
	write_all(s, 500, 600);
	r = recv(c, buf, sizeof(buf), 0);
	printf("{\"scenario\":\"rcvlowat\",\"readable_below_lowat\":%s,\"first_recv\":%zd}\n",
	       early > 0 ? "true" : "false", r);
	close(c);
	close(s);
}

static void sc_waitall(void)
{
	uint8_t buf[2000];
	int c, s, i;
	ssize_t r;
	pid_t pid;

	pair(&c, &s);
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < 10; i++) {
			write_all(s, (size_t)i * 100, 100);
			msleep(10);
		}
		_exit(0);
	}
	r = recv(c, buf, 1000, MSG_WAITALL);
	printf("{\"scenario\":\"waitall\",\"first_recv\":%zd,\"intact\":%s}\n", r,
	       r == 1000 && check(buf, 0, 1000) ? "true" : "false");
	close(c);
	close(s);
}

static void sc_fionread(void)
{
	int c, s, n = -1;

	pair(&c, &s);
	write_all(s, 0, 1234);
	msleep(50);
	ioctl(c, FIONREAD, &n);
	printf("{\"scenario\":\"fionread\",\"fionread\":%d}\n", n);
	close(c);
	close(s);
}

static void sc_splice(void)
{
	int c, s, pfd[2], err = 0;
	uint8_t buf[65536];
	size_t got = 0;
	bool ok = true;

	pair(&c, &s);
	write_all(s, 0, 100000);
	close(s);
	if (pipe(pfd))
		die("pipe");
	for (;;) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		ssize_t n, r;

		if (poll(&p, 1, 1000) <= 0) {
			err = ETIMEDOUT;
			break;
		}
		n = splice(c, NULL, pfd[1], NULL, sizeof(buf), SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EAGAIN) {
			/* readable by poll, but nothing for splice: data only recv() sees */
			err = EAGAIN;
			break;
		}
		if (n <= 0) {
			err = n < 0 ? errno : 0;
			break;
		}
		r = read(pfd[0], buf, (size_t)n);
		if (r > 0) {
			if (!check(buf, got, (size_t)r))
				ok = false;
			got += (size_t)r;
		}
	}
	printf("{\"scenario\":\"splice\",\"client_got\":%zu,\"intact\":%s,\"client_errno\":\"%s\"}\n",
	       got, ok ? "true" : "false", err ? strerror(err) : "");
	close(c);
}

/* The app (server) reads with splice(): it must get every byte. */
static void sc_splice_app(void)
{
	int c, s, pfd[2], err = 0;
	uint8_t buf[65536];
	size_t got = 0;
	bool ok = true;

	pair(&c, &s);
	write_all(c, 0, 100000);
	close(c);
	if (pipe(pfd))
		die("pipe");
	for (;;) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		ssize_t n, r;

		if (poll(&p, 1, 2000) <= 0) {
			err = ETIMEDOUT;
			break;
		}
		n = splice(s, NULL, pfd[1], NULL, sizeof(buf), SPLICE_F_NONBLOCK);
		if (n <= 0) {
			err = n < 0 ? errno : 0;
			break;
		}
		r = read(pfd[0], buf, (size_t)n);
		if (r > 0) {
			if (!check(buf, got, (size_t)r))
				ok = false;
			got += (size_t)r;
		}
	}
	printf("{\"scenario\":\"splice_app\",\"server_got\":%zu,\"intact\":%s,\"server_errno\":\"%s\"}\n",
	       got, ok ? "true" : "false", err ? strerror(err) : "");
	close(s);
}

static void sc_close_unread(void)
{
	int c, s, err = 0;
	uint8_t buf[100];
	ssize_t r;

	pair(&c, &s);
	write_all(c, 0, 1000);
	msleep(50);
	close(s); /* the server never read: TCP answers with a reset */
	msleep(100);
	r = read(c, buf, sizeof(buf));
	if (r < 0)
		err = errno;
	printf("{\"scenario\":\"close_unread\",\"client_read\":%zd,\"client_errno\":\"%s\"}\n", r,
	       err ? strerror(err) : "");
	close(c);
}

/* tcp_orphan_retries of this network namespace: how often a closed socket
 * sends its FIN again before it gives up (returns the old value, -1 on error) */
static int set_orphan_retries(int n)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_orphan_retries", "r+");
	int old = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &old) != 1)
		old = -1;
	rewind(f);
	fprintf(f, "%d\n", n);
	fclose(f);
	return old;
}

/* The sidecar writes 64 KiB and closes while the app sleeps; its kernel sends
 * the orphaned FIN once more and then gives up (tcp_orphan_retries 1 in this
 * namespace, for the scenario), long before the app reads. TCP queues the FIN
 * behind the data: the app reads every byte and then EOF. A FIN held until
 * the reader caught up would never come. */
static void sc_fin_late_reader(void)
{
	int c, s, err, saved = set_orphan_retries(1);
	bool ok;
	size_t got;

	pair(&c, &s); /* --app-reads: c is the app, s the sidecar */
	write_all(s, 0, 65536);
	close(s);
	msleep(pause_ms * 15); /* the sender has given up by now */
	got = read_all(c, 0, &ok, &err, read_timeout_ms);
	if (saved >= 0)
		set_orphan_retries(saved);
	printf("{\"scenario\":\"fin_late_reader\",\"got\":%zu,\"intact\":%s,\"eof\":%s,"
	       "\"errno\":\"%s\"}\n",
	       got, ok && got == 65536 ? "true" : "false", err ? "false" : "true",
	       err ? strerror(err) : "");
	close(c);
}

/* Two threads of the sidecar send on one socket at once, towards an app whose
 * memory cgroup is full (--memcg, as in rcvmem): some redirects fail part-way.
 * Each thread stops at its first failed or short send (on TCP none is: the
 * writers just wait), and a third closes the socket once both are done. The
 * app, which had half-closed first (its FIN_WAIT2 turns into TIME_WAIT at the
 * FIN, which frees unread redirected bytes), reads everything and must see
 * EOF, as on TCP. The FIN is held only while redirected bytes are unread: a
 * count of what each send() redirected that comes out too high (two threads'
 * counts mixed up) would hold it for good. */
struct mixed_writer {
	int fd;
	size_t sent;
	int failures;
};

static void *mixed_write(void *arg)
{
	struct mixed_writer *w = arg;
	size_t len = 1u << 20; /* one send() spans many redirects: the socket's
				* lock is let go during each, and the other
				* thread's send() runs in between */
	uint8_t *buf = malloc(len);

	if (!buf)
		return NULL;
	fill(buf, 0, len);
	while (w->sent < (4u << 20)) {
		ssize_t r = send(w->fd, buf, len, MSG_NOSIGNAL);

		if (r > 0)
			w->sent += (size_t)r;
		if (r != (ssize_t)len) {
			w->failures++;
			break;
		}
	}
	free(buf);
	return NULL;
}

struct mixed_closer {
	int fd;
	struct mixed_writer w[2];
};

static void *mixed_close(void *arg)
{
	struct mixed_closer *m = arg;
	pthread_t t[2];

	for (int i = 0; i < 2; i++) {
		m->w[i] = (struct mixed_writer){.fd = m->fd};
		pthread_create(&t[i], NULL, mixed_write, &m->w[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	close(m->fd);
	return NULL;
}

static size_t read_count(int fd, int *err, int timeout_ms)
{
	uint8_t buf[65536];
	size_t got = 0;

	*err = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0) {
			*err = ETIMEDOUT;
			break;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			*err = r < 0 ? errno : 0;
			break;
		}
		got += (size_t)r;
	}
	return got;
}

static void sc_fin_mixed_senders(void)
{
	int l = listener(), s, err;
	struct mixed_closer m;
	pthread_t t;
	FILE *f;
	size_t got;
	char b;

	m.fd = client_connect();
	f = memcg_procs ? fopen(memcg_procs, "w") : NULL;
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
		die("join --memcg");
	s = accept(l, NULL, NULL); /* accepted here: charged to the app's cgroup */
	if (s < 0)
		die("accept");
	close(l);
	msleep(20);
	if (write(m.fd, "w", 1) != 1 || recv(s, &b, 1, 0) != 1) /* the app reads with recv() */
		die("warm-up byte");
	shutdown(s, SHUT_WR); /* the app has said all it will say */
	pthread_create(&t, NULL, mixed_close, &m);
	msleep(pause_ms); /* the app is busy: its cgroup fills up */
	got = read_count(s, &err, read_timeout_ms);
	pthread_join(t, NULL);
	printf("{\"scenario\":\"fin_mixed_senders\",\"sent\":%zu,\"got\":%zu,\"eof\":%s,"
	       "\"short_sends\":%d,\"errno\":\"%s\"}\n",
	       m.w[0].sent + m.w[1].sent, got, err ? "false" : "true",
	       m.w[0].failures + m.w[1].failures, err ? strerror(err) : "");
	close(s);
}

/* A reader blocked in recv() is woken without data: here by its own socket's
 * state change (the ACK of a half-close another process made on it). TCP keeps
 * waiting; tcp_bpf's recv returns EAGAIN (docs/semantics.md). The reader
 * counts EAGAINs, retries, and must still get every byte sent afterwards. */
static void sc_woken_reader(void)
{
	uint8_t buf[4096];
	int c, s, eagain = 0, err = 0;
	size_t got = 0;
	bool ok = true;
	pid_t pid;

	pair(&c, &s);
	pid = fork();
	if (pid == 0) {
		msleep(pause_ms); /* the reader is blocked by now */
		shutdown(c, SHUT_WR);
		msleep(pause_ms);
		write_all(s, 0, 1000);
		_exit(0);
	}
	while (got < 1000) {
		ssize_t r = read(c, buf, sizeof(buf));

		if (r < 0 && errno == EAGAIN && eagain < 100) {
			eagain++;
			continue;
		}
		if (r <= 0) {
			err = r < 0 ? errno : 0;
			break;
		}
		if (!check(buf, got, (size_t)r))
			ok = false;
		got += (size_t)r;
	}
	waitpid(pid, NULL, 0);
	printf("{\"scenario\":\"woken_reader\",\"eagain\":%d,\"got\":%zu,\"intact\":%s,\"errno\":\"%s\"}\n",
	       eagain, got, ok && got == 1000 ? "true" : "false", err ? strerror(err) : "");
	close(c);
	close(s);
}

/* The app's memory cgroup cannot take more socket memory (--memcg: its
 * cgroup.procs, with a small TCP memory limit; the app socket is accepted in
 * it, the sidecar socket is not). The sidecar writes 2 MiB while the app
 * sleeps, then the app reads everything. TCP drops what the app cannot hold
 * and the sender's kernel sends it again: the writer only waits. A redirect
 * charges the app's cgroup from inside the writer's send(): it fails with
 * ENOMEM, once, and the pair moves to TCP (docs/semantics.md;
 * semantics.t). The writer retries ENOMEM and counts it. */

static void sc_rcvmem(void)
{
	int l = listener(), c, s, perr = 0, st = 0, fds[2];
	FILE *f;
	size_t got;
	bool ok;
	char b;
	pid_t pid;

	c = client_connect();
	f = memcg_procs ? fopen(memcg_procs, "w") : NULL;
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
		die("join --memcg");
	s = accept(l, NULL, NULL); /* accepted here: charged to the app's cgroup */
	if (s < 0)
		die("accept");
	close(l);
	msleep(20);
	if (write(c, "w", 1) != 1 || recv(s, &b, 1, 0) != 1) /* the app reads with recv() */
		die("warm-up byte");
	if (pipe(fds))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		uint8_t buf[65536];
		size_t done = 0, n = 2u << 20;
		int enomem = 0, other = 0;

		while (done < n && enomem < 5000) {
			size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
			ssize_t w;

			fill(buf, done, k);
			w = write(c, buf, k);
			if (w < 0 && errno == ENOMEM) {
				enomem++;
				msleep(2);
				continue;
			}
			if (w <= 0) {
				other = errno;
				break;
			}
			done += (size_t)w;
		}
		shutdown(c, SHUT_WR);
		dprintf(fds[1], "%d %d %zu", enomem, other, done);
		_exit(0);
	}
	close(fds[1]);
	msleep(pause_ms * 3); /* the app is busy: its cgroup fills up */
	got = read_all(s, 0, &ok, &perr, read_timeout_ms);
	waitpid(pid, &st, 0);
	{
		char line[64] = "";
		int enomem = -1, other = 0;
		size_t sent = 0;
		ssize_t r = read(fds[0], line, sizeof(line) - 1);

		if (r > 0)
			sscanf(line, "%d %d %zu", &enomem, &other, &sent);
		printf("{\"scenario\":\"rcvmem\",\"enomem\":%d,\"sent\":%zu,\"got\":%zu,"
		       "\"intact\":%s,\"writer_errno\":\"%s\",\"reader_errno\":\"%s\"}\n",
		       enomem, sent, got, ok && got == sent && sent == (2u << 20) ? "true" : "false",
		       other ? strerror(other) : "", perr ? strerror(perr) : "");
	}
	close(fds[0]);
	close(c);
	close(s);
}


/* A nonblocking sidecar streams to an app that has not read yet (the
 * direction starts on TCP: "early" bytes), 64 KiB per write(), and its writes
 * come back short once the socket's send buffer is full; the app then reads
 * with recv(), slowly at first. Every byte must arrive in order: a redirect
 * may begin only once the app has read every early byte sent over TCP. */
static void sc_early_stream(void)
{
	int c, s, perr = 0, st = 0;
	size_t n = 8u << 20, got;
	bool ok;
	pid_t pid;

	connect_accept(&c, &s);
	pid = fork();
	if (pid == 0) {
		uint8_t buf[65536];
		size_t done = 0;

		fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
		while (done < n) {
			size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
			struct pollfd p = {.fd = c, .events = POLLOUT};
			ssize_t w;

			fill(buf, done, k);
			w = write(c, buf, k);
			if (w < 0 && errno == EAGAIN) {
				if (poll(&p, 1, 5000) <= 0)
					break;
				continue;
			}
			if (w <= 0)
				break;
			if ((done + (size_t)w) / (512u << 10) != done / (512u << 10))
				msleep(30); /* now and then the app catches up */
			done += (size_t)w;
		}
		shutdown(c, SHUT_WR);
		_exit(done == n ? 0 : 1);
	}
	msleep(pause_ms); /* the app is busy: the sidecar's writes fill TCP's buffers */
	{
		uint8_t buf[65536];
		size_t want = 1000;

		got = 0;
		ok = true;
		for (;;) {
			struct pollfd p = {.fd = s, .events = POLLIN};
			ssize_t r;

			if (poll(&p, 1, read_timeout_ms) <= 0) {
				perr = ETIMEDOUT;
				break;
			}
			r = recv(s, buf, want, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r < 0) {
				perr = errno;
				break;
			}
			if (r == 0)
				break;
			if (!check(buf, got, (size_t)r))
				ok = false;
			got += (size_t)r;
			if (got < (1u << 20))
				msleep(1); /* slow at first, then as fast as it can */
			else
				want = sizeof(buf);
		}
	}
	waitpid(pid, &st, 0);
	printf("{\"scenario\":\"early_stream\",\"got\":%zu,\"intact\":%s,\"writer_ok\":%s,"
	       "\"reader_errno\":\"%s\"}\n",
	       got, ok && got == n ? "true" : "false",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "true" : "false", perr ? strerror(perr) : "");
	close(c);
	close(s);
}

/* recv() exactly n bytes (fewer at EOF or error), checking the pattern */
static size_t recv_exact(int fd, size_t off, size_t n, bool *ok)
{
	uint8_t buf[65536];
	size_t got = 0;

	while (got < n) {
		size_t k = n - got < sizeof(buf) ? n - got : sizeof(buf);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, read_timeout_ms) <= 0)
			break;
		r = recv(fd, buf, k, 0);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			break;
		if (!check(buf, off + got, (size_t)r))
			*ok = false;
		got += (size_t)r;
	}
	return got;
}

/* kTLS: the app sets TCP_ULP "tls" on its socket mid-stream, as a TLS
 * library does before it hands the kernel its keys. Without keys the ULP
 * passes bytes through, so the stream must carry on, whole, both ways, before
 * and after (meshcut takes the socket out of the shortcut first: a ULP
 * replaces the socket's protocol operations, tcp_bpf's among them). Needs
 * the tls module. */
static void sc_ulp(void)
{
	const size_t n = 256 * 1024;
	int c, s, ulp_err = 0;
	bool ok = true;
	size_t before, after, back;

	pair(&c, &s);
	write_all(s, 0, n);
	before = recv_exact(c, 0, n, &ok);
	if (setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 3))
		ulp_err = errno;
	write_all(s, n, n);
	after = recv_exact(c, n, n, &ok);
	write_all(c, 0, n);
	back = recv_exact(s, 0, n, &ok);
	printf("{\"scenario\":\"ulp\",\"ulp_errno\":\"%s\",\"before\":%zu,\"after\":%zu,\"back\":%zu,"
	       "\"intact\":%s}\n",
	       ulp_err ? strerror(ulp_err) : "", before, after, back,
	       ok && before == n && after == n && back == n ? "true" : "false");
	close(c);
	close(s);
}

/* One 64 KiB write() of the stream at *done on a nonblocking socket, retried
 * while it would block; returns what it took (exits the child on an error). */
static size_t nb_write_chunk(int fd, size_t *done)
{
	uint8_t buf[65536];

	fill(buf, *done, sizeof(buf));
	for (int tries = 0; tries < 10000; tries++) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w < 0 && errno == EAGAIN) {
			msleep(1);
			continue;
		}
		if (w <= 0)
			break;
		*done += (size_t)w;
		return (size_t)w;
	}
	_exit(1);
}

/* The exact moment a direction towards an app may start redirecting. A
 * nonblocking sidecar fills TCP's buffers before the app reads anything (the
 * bytes go over TCP), so one write() comes back short; it writes one more
 * chunk, then the app reads all but the last few KiB, and the sidecar writes
 * a little more. Those last bytes must wait behind the unread TCP bytes (on
 * TCP, and with meshcut: a redirect now would be read first). */
static void sc_early_short(void)
{
	int c, s, st = 0, up[2], down[2];
	size_t total = 0, got, tail = 4096;
	bool ok = true;
	uint8_t buf[65536];
	pid_t pid;

	connect_accept(&c, &s);
	if (pipe(up) || pipe(down))
		die("pipe");
	pid = fork();
	if (pid == 0) { /* the sidecar */
		size_t done = 0;
		char go;

		fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
		while (nb_write_chunk(c, &done) == sizeof(buf)) /* until one comes back short */
			;
		if (write(up[1], &done, sizeof(done)) != sizeof(done) || read(down[0], &go, 1) != 1)
			_exit(1);
		nb_write_chunk(c, &done); /* one more chunk */
		if (write(up[1], &done, sizeof(done)) != sizeof(done) || read(down[0], &go, 1) != 1)
			_exit(1);
		fill(buf, done, tail); /* a little more, once the app is nearly done */
		if (write(c, buf, tail) != (ssize_t)tail)
			_exit(1);
		shutdown(c, SHUT_WR);
		_exit(0);
	}
	close(up[1]); /* a sidecar that fails: reads below see end of file */
	close(down[0]);
	if (read(up[0], &total, sizeof(total)) != sizeof(total))
		die("sidecar");
	got = recv_exact(s, 0, 512u << 10, &ok); /* room for one more chunk */
	if (write(down[1], "g", 1) != 1 || read(up[0], &total, sizeof(total)) != sizeof(total))
		die("sidecar");
	got += recv_exact(s, got, total - 2 * tail - got, &ok); /* all but the last 8 KiB */
	if (write(down[1], "g", 1) != 1)
		die("sidecar");
	msleep(50);
	got += recv_exact(s, got, total + tail - got, &ok);
	waitpid(pid, &st, 0);
	printf("{\"scenario\":\"early_short\",\"got\":%zu,\"intact\":%s,\"writer_ok\":%s}\n", got,
	       ok && got == total + tail ? "true" : "false",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "true" : "false");
	close(up[0]);
	close(down[1]);
	close(c);
	close(s);
}

/* read() until n bytes came (no MSG_WAITALL: that moves a pair to TCP; read,
 * not recv, so that it works on a pipe too) */
static bool read_n(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* One hop's round trip: the sidecar sends 64 bytes, the app answers 64, 20000
 * times (after 2000 to warm up); prints the mean in microseconds. A probe for
 * what a single redirected hop saves on this machine, not a test. The app
 * reads app_in and answers on app_out; the sidecar writes side_out and reads
 * side_in (one socket per side, or two pipes). */
static void pingpong(const char *name, int app_in, int app_out, int side_out, int side_in)
{
	int n = 20000, warm = 2000;
	char buf[64] = {0};
	struct timespec t0 = {0}, t1;
	pid_t pid;

	pid = fork();
	if (pid == 0) { /* the app: answer every message */
		for (int i = 0; i < n + warm; i++)
			if (!read_n(app_in, buf, sizeof(buf)) ||
			    write(app_out, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				_exit(1);
		_exit(0);
	}
	for (int i = 0; i < n + warm; i++) {
		if (i == warm)
			clock_gettime(CLOCK_MONOTONIC, &t0);
		if (write(side_out, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
		    !read_n(side_in, buf, sizeof(buf)))
			die("round trip");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waitpid(pid, NULL, 0);
	printf("{\"scenario\":\"%s\",\"round_trips\":%d,\"mean_us\":%.2f}\n", name, n,
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n);
}

static void sc_pingpong(void)
{
	int c, s;

	pair(&c, &s); /* --app-reads: c is the app's socket */
	pingpong("pingpong", c, c, s, s);
	close(c);
	close(s);
}

/* The same round trip over two pipes: the cheapest way two processes move
 * bytes (syscalls, a wakeup, a context switch and a copy, nothing more), so
 * the floor under any socket shortcut: what is left there, none can remove. */
static void sc_pingpong_pipe(void)
{
	int ask[2], answer[2];

	if (pipe(ask) < 0 || pipe(answer) < 0)
		die("pipe");
	pingpong("pingpong_pipe", ask[0], answer[1], ask[1], answer[0]);
	for (int i = 0; i < 2; i++) {
		close(ask[i]);
		close(answer[i]);
	}
}

/* What a socket sent over TCP: its data segments (no bare FIN or ACK) and
 * bytes, from TCP_INFO's tcpi_data_segs_out and tcpi_bytes_sent (offsets 156
 * and 200 in linux/tcp.h's struct tcp_info, an append-only ABI; glibc's
 * struct stops before them, and the two headers clash). A redirected message
 * never becomes a segment. -1: the kernel's tcp_info is shorter (before 4.19). */
static void tcp_sent(int fd, long long *segs, long long *bytes)
{
	uint8_t info[256] = {0};
	socklen_t len = sizeof(info);
	uint32_t sg;
	uint64_t b;

	*segs = *bytes = -1;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) || len < 208)
		return;
	memcpy(&sg, info + 156, sizeof(sg));
	memcpy(&b, info + 200, sizeof(b));
	*segs = sg;
	*bytes = (long long)b;
}

/* One request on a new connection (HTTP/1.0, Connection: close, a health
 * check): the sidecar sends a 300-byte request to the app, the app reads it
 * with read() and answers 3000 bytes, then closes; the sidecar reads to the
 * end. No warm-up: the request is the connection's first byte towards the
 * app. Reports what each way sent over TCP. */
static void sc_one_request(void)
{
	long long to_app_segs, to_app_bytes, from_app_segs, from_app_bytes;
	char req[300];
	int c, s, err;
	size_t got;
	bool ok, req_ok;

	connect_accept(&c, &s); /* c: the sidecar (5), s: the app (6) */
	write_all(c, 0, sizeof(req));
	req_ok = read_n(s, req, sizeof(req)) && check((uint8_t *)req, 0, sizeof(req));
	write_all(s, 0, 3000);
	tcp_sent(s, &from_app_segs, &from_app_bytes);
	close(s);
	got = read_all(c, 0, &ok, &err, read_timeout_ms);
	tcp_sent(c, &to_app_segs, &to_app_bytes);
	printf("{\"scenario\":\"one_request\",\"app_got\":%s,\"client_got\":%zu,\"intact\":%s,"
	       "\"to_app_tcp_segs\":%lld,\"to_app_tcp_bytes\":%lld,"
	       "\"from_app_tcp_segs\":%lld,\"from_app_tcp_bytes\":%lld,\"errno\":\"%s\"}\n",
	       req_ok ? "true" : "false", got, req_ok && ok && got == 3000 ? "true" : "false",
	       to_app_segs, to_app_bytes, from_app_segs, from_app_bytes, err ? strerror(err) : "");
	close(c);
}

/* An edge-triggered reader that takes a short read for "drained", as HAProxy
 * and nginx do, while the sidecar's direction towards it leaves the shortcut
 * (the node's backlog limit is low for this scenario: semantics.t sets it).
 * The sidecar writes 120,000 bytes in two sends (redirected: they wait in the
 * app's psock while it sleeps), then 20,000 more, which go over TCP, and
 * keeps the connection open. The app reads 16 KiB at a time after each edge
 * until a read comes back short. tcp_bpf's recv returns redirected bytes
 * alone: the read that empties the psock is short although TCP bytes wait,
 * and no new edge comes if they all arrived before. A wait of 3 s for an edge
 * while bytes are missing is a stall; the reader then reads on to the end (so
 * the scenario ends) and counts it. The writer's retransmissions (TCP_INFO)
 * show whether its TCP bytes were held back. */
static void sc_edge_reader(void)
{
	enum { FIRST = 60000, TCP_PART = 20000, CHUNK = 16384 };
	/* with a gate, the pair leaves after the first FIRST bytes, not after
	 * two (the backlog limit): the second FIRST is not sent */
	const size_t TOTAL = (gate ? 1 : 2) * FIRST + TCP_PART;
	uint8_t buf[CHUNK];
	int c, s, ep, stalls = 0, err = 0, done_pipe[2], written_pipe[2];
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
	struct pollfd wp;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	size_t got = 0;
	bool ok = true;
	pid_t pid;
	char b;

	pair(&c, &s);
	if (pipe(done_pipe) || pipe(written_pipe))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		close(done_pipe[1]);
		write_all(s, 0, FIRST);
		if (gate) { /* the test moves the pair to TCP meanwhile */
			int i;

			fprintf(stderr, "first bytes written\n");
			for (i = 0; i < 1500 && access(gate, F_OK); i++)
				msleep(20);
		} else {
			msleep(20);
			write_all(s, FIRST, FIRST);
		}
		msleep(20);
		write_all(s, TOTAL - TCP_PART, TCP_PART); /* fits TCP's first window */
		if (write(written_pipe[1], "w", 1) != 1)
			_exit(1);
		/* no FIN: an edge it would bring must not end the stall */
		if (read(done_pipe[0], &b, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(done_pipe[0]);
	close(written_pipe[1]);
	/* the reader starts once every byte is on its way, however late the
	 * writer ran on a busy machine */
	wp = (struct pollfd){.fd = written_pipe[0], .events = POLLIN};
	if (poll(&wp, 1, gate ? 40000 : 10000) != 1 || read(written_pipe[0], &b, 1) != 1)
		die("writer");
	msleep(50);
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	ep = epoll_create1(0);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev))
		die("epoll");
	while (got < TOTAL && stalls < 5) {
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 3000);
		bool stalled = n == 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		stalls += stalled;
		for (;;) {
			ssize_t r = read(c, buf, sizeof(buf));

			if (r < 0 && errno == EAGAIN)
				break;
			if (r <= 0) {
				err = r < 0 ? errno : 0;
				goto out;
			}
			if (!check(buf, got, (size_t)r))
				ok = false;
			got += (size_t)r;
			/* a short read means "drained" for this reader, unless it
			 * is catching up after a stall */
			if ((size_t)r < sizeof(buf) && !stalled)
				break;
		}
	}
out:
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl))
		memset(&ti, 0, sizeof(ti));
	if (write(done_pipe[1], "x", 1) < 0)
		err = errno;
	waitpid(pid, NULL, 0);
	printf("{\"scenario\":\"edge_reader\",\"got\":%zu,\"intact\":%s,\"stalls\":%d,"
	       "\"writer_retransmits\":%u,\"errno\":\"%s\"}\n",
	       got, ok && got == TOTAL ? "true" : "false", stalls, ti.tcpi_total_retrans,
	       err ? strerror(err) : "");
	close(ep);
	close(c);
	close(s);
	close(done_pipe[1]);
	close(written_pipe[0]);
}

static void sc_echo(void)
{
	int c, s, cerr, serr;
	bool cok, sok;
	size_t sgot, cgot;

	pair(&c, &s);
	write_all(c, 0, 1 << 20);
	shutdown(c, SHUT_WR);
	sgot = read_all(s, 0, &sok, &serr, 2000);
	write_all(s, 0, sgot);
	shutdown(s, SHUT_WR);
	cgot = read_all(c, 0, &cok, &cerr, 2000);
	printf("{\"scenario\":\"echo\",\"server_got\":%zu,\"client_got\":%zu,\"intact\":%s}\n", sgot,
	       cgot, sok && cok ? "true" : "false");
	close(c);
	close(s);
}

/* The app's redirected bytes wait unread while the test changes the node
 * (sockethooks.t: a mode without the socket shortcut must keep the hooks that
 * count them): the sidecar writes 256 KiB the app does not read, says
 * "holding" on stderr and waits for a line on stdin; then it writes 64 KiB
 * more (over TCP once the pair left the shortcut) and shuts down its side;
 * the app reads every byte, in order, and the end. The result is printed
 * at once; both sockets stay open until stdin ends. */
static void sc_hold_unread(void)
{
	int c, s, err;
	bool ok;
	size_t got, sent;
	char line[16];

	pair(&c, &s); /* --app-reads: c is the app, s the sidecar */
	sent = write_all(s, 0, 262144);
	fprintf(stderr, "holding\n");
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	sent += write_all(s, sent, 65536);
	shutdown(s, SHUT_WR);
	got = read_all(c, 0, &ok, &err, read_timeout_ms);
	printf("{\"scenario\":\"hold_unread\",\"sent\":%zu,\"got\":%zu,\"intact\":%s,"
	       "\"errno\":\"%s\"}\n",
	       sent, got, ok && !err && got == sent && sent == 327680 ? "true" : "false",
	       err ? strerror(err) : "");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	close(c);
	close(s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"scenario", 1, 0, 'S'}, {"addr", 1, 0, 'a'}, {"port", 1, 0, 'p'},
		{"src", 1, 0, 's'},      {"uid", 1, 0, 'u'},  {"pause-ms", 1, 0, 'P'},
		{"app-reads", 0, 0, 'A'}, {"memcg", 1, 0, 'M'}, {"read-timeout-ms", 1, 0, 'T'},
		{"gate", 1, 0, 'G'}, {0, 0, 0, 0},
	};
	const char *sc = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'S': sc = optarg; break;
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 's': src = optarg; break;
		case 'u': uid = atoi(optarg); break;
		case 'P': pause_ms = atoi(optarg); break;
		case 'A': app_reads = true; break;
		case 'M': memcg_procs = optarg; break;
		case 'T': read_timeout_ms = atoi(optarg); break;
		case 'G': gate = optarg; break;
		default: return 2;
		}
	}
	if (!sc)
		return 2;
#define RUN(n) if (!strcmp(sc, #n)) { sc_##n(); return 0; }
	RUN(half_close) RUN(rst_unread) RUN(peek) RUN(rcvlowat) RUN(waitall) RUN(fionread)
	RUN(splice) RUN(close_unread) RUN(echo) RUN(woken_reader) RUN(splice_app) RUN(rcvmem)
	RUN(early_stream) RUN(early_short) RUN(pingpong) RUN(pingpong_pipe)
	RUN(fin_late_reader) RUN(fin_mixed_senders) RUN(ulp) RUN(one_request) RUN(edge_reader)
	RUN(hold_unread)
	fprintf(stderr, "sockcompat: unknown scenario %s\n", sc);
	return 2;
}
