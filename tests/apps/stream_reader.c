/* stream_reader: read() / splice() / MSG_PEEK receive paths (see stream_reader.h). */
#include "stream_reader.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int stream_reader_init(struct stream_reader *r, int fd, bool use_splice, bool peek, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->use_splice = use_splice;
	r->peek = peek;
	r->max = max;
	r->pipefd[0] = r->pipefd[1] = -1;
	if (use_splice) {
		if (pipe2(r->pipefd, O_CLOEXEC))
			return -1;
		/* A bigger pipe means fewer splice calls; the default is 64 KiB and
		 * 1 MiB is the unprivileged maximum. Failure just keeps the default. */
		fcntl(r->pipefd[1], F_SETPIPE_SZ, 1 << 20);
		int sz = fcntl(r->pipefd[1], F_GETPIPE_SZ);
		r->pipe_size = sz > 0 ? (size_t)sz : 65536;
	}
	if (peek && !(r->scratch = malloc(max ? max : 1)))
		return -1;
	return 0;
}

void stream_reader_free(struct stream_reader *r)
{
	if (r->pipefd[0] >= 0)
		close(r->pipefd[0]);
	if (r->pipefd[1] >= 0)
		close(r->pipefd[1]);
	free(r->scratch);
	r->scratch = NULL;
}

/* EAGAIN from a read() on a blocking socket: tcp_bpf (sockmap) returns it when
 * a blocked reader is woken without data, e.g. by its own socket's writer
 * getting buffer space. TCP never does; meshcut documents it. Counted and
 * retried, so integrity checks see the data and the report shows the count. */
atomic_uint_least64_t stream_reader_eagain;

static ssize_t plain_read(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0 || (errno != EINTR && errno != EAGAIN))
			return k;
		if (errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLIN};

			atomic_fetch_add(&stream_reader_eagain, 1);
			poll(&p, 1, 100);
		}
	}
}

/* The consuming read: read(), or splice() into the pipe and read the pipe. */
static ssize_t consume(struct stream_reader *r, void *buf, size_t n)
{
	ssize_t k;

	if (!r->use_splice)
		return plain_read(r->fd, buf, n);
	if (n > r->pipe_size)
		n = r->pipe_size;
	do
		k = splice(r->fd, NULL, r->pipefd[1], NULL, n, SPLICE_F_MOVE);
	while (k < 0 && errno == EINTR);
	if (k <= 0)
		return k;
	/* The pipe was empty, so it now holds exactly these k bytes. */
	for (size_t got = 0; got < (size_t)k;) {
		ssize_t m = plain_read(r->pipefd[0], (char *)buf + got, (size_t)k - got);
		if (m <= 0) {
			r->error = "pipe read failed after splice";
			errno = m ? errno : EIO;
			return -1;
		}
		got += (size_t)m;
	}
	return k;
}

ssize_t stream_reader_read(struct stream_reader *r, void *buf, size_t n)
{
	ssize_t k;

	if (n > r->max)
		n = r->max;
	if (!r->peek)
		return consume(r, buf, n);
	do
		k = recv(r->fd, buf, n, MSG_PEEK);
	while (k < 0 && errno == EINTR);
	if (k <= 0)
		return k;
	/* Peeked bytes stay queued: consuming k bytes must return the same ones. */
	for (size_t got = 0; got < (size_t)k;) {
		ssize_t m = consume(r, r->scratch + got, (size_t)k - got);
		if (m <= 0) {
			r->error = "bytes seen by MSG_PEEK could not be read";
			errno = m ? errno : EIO;
			return -1;
		}
		got += (size_t)m;
	}
	if (memcmp(buf, r->scratch, (size_t)k) != 0) {
		r->error = "read returned other bytes than MSG_PEEK";
		errno = EIO;
		return -1;
	}
	return k;
}

ssize_t stream_reader_read_full(struct stream_reader *r, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = stream_reader_read(r, (char *)buf + got, n - got);
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}
