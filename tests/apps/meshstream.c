/* meshstream: the client of meshapp's stream service (stream_service.h). It
 * pushes and pulls deterministic byte streams (stream_data.h) through whatever
 * sits in between - sidecar proxies, eBPF redirection - and checks every byte
 * at its offset, so a lost, duplicated or reordered byte is reported exactly.
 *
 *   echo    send N bytes in random-size writes while a second thread reads
 *           them back and checks them; half-close; expect EOF after N bytes
 *   sink    send N bytes; the server checks them and returns their SHA-256
 *   source  the server sends N bytes in random-size writes; check them
 *   rr      ping-pong of SIZE bytes, COUNT times; report latency percentiles
 *
 * Exit status: 0 ok, 1 data mismatch / short stream / server said BAD,
 * 2 usage or connect error, 3 --timeout expired.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "stream_data.h"
#include "stream_reader.h"

#define MAX_MSG (64ull << 20) /* the server's STREAM_MAX_MSG */

enum mode { MODE_NONE = -1, MODE_ECHO, MODE_SINK, MODE_SOURCE, MODE_RR };
static const char *const mode_names[] = { "echo", "sink", "source", "rr" };

static struct opts {
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	enum mode mode;
	uint64_t bytes, min_msg, max_msg, seed, size_seed, slow_us, read_size, count, size;
	uint64_t slow_after; /* the reader is slow only after this many bytes */
	bool size_seed_set, half_close, json, use_splice, peek, strict_service, fin_after_echo;
	double timeout;
	int64_t corrupt_at; /* -1, or the stream offset of a byte to damage */
} o = {
	.mode = MODE_NONE, .bytes = 16ull << 20, .min_msg = 1, .max_msg = 64 << 10, .seed = 1,
	.read_size = 64 << 10, .count = 1000, .size = 1, .corrupt_at = -1,
};

/* Progress, shared with the writer thread and the timeout watchdog. */
static atomic_uint_least64_t sent, received;

