/* Unit tests of agent/ratelimit: the token bucket, the connection limit, and
 * the agent's process-wide limits as agent/api/api.c uses them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/ratelimit.h"
#include "netns.h"

#define MS 1000000ull
#define SEC 1000000000ull

static void test_bucket_burst_then_rate(void **state)
{
	struct mc_ratelimit rl;
	uint64_t t = 1000 * SEC;
	uint32_t retry = 0;
	int i;

	(void)state;
	assert_int_equal(mc_ratelimit_init(&rl, 5, 1, 20, 16), 0);
	for (i = 0; i < 20; i++)
		assert_true(mc_ratelimit_take(&rl, 42, t, NULL));
	assert_false(mc_ratelimit_take(&rl, 42, t, &retry));
	assert_int_equal(retry, 200); /* one token per 200 ms */
	/* 199 ms later: still nothing; at 200 ms: exactly one */
	assert_false(mc_ratelimit_take(&rl, 42, t + 199 * MS, &retry));
	assert_int_equal(retry, 1);
	assert_true(mc_ratelimit_take(&rl, 42, t + 200 * MS, NULL));
	assert_false(mc_ratelimit_take(&rl, 42, t + 200 * MS, NULL));
	/* a second: 5 more */
	for (i = 0; i < 5; i++)
		assert_true(mc_ratelimit_take(&rl, 42, t + 1200 * MS, NULL));
	assert_false(mc_ratelimit_take(&rl, 42, t + 1200 * MS, NULL));
	/* a long pause refills to the burst, never beyond */
	for (i = 0; i < 20; i++)
		assert_true(mc_ratelimit_take(&rl, 42, t + 3600 * SEC, NULL));
	assert_false(mc_ratelimit_take(&rl, 42, t + 3600 * SEC, NULL));
	/* time going backwards (a clock the caller got wrong) grants nothing */
	assert_false(mc_ratelimit_take(&rl, 42, t, NULL));
	mc_ratelimit_fini(&rl);
}

static void test_bucket_keys_independent(void **state)
{
	struct mc_ratelimit rl;
	int i;

	(void)state;
	assert_int_equal(mc_ratelimit_init(&rl, 5, 1, 3, 16), 0);
	for (i = 0; i < 3; i++)
		assert_true(mc_ratelimit_take(&rl, 1, SEC, NULL));
	assert_false(mc_ratelimit_take(&rl, 1, SEC, NULL));
	/* another namespace is not affected */
	for (i = 0; i < 3; i++)
		assert_true(mc_ratelimit_take(&rl, 2, SEC, NULL));
	assert_false(mc_ratelimit_take(&rl, 2, SEC, NULL));
	assert_false(mc_ratelimit_take(&rl, 1, SEC, NULL));
	mc_ratelimit_fini(&rl);
}

static void test_bucket_table_full(void **state)
{
	struct mc_ratelimit rl;
	uint64_t k;

	(void)state;
	assert_int_equal(mc_ratelimit_init(&rl, 1, 1, 2, 4), 0);
	/* four keys drain their buckets */
	for (k = 1; k <= 4; k++) {
		assert_true(mc_ratelimit_take(&rl, k, SEC, NULL));
		assert_true(mc_ratelimit_take(&rl, k, SEC, NULL));
		assert_false(mc_ratelimit_take(&rl, k, SEC, NULL));
	}
	/* key 1 refills by t = 3 s; the others stay empty (drained at 2 s) */
	for (k = 2; k <= 4; k++)
		assert_true(mc_ratelimit_take(&rl, k, 2 * SEC, NULL));
	/* a fifth key evicts key 1, whose bucket is full again: nothing lost */
	assert_true(mc_ratelimit_take(&rl, 5, 3 * SEC, NULL));
	for (k = 2; k <= 4; k++)
		assert_true(mc_ratelimit_take(&rl, k, 3 * SEC, NULL));
	for (k = 2; k <= 4; k++)
		assert_false(mc_ratelimit_take(&rl, k, 3 * SEC, NULL));
	/* with no full bucket, the least recently seen key is forgotten (and
	 * starts over with a full bucket): bounded memory, never a crash */
	assert_true(mc_ratelimit_take(&rl, 6, 3 * SEC, NULL));
	assert_true(mc_ratelimit_take(&rl, 7, 3 * SEC, NULL));
	mc_ratelimit_fini(&rl);
}

