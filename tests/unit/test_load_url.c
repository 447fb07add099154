/* Unit tests of tests/apps/load_url: meshload's --url and the request built
 * from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../apps/load_url.h"

static struct load_url u;
static char err[256];

static void ok(const char *url, const char *host, const char *port, const char *hosthdr,
	       const char *path)
{
	if (load_url_parse(url, &u, err, sizeof(err)))
		fail_msg("%s: %s", url, err);
	assert_string_equal(u.host, host);
	assert_string_equal(u.port, port);
	assert_string_equal(u.authority_host, hosthdr);
	assert_string_equal(u.path, path);
}

static void bad(const char *url)
{
	if (load_url_parse(url, &u, err, sizeof(err)) == 0)
		fail_msg("accepted %s", url);
	assert_true(err[0] != '\0');
}

static void test_good(void **state)
{
	(void)state;
	ok("http://127.0.0.1:8080/", "127.0.0.1", "8080", "127.0.0.1", "/");
	ok("http://127.0.0.1:8080", "127.0.0.1", "8080", "127.0.0.1", "/");
	ok("HTTP://svc.ns:80/a/b?size=10&x=/y", "svc.ns", "80", "svc.ns", "/a/b?size=10&x=/y");
	ok("http://svc/x", "svc", "80", "svc", "/x");
	ok("http://h:1?size=3", "h", "1", "h", "/?size=3");
	ok("http://h:65535/p#frag", "h", "65535", "h", "/p");
	ok("http://[::1]:9000/v6", "::1", "9000", "[::1]", "/v6");
	ok("http://[fe80::1]", "fe80::1", "80", "[fe80::1]", "/");
}

static void test_bad(void **state)
{
	(void)state;
	bad("https://h:443/");
	bad("h:80/");
	bad("http://");
	bad("http:///x");
	bad("http://h:/");
	bad("http://h:0/");
	bad("http://h:65536/");
	bad("http://h:8x/");
	bad("http://::1:80/");     /* v6 needs brackets */
	bad("http://[::1/");
	bad("http://[]:80/");
	bad("http://user@h:80/");
	bad("http://h:80/a b");
	bad("http://h:80/a\r\nX: y");
}

static void test_request(void **state)
{
	char buf[128];
	(void)state;

	assert_int_equal(load_url_parse("http://[::1]:9000/a?b=1", &u, err, sizeof(err)), 0);
	int n = load_url_request(&u, false, buf, sizeof(buf));
	assert_string_equal(buf, "GET /a?b=1 HTTP/1.1\r\nHost: [::1]\r\n\r\n");
	assert_int_equal(n, (int)strlen(buf));
	assert_int_equal(load_url_request(&u, false, buf, 10), -1);
	/* --new-connection-per-request: the server closes after its response */
	n = load_url_request(&u, true, buf, sizeof(buf));
	assert_string_equal(buf, "GET /a?b=1 HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n");
	assert_int_equal(n, (int)strlen(buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
