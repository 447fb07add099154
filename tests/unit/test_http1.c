/* Unit tests of tests/apps/http1: the head parser meshapp uses on both sides
 * of every hop. Framing mistakes here would look like proxy bugs, so partial
 * input, pipelining and hostile input are covered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../apps/http1.h"

static int req(const char *s, struct http1_msg *m)
{
	return http1_parse_request(s, strlen(s), m);
}

static int resp(const char *s, struct http1_msg *m)
{
	return http1_parse_response(s, strlen(s), m);
}

static void assert_str(struct http1_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static void test_simple_request(void **state)
{
	const char *s = "GET /a/b?size=12 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
	struct http1_msg m;
	(void)state;

	assert_int_equal(req(s, &m), (int)strlen(s));
	assert_str(m.method, "GET");
	assert_str(m.target, "/a/b?size=12");
	assert_int_equal(m.minor, 1);
	assert_int_equal(m.content_length, -1);
	assert_false(m.chunked);
	assert_false(m.has_trace);
	assert_true(http1_keep_alive(&m));
}

/* The head arrives a byte at a time: every proper prefix needs more. */
static void test_partial(void **state)
{
	const char *s = "POST / HTTP/1.1\r\nContent-Length: 5\r\nX-Trace: a(b)\r\n\r\nhello";
	size_t head = strlen(s) - 5;
	struct http1_msg m;
	(void)state;

	for (size_t n = 0; n < head; n++)
		assert_int_equal(http1_parse_request(s, n, &m), 0);
	for (size_t n = head; n <= strlen(s); n++) /* body bytes do not change the head */
		assert_int_equal(http1_parse_request(s, n, &m), (int)head);
	assert_int_equal(m.content_length, 5);
	assert_str(m.trace, "a(b)");
}

static void test_pipelined(void **state)
{
	const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
			"POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
			"GET /3?size=0 HTTP/1.1\r\nConnection: close\r\n\r\n";
	struct http1_msg m;
	size_t off = 0;
	int n;
	(void)state;

	n = http1_parse_request(s + off, strlen(s) - off, &m);
	assert_true(n > 0);
	assert_str(m.target, "/1");
	off += (size_t)n;

	n = http1_parse_request(s + off, strlen(s) - off, &m);
	assert_true(n > 0);
	assert_str(m.target, "/2");
	assert_int_equal(m.content_length, 3);
	off += (size_t)n + 3;

	n = http1_parse_request(s + off, strlen(s) - off, &m);
	assert_int_equal(n, (int)(strlen(s) - off));
	assert_str(m.target, "/3?size=0");
	assert_false(http1_keep_alive(&m));
}

static void test_bare_lf(void **state)
{
	struct http1_msg m;
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\nHost: x\n\n", &m), 24);
}

static void test_response(void **state)
{
	const char *s = "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 10\r\n"
			"x-trace:   front(mid(!leaf:80))  \r\n\r\n";
	struct http1_msg m;
	(void)state;

	assert_int_equal(resp(s, &m), (int)strlen(s));
	assert_int_equal(m.status, 502);
	assert_int_equal(m.content_length, 10);
	assert_true(m.has_trace);
	assert_str(m.trace, "front(mid(!leaf:80))"); /* surrounding blanks trimmed */

	assert_true(resp("HTTP/1.1 200\r\n\r\n", &m) > 0); /* reason is optional */
	assert_int_equal(m.status, 200);
	assert_true(resp("HTTP/1.0 204 No Content\r\n\r\n", &m) > 0);
	assert_int_equal(m.minor, 0);
}

static void test_connection_header(void **state)
{
	struct http1_msg m;
	(void)state;

	assert_true(req("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", &m) > 0);
	assert_false(http1_keep_alive(&m));
	assert_true(req("GET / HTTP/1.0\r\n\r\n", &m) > 0);
	assert_false(http1_keep_alive(&m)); /* 1.0 closes by default */
	assert_true(req("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n", &m) > 0);
	assert_true(http1_keep_alive(&m));
	assert_true(req("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", &m) > 0);
	assert_true(http1_keep_alive(&m));
}

static void test_content_length_rules(void **state)
{
	struct http1_msg m;
	(void)state;

	/* the same value twice is fine, two different ones are not */
	assert_true(req("GET / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", &m) > 0);
	assert_int_equal(m.content_length, 4);
	assert_int_equal(req("GET / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", &m), -1);
	assert_int_equal(req("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &m), -1);
	assert_int_equal(req("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &m), -1);
	assert_int_equal(req("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", &m), -1);
	assert_int_equal(req("GET / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n", &m), -1);
	/* both framings at once: refused (request smuggling) */
	assert_int_equal(req("POST / HTTP/1.1\r\nContent-Length: 4\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n", &m), -1);
	assert_true(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &m) > 0);
	assert_true(m.chunked);
}

static void test_bad_input(void **state)
{
	static const char *const bad[] = {
		"\r\n\r\n",
		"GET\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1 extra\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\n\r\n",
	};
	struct http1_msg m;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (req(bad[i], &m) != -1)
			fail_msg("accepted bad request #%zu: %s", i, bad[i]);
	}
	assert_int_equal(resp("HTTP/1.1 20 OK\r\n\r\n", &m), -1);
	assert_int_equal(resp("HTTP/1.1 2000 OK\r\n\r\n", &m), -1);
	assert_int_equal(resp("HTTP/1.1 abc OK\r\n\r\n", &m), -1);
	assert_int_equal(resp("HTTP/1.1 099 Low\r\n\r\n", &m), -1);
	assert_int_equal(resp("ICY 200 OK\r\n\r\n", &m), -1);
}

/* A head that never ends must be refused once it reaches the limit, not
 * buffered forever. */
static void test_oversized_head(void **state)
{
	size_t n = HTTP1_MAX_HEAD + 100;
	char *s = malloc(n);
	struct http1_msg m;
	(void)state;

	assert_non_null(s);
	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	memset(s + 19, 'a', n - 19);
	assert_int_equal(http1_parse_request(s, HTTP1_MAX_HEAD - 1, &m), 0);
	assert_int_equal(http1_parse_request(s, HTTP1_MAX_HEAD, &m), -1);
	assert_int_equal(http1_parse_request(s, n, &m), -1);
	free(s);
}

static void test_query(void **state)
{
	struct http1_str t;
	uint64_t v = 0;
	(void)state;

#define T(s) (t = (struct http1_str){ s, strlen(s) })
	assert_int_equal(http1_query_uint(T("/"), "size", &v), 0);
	assert_int_equal(http1_query_uint(T("/?size=123"), "size", &v), 1);
	assert_true(v == 123);
	assert_int_equal(http1_query_uint(T("/x?a=1&size=0&b=2"), "size", &v), 1);
	assert_true(v == 0);
	assert_int_equal(http1_query_uint(T("/?xsize=5&sizes=6"), "size", &v), 0);
	assert_int_equal(http1_query_uint(T("/?size="), "size", &v), -1);
	assert_int_equal(http1_query_uint(T("/?size=12k"), "size", &v), -1);
	assert_int_equal(http1_query_uint(T("/?size=-1"), "size", &v), -1);
	assert_int_equal(http1_query_uint(T("/?size=1234567890123456789012"), "size", &v), -1);
	assert_int_equal(http1_query_uint(T("/size=5"), "size", &v), 0); /* path, not query */
#undef T
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_request),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_connection_header),
		cmocka_unit_test(test_content_length_rules),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_oversized_head),
		cmocka_unit_test(test_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
