/*
 * connstorm: many short TCP connections, to prove that meshcut's maps and the
 * sockets' memory return to where they were. Each connection sends one HTTP
 * request and ends in one of three ways, in turn: a normal close after the
 * answer, a reset (SO_LINGER 0) before reading it, or a close right after
 * connecting; --never N adds N connects to a closed port (never established).
 *   connstorm --connect IP:PORT -n N [-c THREADS] [--never N --closed IP:PORT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in target, closed_target;
static atomic_long next_conn, n_total, n_ok, n_rst, n_early, n_fail, n_never;
/* why connects and writes failed: the errno of the last failure, and how many
 * failures were EADDRNOTAVAIL (no local port left: a limit of the client,
 * not of the path) */
static atomic_int last_errno;
static atomic_long n_noport;

static void failed(void)
{
	atomic_fetch_add(&n_fail, 1);
	atomic_store(&last_errno, errno);
	if (errno == EADDRNOTAVAIL)
		atomic_fetch_add(&n_noport, 1);
}

static int parse(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void one(long i)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[4096];

	if (fd < 0 || connect(fd, (struct sockaddr *)&target, sizeof(target))) {
		failed();
		if (fd >= 0)
			close(fd);
		return;
	}
	switch (i % 3) {
	case 0: /* request, whole answer, normal close */
		if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
			failed();
			break;
		}
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		atomic_fetch_add(&n_ok, 1);
		break;
	case 1: { /* request, then a reset before the answer is read */
		struct linger lg = {1, 0};

		if (write(fd, req, sizeof(req) - 1) < 0)
			failed();
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		atomic_fetch_add(&n_rst, 1);
		break;
	}
	default: /* connect, close at once */
		atomic_fetch_add(&n_early, 1);
		break;
	}
	close(fd);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		long i = atomic_fetch_add(&next_conn, 1);

		if (i >= n_total)
			break;
		one(i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long never = 0;
	int threads = 8, i;
	pthread_t t[64];

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--connect") && parse(argv[i + 1], &target))
			return 2;
		else if (!strcmp(argv[i], "-n"))
			n_total = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "-c"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--never"))
			never = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--closed") && parse(argv[i + 1], &closed_target))
			return 2;
	}
	if (!target.sin_port || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: connstorm --connect IP:PORT -n N [-c THREADS] [--never N --closed IP:PORT]\n");
		return 2;
	}
	for (i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	for (long k = 0; k < never && closed_target.sin_port; k++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&closed_target, sizeof(closed_target)) && errno == ECONNREFUSED)
			atomic_fetch_add(&n_never, 1);
		close(fd);
	}
	printf("{\"connections\":%ld,\"normal\":%ld,\"reset\":%ld,\"closed_early\":%ld,\"failed\":%ld,\"never_established\":%ld"
	       ",\"failed_no_local_port\":%ld,\"last_error\":\"%s\"}\n",
	       (long)n_total, (long)n_ok, (long)n_rst, (long)n_early, (long)n_fail, (long)n_never,
	       (long)n_noport, n_fail ? strerror(last_errno) : "");
	return 0;
}
