/* Unit tests of tests/apps/net: the HOST:PORT parsing both test tools use for
 * --listen, --upstream and --connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../apps/net.h"

static void test_split(void **state)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	(void)state;

	assert_int_equal(net_split_hostport("leaf.default:8080", false, host, port), 0);
	assert_string_equal(host, "leaf.default");
	assert_string_equal(port, "8080");
	assert_int_equal(net_split_hostport("[::1]:81", false, host, port), 0);
	assert_string_equal(host, "::1");
	assert_string_equal(port, "81");
	assert_int_equal(net_split_hostport("127.0.0.1:0", true, host, port), 0);
	assert_string_equal(host, "127.0.0.1");

	/* listen addresses may be a bare port or ":PORT" */
	assert_int_equal(net_split_hostport("9000", true, host, port), 0);
	assert_string_equal(host, "");
	assert_string_equal(port, "9000");
	assert_int_equal(net_split_hostport(":9000", true, host, port), 0);
	assert_string_equal(host, "");
	/* ... but a connect target needs a host */
	assert_int_equal(net_split_hostport("9000", false, host, port), -1);
	assert_int_equal(net_split_hostport(":9000", false, host, port), -1);

	assert_int_equal(net_split_hostport("::1:80", false, host, port), -1); /* needs [] */
	assert_int_equal(net_split_hostport("[::1]80", false, host, port), -1);
	assert_int_equal(net_split_hostport("[::1", false, host, port), -1);
	assert_int_equal(net_split_hostport("host:", false, host, port), -1);
	assert_int_equal(net_split_hostport("host:http", false, host, port), -1);
	assert_int_equal(net_split_hostport("host:12345678901234567", false, host, port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