/* N per minute and per hour: the same exact arithmetic, a longer period */
static void test_bucket_per_minute_and_hour(void **state)
{
	struct mc_ratelimit rl;
	uint64_t t = 10 * SEC;
	uint32_t retry = 0;
	int i;

	(void)state;
	assert_int_equal(mc_ratelimit_init(&rl, 3, 60, 2, 16), 0); /* 2, then 3/min */
	assert_true(mc_ratelimit_take(&rl, 9, t, NULL));
	assert_true(mc_ratelimit_take(&rl, 9, t, NULL));
	assert_false(mc_ratelimit_take(&rl, 9, t, &retry));
	assert_int_equal(retry, 20000); /* a token per 20 s */
	assert_false(mc_ratelimit_take(&rl, 9, t + 19999 * MS, &retry));
	assert_int_equal(retry, 1);
	assert_true(mc_ratelimit_take(&rl, 9, t + 20 * SEC, NULL));
	assert_false(mc_ratelimit_take(&rl, 9, t + 20 * SEC, NULL));
	mc_ratelimit_fini(&rl);

	assert_int_equal(mc_ratelimit_init(&rl, 1, 3600, 20, 16), 0); /* 20, then 1/h */
	for (i = 0; i < 20; i++)
		assert_true(mc_ratelimit_take(&rl, 9, t, NULL));
	assert_false(mc_ratelimit_take(&rl, 9, t + 3599 * SEC, &retry));
	assert_int_equal(retry, 1000);
	assert_true(mc_ratelimit_take(&rl, 9, t + 3600 * SEC, NULL));
	mc_ratelimit_fini(&rl);
}

/* the largest bucket at the fastest and at the slowest rate: a token's wait is
 * exact, a long pause refills to exactly the burst, nothing overflows */
static void test_bucket_extremes(void **state)
{
	static const struct { unsigned int tokens, period_s, retry_ms; } c[] = {
		{MC_RL_MAX_TOKENS, 1, 1}, /* 1 us, rounded up to a ms */
		{1, MC_RL_MAX_PERIOD, MC_RL_MAX_PERIOD * 1000},
	};
	uint64_t t = 10 * SEC, later = t + 1000ull * 24 * 3600 * SEC;
	struct mc_ratelimit rl;
	uint32_t retry = 0;
	size_t k;
	int i;

	(void)state;
	for (k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		assert_int_equal(mc_ratelimit_init(&rl, c[k].tokens, c[k].period_s, MC_RL_MAX_BURST, 4), 0);
		for (i = 0; i < MC_RL_MAX_BURST; i++)
			assert_true(mc_ratelimit_take(&rl, 9, t, NULL));
		assert_false(mc_ratelimit_take(&rl, 9, t, &retry));
		assert_int_equal(retry, c[k].retry_ms);
		for (i = 0; i < MC_RL_MAX_BURST; i++)
			assert_true(mc_ratelimit_take(&rl, 9, later, NULL));
		assert_false(mc_ratelimit_take(&rl, 9, later, NULL));
		mc_ratelimit_fini(&rl);
	}
}

static void test_bucket_bad_args(void **state)
{
	struct mc_ratelimit rl;

	(void)state;
	assert_int_equal(mc_ratelimit_init(&rl, 0, 1, 20, 16), -1);
	assert_int_equal(mc_ratelimit_init(&rl, 5, 1, 0, 16), -1);
	assert_int_equal(mc_ratelimit_init(&rl, 5, 1, 20, 0), -1);
	assert_int_equal(mc_ratelimit_init(&rl, 5, 0, 20, 16), -1);
	assert_int_equal(mc_ratelimit_init(&rl, 5, MC_RL_MAX_PERIOD + 1, 20, 16), -1);
	assert_int_equal(mc_ratelimit_init(&rl, 5, 1, MC_RL_MAX_BURST + 1, 16), -1);
	mc_ratelimit_fini(&rl); /* after a failed init: harmless */
}

struct hammer {
	struct mc_ratelimit *rl;
	int granted;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	int i;

