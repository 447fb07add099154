/* meshapp: the test service of the virtual cluster. Every pod runs one; the
 * sidecar proxies sit between them. It answers HTTP/1.1 (http_service.c),
 * calling its upstreams so a request's X-Trace shows the path it took, and
 * optionally a raw TCP byte-stream integrity service (stream_service.c).
 *
 * This file is the command line, the listening sockets and the
 * thread-per-connection accept loop. On start-up it prints one line to stdout,
 *   meshapp NAME listening http=ADDR:PORT [stream=ADDR:PORT]
 * which says it is ready and which ports it got (port 0 picks a free one).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "applog.h"
#include "http_service.h"
#include "net.h"
#include "stream_service.h"

/* Enough for getaddrinfo() (upstream reconnects resolve names) and our frames;
 * the big buffers are on the heap. Thousands of connections stay cheap. */
#define THREAD_STACK (256 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshapp --name NAME --listen [ADDR:]PORT [--upstream HOST:PORT]...\n"
		"               [--body BYTES] [--delay-us US] [--stream-port PORT] [--ipv6]\n"
		"  --name NAME          service name: X-Trace element and log prefix\n"
		"  --listen [ADDR:]PORT HTTP address (default ADDR 0.0.0.0, with --ipv6 ::)\n"
		"                       PORT 0 picks a free port (see the ready line)\n"
		"  --upstream HOST:PORT call it (GET /) for every request, in the given order\n"
		"  --body BYTES         response body size (default 64; ?size=N per request)\n"
		"  --delay-us US        pause before each answer\n"
		"  --stream-port PORT   also serve ECHO/SINK/SOURCE/RR on this port\n"
		"  --ipv6               default listen address :: (dual stack)\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

static void on_signal(int sig)
{
	(void)sig;
	_exit(0); /* nothing to flush or save: exit at once, whatever threads do */
}

/* File scope: the connection threads read it for the life of the process. */
static struct http_config cfg = { .body = 64 };

enum kind { KIND_HTTP, KIND_STREAM };

static void *conn_thread(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	int fd = (int)(v >> 1);

	if (v & 1)
		stream_service_serve(fd);
	else
		http_service_serve(fd);
	return NULL;
}

static void spawn(int fd, enum kind kind, const pthread_attr_t *attr)
{
	pthread_t t;
	/* fd and kind travel in the pointer: no allocation to leak or free. */
	uintptr_t arg = ((uintptr_t)fd << 1) | (kind == KIND_STREAM);
	int rc = pthread_create(&t, attr, conn_thread, (void *)arg);

	if (rc) {
		applog("cannot start a connection thread: %s", strerror(rc));
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, 0, 'n' },
		{ "listen", required_argument, 0, 'l' },
		{ "upstream", required_argument, 0, 'u' },
		{ "body", required_argument, 0, 'b' },
		{ "delay-us", required_argument, 0, 'd' },
		{ "stream-port", required_argument, 0, 's' },
		{ "ipv6", no_argument, 0, '6' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	char host[NET_HOST_MAX] = "", port[NET_PORT_MAX] = "", prefix[160];
	const char *listen_arg = NULL, *stream_port = NULL;
	bool ipv6 = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			cfg.name = optarg;
			break;
		case 'l':
			listen_arg = optarg;
			break;
		case 'u': {
			struct http_upstream *up = realloc(cfg.up, (size_t)(cfg.nup + 1) * sizeof(*up));
			if (!up)
				return 2;
			cfg.up = up;
			up = &cfg.up[cfg.nup++];
			memset(up, 0, sizeof(*up));
			if (strlen(optarg) >= sizeof(up->spec) ||
			    net_split_hostport(optarg, false, up->host, up->port)) {
				fprintf(stderr, "meshapp: --upstream wants HOST:PORT, not '%s'\n", optarg);
				return 2;
			}
			strcpy(up->spec, optarg);
			/* Host: as written by the user, so [v6] keeps its brackets. */
			size_t hostlen = (size_t)(strrchr(optarg, ':') - optarg);
			if (asprintf(&up->request, "GET / HTTP/1.1\r\nHost: %.*s\r\n\r\n", (int)hostlen,
				     optarg) < 0)
				return 2;
			up->request_len = strlen(up->request);
			break;
		}
		case 'b':
			if (parse_u64(optarg, HTTP_MAX_BODY, &cfg.body)) {
				fprintf(stderr, "meshapp: --body wants 0..%u\n", HTTP_MAX_BODY);
				return 2;
			}
			break;
		case 'd':
			if (parse_u64(optarg, UINT32_MAX, &cfg.delay_us)) {
				fprintf(stderr, "meshapp: bad --delay-us '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			if (parse_u64(optarg, 65535, &v)) {
				fprintf(stderr, "meshapp: bad --stream-port '%s'\n", optarg);
				return 2;
			}
			stream_port = optarg;
			break;
		case '6':
			ipv6 = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !cfg.name || !listen_arg) {
		usage(stderr);
		return 2;
	}
	/* The name goes into X-Trace unescaped: keep out what would break the
	 * header or the NAME(t1,t2) syntax. */
	if (!cfg.name[0] || cfg.name[strcspn(cfg.name, " \t\r\n(),!\"")] != '\0') {
		fprintf(stderr, "meshapp: --name must not be empty or contain blanks, ( ) , ! or \"\n");
		return 2;
	}
	if (net_split_hostport(listen_arg, true, host, port) || parse_u64(port, 65535, &v)) {
		fprintf(stderr, "meshapp: --listen wants [ADDR:]PORT, not '%s'\n", listen_arg);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "meshapp[%s]", cfg.name);
	applog_set_name(prefix);

	/* A peer that closes early must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (http_service_init(&cfg)) {
		applog("out of memory");
		return 1;
	}
	char err[512], http_name[80], stream_name[80] = "";
	struct pollfd pfd[2] = { { .fd = -1 }, { .fd = -1 } };
	pfd[0].fd = net_listen(host, port, ipv6, err, sizeof(err));
	if (pfd[0].fd < 0) {
		applog("%s", err);
		return 1;
	}
	net_local_name(pfd[0].fd, http_name, sizeof(http_name));
	if (stream_port) {
		pfd[1].fd = net_listen(host, stream_port, ipv6, err, sizeof(err));
		if (pfd[1].fd < 0) {
			applog("%s", err);
			return 1;
		}
		net_local_name(pfd[1].fd, stream_name, sizeof(stream_name));
	}
	pfd[0].events = pfd[1].events = POLLIN;
	printf("meshapp %s listening http=%s%s%s\n", cfg.name, http_name,
	       stream_port ? " stream=" : "", stream_name);
	fflush(stdout);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);

	for (;;) {
		if (poll(pfd, stream_port ? 2 : 1, -1) < 0) {
			if (errno != EINTR)
				applog("poll: %s", strerror(errno));
			continue;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & POLLIN))
				continue;
			int fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				    errno == ENOMEM) {
					/* Out of resources: back off instead of spinning. */
					applog("accept: %s", strerror(errno));
					usleep(10000);
				}
				continue;
			}
			net_nodelay(fd);
			spawn(fd, i ? KIND_STREAM : KIND_HTTP, &attr);
		}
	}
}
