/* mc_http_parse_listen (lib/http_server.h): the one parser of listen
 * addresses, for the agent's --http and --metrics and the webhook's --listen
 * and --metrics-listen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http_server.h"

static void test_forms(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	unsigned int port;
	char buf[64];
	(void)state;

	assert_int_equal(mc_http_parse_listen("10.0.0.5:9464", &ss, &port), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(port, 9464);
	assert_int_equal(ntohs(a4->sin_port), 9464);
	assert_string_equal(inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof(buf)), "10.0.0.5");

	assert_int_equal(mc_http_parse_listen("[fd00::5]:8443", &ss, &port), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(a6->sin6_port), 8443);
	assert_string_equal(inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf)), "fd00::5");

	/* a downward-API IPv6 node IP, rendered without brackets */
	assert_int_equal(mc_http_parse_listen("fd00::5:9464", &ss, &port), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(port, 9464);
	assert_string_equal(inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf)), "fd00::5");

	assert_int_equal(mc_http_parse_listen(":9465", &ss, &port), 0);
	assert_int_equal(ss.ss_family, 0);
	assert_int_equal(port, 9465);
}

static void test_bad(void **state)
{
	static const char *const bad[] = {"", "9464", "1.2.3.4", "1.2.3.4:", "1.2.3.4:x",
					  "1.2.3.4:65536", "1.2.3:80", "[fd00::5:80", "host:80",
					  "[]:80", "1.2.3.4:80 "};
	struct sockaddr_storage ss;
	unsigned int port;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mc_http_parse_listen(bad[i], &ss, &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