	for (i = 0; i < 10000; i++)
		if (mc_ratelimit_take(h->rl, 7, 5 * SEC, NULL))
			h->granted++;
	return NULL;
}

/* 8 threads, 80000 requests at one instant: exactly the burst is granted */
static void test_bucket_threads(void **state)
{
	struct mc_ratelimit rl;
	struct hammer h[8];
	pthread_t th[8];
	int i, total = 0;

	(void)state;
	assert_int_equal(mc_ratelimit_init(&rl, 5, 1, 20, 16), 0);
	for (i = 0; i < 8; i++) {
		h[i].rl = &rl;
		h[i].granted = 0;
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &h[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += h[i].granted;
	}
	assert_int_equal(total, 20);
	mc_ratelimit_fini(&rl);
}

static void test_connlimit(void **state)
{
	struct mc_connlimit cl;
	int i;

	(void)state;
	assert_int_equal(mc_connlimit_init(&cl, 2, 100, 3), 0);
	assert_int_equal(mc_connlimit_enter(&cl, 1), 0);
	assert_int_equal(mc_connlimit_enter(&cl, 1), 0);
	assert_int_equal(mc_connlimit_enter(&cl, 1), -1); /* over its own limit */
	assert_int_equal(mc_connlimit_enter(&cl, 2), 0);
	assert_int_equal(mc_connlimit_enter(&cl, 2), 0);
	assert_int_equal(mc_connlimit_enter(&cl, 3), 0);
	/* 3 keys in a 3-slot table: a fourth key finds no slot */
	assert_int_equal(mc_connlimit_enter(&cl, 4), -2);
	assert_int_equal(mc_connlimit_enter(&cl, 3), 0);
	assert_int_equal(cl.total, 6);
	/* a key that closes all its connections frees its slot */
	mc_connlimit_leave(&cl, 2);
	mc_connlimit_leave(&cl, 2);
	assert_int_equal(mc_connlimit_enter(&cl, 4), 0);
	assert_int_equal(cl.total, 5);
	mc_connlimit_fini(&cl);

	/* the total is a hard cap across keys */
	assert_int_equal(mc_connlimit_init(&cl, 8, 5, 16), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(mc_connlimit_enter(&cl, (uint64_t)(100 + i)), 0);
	assert_int_equal(mc_connlimit_enter(&cl, 200), -2);
	mc_connlimit_leave(&cl, 100);
	assert_int_equal(mc_connlimit_enter(&cl, 200), 0);
	/* leaving frees the key's slot for others */
	mc_connlimit_leave(&cl, 200);
	mc_connlimit_leave(&cl, 999); /* unknown: ignored */
	assert_int_equal(cl.total, 4);
	mc_connlimit_fini(&cl);
}

static uint64_t my_netns(void)
{
	uint64_t c = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(mc_sock_netns_cookie(fd, &c), 0);
	close(fd);
	return c;
}

/* the agent's limits, as struct mc_agent holds them: one for the whole run */
static struct mc_limits lim;

static void test_limits_request(void **state)
{
	char msg[256];
	int i;

	(void)state;
	/* out-of-range settings are refused and the defaults stay (checked below) */
	assert_int_equal(mc_limits_configure(&lim, 0, 5, 1), -1);
	assert_int_equal(mc_limits_configure(&lim, 20, 0, 1), -1);
	assert_int_equal(mc_limits_configure(&lim, 20, 5, 0), -1);
	assert_int_equal(mc_limits_configure(&lim, MC_RL_MAX_BURST + 1, 5, 1), -1);
	/* the agent's own namespace is never limited */
	for (i = 0; i < 100; i++)
		assert_int_equal(mc_limits_request(&lim, 1, 1, msg, sizeof(msg)), 0);
	/* another one gets its burst at once, then 429 with a message */
	for (i = 0; i < MC_RL_BURST; i++)
		assert_int_equal(mc_limits_request(&lim, 77, 1, msg, sizeof(msg)), 0);
	assert_int_equal(mc_limits_request(&lim, 77, 1, msg, sizeof(msg)), 429);
	assert_non_null(strstr(msg, "rate limit"));
	{
		const char *r = strstr(msg, "(20 at once, then 5 per second); retry in ");
		unsigned int ms = 0;

		assert_non_null(r);
		/* 200 ms, less whatever went by since the bucket was emptied */
		assert_int_equal(sscanf(r + strlen("(20 at once, then 5 per second); retry in "), "%u ms", &ms), 1);
		assert_in_range(ms, 1, 200);
	}
	/* and a third one is not affected */
	assert_int_equal(mc_limits_request(&lim, 78, 1, msg, sizeof(msg)), 0);
}

static void test_limits_parse_rate(void **state)
{
	static const char *bad[] = {"", "5", "5/", "/s", "0/s", "5/d", "5/ss", "-5/s", " 5/s",
				    "5 /s", "1000001/s", "99999999999999999999/s", NULL};
	unsigned int n = 0, p = 0;
	int i;

	(void)state;
	assert_int_equal(mc_limits_parse_rate("5/s", &n, &p), 0);
	assert_int_equal(n, 5);
	assert_int_equal(p, 1);
	assert_int_equal(mc_limits_parse_rate("30/m", &n, &p), 0);
	assert_int_equal(n, 30);
	assert_int_equal(p, 60);
	assert_int_equal(mc_limits_parse_rate("1/h", &n, &p), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p, 3600);
	for (i = 0; bad[i]; i++) {
		n = p = 7;
		assert_int_equal(mc_limits_parse_rate(bad[i], &n, &p), -1);
		assert_int_equal(n, 7); /* untouched */
	}
	assert_int_equal(mc_limits_parse_rate(NULL, &n, &p), -1);
}

static void test_limits_conn(void **state)
{
	int sp[MC_CONN_PER_NETNS + 1][2], i;
	void *ctx[MC_CONN_PER_NETNS + 1], *own;
	uint64_t me = my_netns();
	char buf[512];
	ssize_t n;

	(void)state;
	for (i = 0; i <= MC_CONN_PER_NETNS; i++)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
	/* callers from our namespace, seen by an agent in another one */
	for (i = 0; i < MC_CONN_PER_NETNS; i++) {
		mc_limits_conn_opened(&lim, sp[i][0], me + 1, &ctx[i]);
		assert_non_null(ctx[i]);
	}
	/* one more: answered 429 on the socket, then end of stream */
	mc_limits_conn_opened(&lim, sp[i][0], me + 1, &ctx[i]);
	assert_null(ctx[i]);
	n = read(sp[i][1], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 429 "));
	assert_non_null(strstr(buf, "too many open connections from this network namespace"));
	assert_int_equal(read(sp[i][1], buf, sizeof(buf)), 0);
	/* and what the caller tries to send now fails */
	assert_true(send(sp[i][1], "GET", 3, MSG_NOSIGNAL) < 0);
	/* a closed connection makes room */
	mc_limits_conn_closed(&lim, &ctx[0]);
	assert_null(ctx[0]);
	mc_limits_conn_closed(&lim, &ctx[MC_CONN_PER_NETNS]); /* never counted: no-op */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[MC_CONN_PER_NETNS]), 0);
	mc_limits_conn_opened(&lim, sp[MC_CONN_PER_NETNS][0], me + 1, &ctx[0]);
	assert_non_null(ctx[0]);
	/* the agent's own namespace is not counted */
	mc_limits_conn_opened(&lim, sp[MC_CONN_PER_NETNS][1], me, &own);
	assert_null(own);
	for (i = 0; i < MC_CONN_PER_NETNS; i++)
		mc_limits_conn_closed(&lim, &ctx[i]);
	for (i = 0; i <= MC_CONN_PER_NETNS; i++) {
		close(sp[i][0]);
		close(sp[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_burst_then_rate),
		cmocka_unit_test(test_bucket_keys_independent),
		cmocka_unit_test(test_bucket_table_full),
		cmocka_unit_test(test_bucket_per_minute_and_hour),
		cmocka_unit_test(test_bucket_extremes),
		cmocka_unit_test(test_bucket_bad_args),
		cmocka_unit_test(test_bucket_threads),
		cmocka_unit_test(test_connlimit),
		cmocka_unit_test(test_limits_parse_rate),
		cmocka_unit_test(test_limits_request),
		cmocka_unit_test(test_limits_conn),
	};

	mc_limits_init(&lim);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
