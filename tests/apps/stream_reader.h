/* stream_reader: how meshstream takes bytes off a socket. The plain read() is
 * the default; the variants exist because socket redirection (sockmap/sk_msg)
 * serves some receive paths and not others, and the tests must be able to show
 * which:
 *   splice  socket -> pipe -> buffer, through splice(2) (tcp_read_sock path)
 *   peek    recv(MSG_PEEK) first, then consume the same bytes and require that
 *           both calls saw identical data
 * The two can be combined (peek, then consume through splice).
 */
#ifndef MESHCUT_TESTS_STREAM_READER_H
#define MESHCUT_TESTS_STREAM_READER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* blocking reads that returned EAGAIN and were retried (see stream_reader.c) */
extern atomic_uint_least64_t stream_reader_eagain;

struct stream_reader {
	int fd;
	bool use_splice, peek;
	int pipefd[2];
	size_t pipe_size;
	unsigned char *scratch; /* peek mode: the consumed copy */
	size_t max;
	const char *error; /* set when a read fails for a reason errno cannot say */
};

/* Prepare reads of at most max bytes from fd. Returns 0, or -1 (errno set). */
int stream_reader_init(struct stream_reader *r, int fd, bool use_splice, bool peek, size_t max);
void stream_reader_free(struct stream_reader *r);

/* Like read(): up to n (<= max) bytes, 0 at EOF, -1 on error (errno set, and
 * r->error when it is a data-consistency failure rather than an I/O error). */
ssize_t stream_reader_read(struct stream_reader *r, void *buf, size_t n);

/* Exactly n bytes unless EOF or error comes first; returns the count or -1. */
ssize_t stream_reader_read_full(struct stream_reader *r, void *buf, size_t n);

#endif