struct result {
	bool ok;
	int64_t first_mismatch;
	double seconds;
	char error[256];
	char sha256[65];    /* sink: what we computed */
	double *rtt_us;     /* rr */
	uint64_t rtt_count; /* rr: completed round trips */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void set_error(struct result *res, const char *what, const char *why)
{
	if (!res->error[0]) /* keep the first cause, later ones are consequences */
		snprintf(res->error, sizeof(res->error), "%s: %s", what, why);
}

/* ---- output ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array: the smallest value with at
 * least p% of the samples at or below it. */
static double percentile(const double *v, uint64_t n, uint64_t p)
{
	uint64_t rank = (p * n + 99) / 100;
	return n ? v[rank ? rank - 1 : 0] : 0;
}

static void print_rr(const struct result *res)
{
	uint64_t n = res->rtt_count;
	double sum = 0;

	qsort(res->rtt_us, n, sizeof(double), cmp_double);
	for (uint64_t i = 0; i < n; i++)
		sum += res->rtt_us[i];
	double mean = n ? sum / (double)n : 0, p50 = percentile(res->rtt_us, n, 50),
	       p90 = percentile(res->rtt_us, n, 90), p99 = percentile(res->rtt_us, n, 99),
	       max = n ? res->rtt_us[n - 1] : 0;
	if (o.json) {
		printf("{\"mode\":\"rr\",\"count\":%" PRIu64 ",\"size\":%" PRIu64
		       ",\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f"
		       ",\"max_us\":%.1f,\"ok\":%s,\"first_mismatch\":%" PRId64,
		       n, o.size, mean, p50, p90, p99, max, res->ok ? "true" : "false",
		       res->first_mismatch);
		if (res->error[0]) {
			printf(",\"error\":");
			json_str(stdout, res->error);
		}
		printf("}\n");
	} else {
		printf("rr %s: %" PRIu64 " round trips of %" PRIu64 " B: mean %.1f us, p50 %.1f, "
		       "p90 %.1f, p99 %.1f, max %.1f",
		       res->ok ? "ok" : "FAILED", n, o.size, mean, p50, p90, p99, max);
		if (res->first_mismatch >= 0)
			printf(", first mismatch at offset %" PRId64, res->first_mismatch);
		printf("%s%s\n", res->error[0] ? ", " : "", res->error);
	}
}

static void print_stream(const struct result *res)
{
	uint64_t s = atomic_load(&sent), r = atomic_load(&received);
	/* Payload rate in megabits per second: what crossed the wire one way. */
	double payload = (double)(o.mode == MODE_SINK ? s : r);
	double mbps = res->seconds > 0 ? payload * 8 / res->seconds / 1e6 : 0;
	const char *reader = o.use_splice ? "splice" : "read";

	if (o.json) {
		printf("{\"mode\":\"%s\",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		       ",\"ok\":%s,\"first_mismatch\":%" PRId64 ",\"seconds\":%.6f,\"mbps\":%.1f"
		       ",\"reader\":\"%s\",\"peek\":%s,\"eagain\":%" PRIu64,
		       mode_names[o.mode], s, r, res->ok ? "true" : "false", res->first_mismatch,
		       res->seconds, mbps, reader, o.peek ? "true" : "false",
		       (uint64_t)atomic_load(&stream_reader_eagain));
		if (res->sha256[0])
			printf(",\"sha256\":\"%s\"", res->sha256);
		if (res->error[0]) {
			printf(",\"error\":");
			json_str(stdout, res->error);
		}
		printf("}\n");
	} else {
		printf("%s %s: sent %" PRIu64 " B, received %" PRIu64 " B in %.3f s (%.1f Mbit/s, "
		       "reader %s%s)",
		       mode_names[o.mode], res->ok ? "ok" : "FAILED", s, r, res->seconds, mbps, reader,
		       o.peek ? "+peek" : "");
		if (res->first_mismatch >= 0)
			printf(", first mismatch at offset %" PRId64, res->first_mismatch);
		printf("%s%s\n", res->error[0] ? ", " : "", res->error);
	}
}

/* ---- timeout ---- */

static void *watchdog(void *arg)
{
	(void)arg;
	sleep_us((uint64_t)(o.timeout * 1e6));
	if (o.json)
		printf("{\"mode\":\"%s\",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		       ",\"ok\":false,\"error\":\"timeout after %g s\"}\n",
		       mode_names[o.mode], (uint64_t)atomic_load(&sent),
		       (uint64_t)atomic_load(&received), o.timeout);
	else
		printf("%s FAILED: timeout after %g s (sent %" PRIu64 " B, received %" PRIu64 " B)\n",
		       mode_names[o.mode], o.timeout, (uint64_t)atomic_load(&sent),
		       (uint64_t)atomic_load(&received));
	fflush(stdout);
	_exit(3);
}

/* ---- the pieces the modes share ---- */

static int send_line(int fd, struct result *res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int send_line(int fd, struct result *res, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (net_write_all(fd, line, (size_t)n)) {
		set_error(res, "send command", strerror(errno));
		return -1;
	}
	return 0;
}

/* Send o.bytes of the stream in writes of random size; hash them if ctx.
 * Returns 0, or -1 with the error in res. */
static int send_stream(int fd, EVP_MD_CTX *ctx, struct result *res)
{
	struct size_rng rng;
	unsigned char *buf = malloc(o.max_msg);
	uint64_t off = 0;

	if (!buf) {
		set_error(res, "send", "out of memory");
		return -1;
	}
	size_rng_init(&rng, o.size_seed);
	while (off < o.bytes) {
		uint64_t n = size_rng_range(&rng, o.min_msg, o.max_msg);
		if (n > o.bytes - off)
			n = o.bytes - off;
		stream_fill(o.seed, off, buf, n);
		if (o.corrupt_at >= 0 && (uint64_t)o.corrupt_at - off < n)
			buf[(uint64_t)o.corrupt_at - off] ^= 0xff; /* negative tests */
		if (ctx)
			EVP_DigestUpdate(ctx, buf, n);
		if (net_write_all(fd, buf, n)) {
			set_error(res, "send", strerror(errno));
			break;
		}
		off += n;
		atomic_store(&sent, off);
	}
	free(buf);
	return off == o.bytes ? 0 : -1;
}

/* Read to EOF checking every byte; stops at the first mismatch. */
static void receive_stream(struct stream_reader *rd, struct result *res)
{
	unsigned char *buf = malloc(o.read_size);
	uint64_t off = 0;
	ssize_t k;

	if (!buf) {
		set_error(res, "receive", "out of memory");
		return;
	}
	while ((k = stream_reader_read(rd, buf, o.read_size)) > 0) {
		int64_t bad = stream_verify(o.seed, off, buf, (size_t)k);
		if (bad >= 0) {
			res->first_mismatch = bad;
			/* A server that refused the command answers in words. */
			if (off == 0 && k > 4 && memcmp(buf, "ERR ", 4) == 0) {
				buf[k - 1] = '\0';
				set_error(res, "server", (char *)buf + 4);
			}
			break;
		}
		off += (uint64_t)k;
		atomic_store(&received, off);
		if (o.slow_us && atomic_load(&received) >= o.slow_after)
			sleep_us(o.slow_us);
	}
	if (k < 0)
		set_error(res, "receive", rd->error ? rd->error : strerror(errno));
	free(buf);
}

/* ---- modes ---- */

struct writer_arg {
	int fd;
	struct result res; /* the writer's own errors */
};

static atomic_bool echo_rx_done; /* the echo's reader stopped (EOF or error) */

static void *echo_writer(void *p)
{
	struct writer_arg *w = p;

	send_stream(w->fd, NULL, &w->res);
	/* --fin-after-echo: no FIN while our bytes still queue on their way */
	while (o.fin_after_echo && !w->res.error[0] && atomic_load(&received) < o.bytes &&
	       !atomic_load(&echo_rx_done))
		sleep_us(1000);
	/* Our FIN tells the server to finish; it echoes its FIN back after the data. */
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

static void run_echo(int fd, struct stream_reader *rd, struct result *res)
{
	struct writer_arg w = { .fd = fd };
	pthread_t t;

	if (send_line(fd, res, o.strict_service ? "ECHO STRICT\n" : "ECHO\n"))
		return;
	if ((errno = pthread_create(&t, NULL, echo_writer, &w))) {
		set_error(res, "thread", strerror(errno));
		return;
	}
	receive_stream(rd, res);
	atomic_store(&echo_rx_done, true);
	if (res->first_mismatch >= 0 || res->error[0])
		shutdown(fd, SHUT_RDWR); /* unblock a writer stuck on a full window */
	pthread_join(t, NULL);
	if (w.res.error[0])
		set_error(res, "writer", w.res.error);
	if (!res->error[0] && res->first_mismatch < 0 && atomic_load(&received) != o.bytes)
		set_error(res, "short stream", "EOF before all bytes came back");
	res->ok = !res->error[0] && res->first_mismatch < 0 && atomic_load(&sent) == o.bytes &&
		  atomic_load(&received) == o.bytes;
}

static void run_sink(int fd, struct result *res)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char reply[256];
	ssize_t n;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		set_error(res, "sha256", "cannot initialise");
		goto out;
	}
	if (send_line(fd, res, "SINK %" PRIu64 " %" PRIu64 "\n", o.bytes, o.seed))
		goto out;
	/* Even if sending fails, the server may have said why: read its reply. */
	bool sent_all = send_stream(fd, ctx, res) == 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(res->sha256 + 2 * i, "%02x", md[i]);
	if (o.half_close)
		shutdown(fd, SHUT_WR);

	n = net_read_full(fd, reply, sizeof(reply) - 1); /* the server closes after the line */
	if (n < 0) {
		set_error(res, "reading the reply", strerror(errno));
		goto out;
	}
	reply[n] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	if (strncmp(reply, "OK ", 3) == 0) {
		if (strcmp(reply + 3, res->sha256) != 0)
			set_error(res, "sha256 differs, server saw", reply + 3);
	} else if (strncmp(reply, "BAD ", 4) == 0) {
		res->first_mismatch = strtoll(reply + 4, NULL, 10);
		set_error(res, "server", "BAD");
	} else {
		set_error(res, "unexpected reply", n ? reply : "(none)");
	}
	res->ok = sent_all && !res->error[0];
out:
	EVP_MD_CTX_free(ctx);
}

static void run_source(int fd, struct stream_reader *rd, struct result *res)
{
	if (send_line(fd, res, "SOURCE %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		      o.seed, o.bytes, o.min_msg, o.max_msg, o.size_seed))
		return;
	if (o.half_close) /* the server must still send everything */
		shutdown(fd, SHUT_WR);
	receive_stream(rd, res);
	if (!res->error[0] && res->first_mismatch < 0 && atomic_load(&received) != o.bytes)
		set_error(res, "short stream", atomic_load(&received) < o.bytes
						       ? "EOF before all bytes came"
						       : "more bytes than asked for");
	res->ok = !res->error[0] && res->first_mismatch < 0;
}

static void run_rr(int fd, struct stream_reader *rd, struct result *res)
{
	unsigned char *out = malloc(o.size), *in = malloc(o.size);

	res->rtt_us = calloc(o.count, sizeof(double));
	if (!out || !in || !res->rtt_us) {
		set_error(res, "rr", "out of memory");
		goto done;
	}
	if (send_line(fd, res, "RR %" PRIu64 "\n", o.size))
		goto done;
	for (uint64_t i = 0; i < o.count; i++) {
		/* Each round trip carries its own slice of the stream, so an answer
		 * from the wrong round shows up as a mismatch. */
		stream_fill(o.seed, i * o.size, out, o.size);
		double t0 = now();
		if (net_write_all(fd, out, o.size)) {
			set_error(res, "send", strerror(errno));
			break;
		}
		atomic_fetch_add(&sent, o.size);
		ssize_t k = stream_reader_read_full(rd, in, o.size);
		double t1 = now();
		if (k < 0) {
			set_error(res, "receive", rd->error ? rd->error : strerror(errno));
			break;
		}
		atomic_fetch_add(&received, (uint64_t)k);
		int64_t bad = stream_verify(o.seed, i * o.size, in, (size_t)k);
		if (bad >= 0) {
			res->first_mismatch = bad;
			break;
		}
		if ((uint64_t)k != o.size) {
			set_error(res, "short stream", "EOF in the middle of a round trip");
			break;
		}
		res->rtt_us[res->rtt_count++] = (t1 - t0) * 1e6;
	}
	if (o.half_close && !res->error[0]) { /* close politely: wait for the server's FIN */
		shutdown(fd, SHUT_WR);
		if (stream_reader_read(rd, in, o.size) != 0)
			set_error(res, "after half-close", "expected EOF");
	}
done:
	res->ok = !res->error[0] && res->first_mismatch < 0 && res->rtt_count == o.count;
	free(out);
	free(in);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshstream --connect HOST:PORT --mode echo|sink|source|rr [options]\n"
		"  --bytes N            stream length (echo, sink, source; default 16M)\n"
		"  --min-msg A          smallest write (default 1)\n"
		"  --max-msg B          largest write (default 64K, at most 64M)\n"
		"  --seed S             stream content (default 1)\n"
		"  --size-seed S        write sizes (default: the --seed value)\n"
		"  --slow-reader-us US  pause after every read (echo, source)\n"
		"  --slow-after N       ... once N bytes were read (default 0)\n"
		"  --read-size N        bytes per read (default 64K)\n"
		"  --count N            rr: round trips (default 1000)\n"
		"  --size N             rr: bytes per round trip (default 1)\n"
		"  --half-close         sink/source/rr: shutdown(SHUT_WR) once we have nothing\n"
		"                       more to send, then wait for the server (echo always does)\n"
		"  --fin-after-echo     echo: half-close only once every byte came back, so no\n"
		"                       FIN waits behind queued bytes (HAProxy 2.6 as a sidecar\n"
		"                       may then drop them: integrity.t)\n"
		"  --reader read|splice how to take bytes off the socket (default read)\n"
		"  --peek               MSG_PEEK every read first; the read must return the same\n"
		"  --timeout S          give up after S seconds (exit 3)\n"
		"  --json               one JSON line instead of text\n"
		"  --strict-service     echo: the service takes an EAGAIN from its blocking read()\n"
		"                       for an error, as a naive app would (default: it retries)\n"
		"  --corrupt-at OFF     echo/sink: flip the byte at stream offset OFF before\n"
		"                       sending it (proves that the checks catch damage)\n"
		"sizes take K, M, G suffixes (powers of 1024)\n"
		"exit: 0 ok, 1 mismatch/short stream/server BAD, 2 usage or connect error, 3 timeout\n");
}

/* A decimal number with an optional K/M/G suffix, within [min, max]. */
static int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	uint64_t v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (errno || *end || v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return *out < min || *out > max ? -1 : 0;
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, 0, 'c' },   { "mode", required_argument, 0, 'm' },
		{ "bytes", required_argument, 0, 'b' },     { "min-msg", required_argument, 0, 'a' },
		{ "max-msg", required_argument, 0, 'B' },   { "seed", required_argument, 0, 's' },
		{ "size-seed", required_argument, 0, 'S' }, { "slow-reader-us", required_argument, 0, 'w' },
		{ "slow-after", required_argument, 0, 'W' },
		{ "read-size", required_argument, 0, 'r' }, { "count", required_argument, 0, 'n' },
		{ "size", required_argument, 0, 'z' },      { "half-close", no_argument, 0, 'H' },
		{ "json", no_argument, 0, 'j' },            { "timeout", required_argument, 0, 't' },
		{ "reader", required_argument, 0, 'R' },    { "peek", no_argument, 0, 'p' },
		{ "corrupt-at", required_argument, 0, 'X' }, { "help", no_argument, 0, 'h' },
		{ "strict-service", no_argument, 0, 'T' }, { "fin-after-echo", no_argument, 0, 'F' },
		{ 0, 0, 0, 0 },
	};
	const char *connect_arg = NULL;
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': connect_arg = optarg; break;
		case 'm':
			o.mode = MODE_NONE;
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, mode_names[i]) == 0)
					o.mode = (enum mode)i;
			bad |= o.mode == MODE_NONE;
			break;
		case 'b': bad |= parse_size(optarg, 0, UINT64_MAX >> 1, &o.bytes); break;
		case 'a': bad |= parse_size(optarg, 1, MAX_MSG, &o.min_msg); break;
		case 'B': bad |= parse_size(optarg, 1, MAX_MSG, &o.max_msg); break;
		case 's': bad |= parse_size(optarg, 0, UINT64_MAX, &o.seed); break;
		case 'S':
			bad |= parse_size(optarg, 0, UINT64_MAX, &o.size_seed);
			o.size_seed_set = true;
			break;
		case 'w': bad |= parse_size(optarg, 0, UINT32_MAX, &o.slow_us); break;
		case 'W': bad |= parse_size(optarg, 0, UINT64_MAX, &o.slow_after); break;
		case 'r': bad |= parse_size(optarg, 1, MAX_MSG, &o.read_size); break;
		case 'n': bad |= parse_size(optarg, 1, UINT32_MAX, &o.count); break;
		case 'z': bad |= parse_size(optarg, 1, MAX_MSG, &o.size); break;
		case 'H': o.half_close = true; break;
		case 'F': o.fin_after_echo = true; break;
		case 'j': o.json = true; break;
		case 't': {
			char *end;
			o.timeout = strtod(optarg, &end);
			bad |= *end || !(o.timeout > 0);
			break;
		}
		case 'R':
			o.use_splice = strcmp(optarg, "splice") == 0;
			bad |= !o.use_splice && strcmp(optarg, "read") != 0;
			break;
		case 'p': o.peek = true; break;
		case 'T': o.strict_service = true; break;
		case 'X': {
			uint64_t v;
			bad |= parse_size(optarg, 0, INT64_MAX, &v);
			o.corrupt_at = (int64_t)v;
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
		if (bad) {
			fprintf(stderr, "meshstream: bad value for --%s: '%s'\n", argv[optind - 1] + 2,
				optarg);
			exit(2);
		}
	}
	if (optind != argc || !connect_arg || o.mode == MODE_NONE) {
		usage(stderr);
		exit(2);
	}
	if (net_split_hostport(connect_arg, false, o.host, o.port)) {
		fprintf(stderr, "meshstream: --connect wants HOST:PORT, not '%s'\n", connect_arg);
		exit(2);
	}
	if (o.min_msg > o.max_msg) {
		fprintf(stderr, "meshstream: --min-msg is larger than --max-msg\n");
		exit(2);
	}
	if (!o.size_seed_set)
		o.size_seed = o.seed;
}

