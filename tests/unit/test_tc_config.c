/* Unit tests of the cross-node shortcut's node configuration (agent/crossnode/tc_config):
 * the keep-host-policy switch, its CIDR exceptions and the overlay names, and
 * that a bad value fails closed (host path and its policy for new flows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "crossnode/tc_config.h"

static void test_defaults(void **state)
{
	struct mc_tc_opts o;

	(void)state;
	mc_tc_opts_parse(NULL, NULL, NULL, NULL, &o);
	assert_false(o.keep_host_policy);
	assert_false(o.failed_closed);
	assert_int_equal(o.n_host, 0);
	assert_int_equal(o.n_shortcut, 0);
	assert_int_equal(o.n_overlays, 0);
}

static void test_switch_values(void **state)
{
	const char *on[] = {"on", "ON", "true", "1", "yes"}, *off[] = {"off", "false", "0", "no", ""};
	struct mc_tc_opts o;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		mc_tc_opts_parse(on[i], NULL, NULL, NULL, &o);
		assert_true(o.keep_host_policy);
		assert_false(o.failed_closed);
		mc_tc_opts_parse(off[i], NULL, NULL, NULL, &o);
		assert_false(o.keep_host_policy);
		assert_false(o.failed_closed);
	}
}

static void test_cidrs_and_overlays(void **state)
{
	struct mc_tc_opts o;
	char buf[80];

	(void)state;
	mc_tc_opts_parse("off", "10.244.2.0/24,fd00:2::/64", "10.244.3.7", "flannel.1, vxlan.calico", &o);
	assert_false(o.failed_closed);
	assert_int_equal(o.n_host, 2);
	assert_int_equal(o.host_cidrs[0].prefix_len, 96 + 24);
	assert_string_equal(mc_tc_cidr_string(&o.host_cidrs[0], buf, sizeof(buf)), "10.244.2.0/24");
	assert_string_equal(mc_tc_cidr_string(&o.host_cidrs[1], buf, sizeof(buf)), "fd00:2::/64");
	assert_int_equal(o.n_shortcut, 1);
	assert_string_equal(mc_tc_cidr_string(&o.shortcut_cidrs[0], buf, sizeof(buf)), "10.244.3.7/32");
	assert_int_equal(o.n_overlays, 2);
	assert_string_equal(o.overlays[0], "flannel.1");
	assert_string_equal(o.overlays[1], "vxlan.calico");
	/* "*": everything */
	mc_tc_opts_parse("on", NULL, "*", NULL, &o);
	assert_int_equal(o.n_shortcut, 1);
	assert_int_equal(o.shortcut_cidrs[0].prefix_len, 0);
	assert_string_equal(mc_tc_cidr_string(&o.shortcut_cidrs[0], buf, sizeof(buf)), "*");
}

/* a typo must never turn the shortcut on where policy was meant to hold */
static void test_bad_values_fail_closed(void **state)
{
	struct mc_tc_opts o;

	(void)state;
	mc_tc_opts_parse("maybe", NULL, "10.0.0.0/8", NULL, &o);
	assert_true(o.failed_closed);
	assert_true(o.keep_host_policy);
	assert_int_equal(o.n_shortcut, 0);
	assert_non_null(strstr(o.error, "MESHCUT_CROSS_KEEP_HOST_POLICY"));

	mc_tc_opts_parse("off", "10.244.2.0/33", NULL, NULL, &o);
	assert_true(o.failed_closed);
	assert_true(o.keep_host_policy);
	assert_non_null(strstr(o.error, "MESHCUT_CROSS_HOST_CIDRS"));

	mc_tc_opts_parse("off", NULL, "10.0.0.0/8,bogus", NULL, &o);
	assert_true(o.failed_closed);
	assert_true(o.keep_host_policy);
	assert_int_equal(o.n_shortcut, 0);

	mc_tc_opts_parse("off", NULL, NULL, "a-name-longer-than-15", &o);
	assert_true(o.failed_closed);
	assert_true(o.keep_host_policy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_switch_values),
		cmocka_unit_test(test_cidrs_and_overlays),
		cmocka_unit_test(test_bad_values_fail_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