int main(int argc, char **argv)
{
	struct result res = { .first_mismatch = -1 };
	struct stream_reader rd;
	char err[512];
	pthread_t wd;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN); /* a dead peer must be a reported error, not a kill */
	if (o.timeout > 0 && (errno = pthread_create(&wd, NULL, watchdog, NULL))) {
		fprintf(stderr, "meshstream: watchdog thread: %s\n", strerror(errno));
		return 2;
	}

	int fd = net_connect(o.host, o.port, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "meshstream: %s\n", err);
		return 2;
	}
	if (stream_reader_init(&rd, fd, o.use_splice, o.peek,
			       o.mode == MODE_RR ? o.size : o.read_size)) {
		fprintf(stderr, "meshstream: reader: %s\n", strerror(errno));
		return 2;
	}

	double t0 = now();
	switch (o.mode) {
	case MODE_ECHO: run_echo(fd, &rd, &res); break;
	case MODE_SINK: run_sink(fd, &res); break;
	case MODE_SOURCE: run_source(fd, &rd, &res); break;
	case MODE_RR: run_rr(fd, &rd, &res); break;
	case MODE_NONE: break; /* parse_args() refused it */
	}
	res.seconds = now() - t0;
	close(fd);
	stream_reader_free(&rd);

	if (o.mode == MODE_RR)
		print_rr(&res);
	else
		print_stream(&res);
	fflush(stdout);
	free(res.rtt_us);
	return res.ok ? 0 : 1;
}
