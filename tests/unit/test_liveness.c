/* Unit tests of the agent's liveness (agent/api/liveness.c): what /healthz
 * answers for a loop that turns, a loop that stalled and a drain sweep that
 * stalled, and which --liveness-bound values are accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/liveness.h"

#define S 1000000000ull

static void test_answers(void **state)
{
	char msg[128];

	(void)state;
	/* progress within the bound (the bound itself included): live */
	assert_int_equal(mc_liveness(100 * S, 100 * S, 0, 60 * S, msg, sizeof(msg)), 200);
	assert_string_equal(msg, "ok\n");
	assert_int_equal(mc_liveness(160 * S, 100 * S, 0, 60 * S, msg, sizeof(msg)), 200);
	/* a drain sweep that moves is progress: live while it stamps */
	assert_int_equal(mc_liveness(200 * S, 190 * S, 150 * S, 60 * S, msg, sizeof(msg)), 200);
	/* a stamp a moment after now (another thread's clock read): live */
	assert_int_equal(mc_liveness(100 * S, 101 * S, 0, 60 * S, msg, sizeof(msg)), 200);
	/* past the bound: 503, and which one stalled */
	assert_int_equal(mc_liveness(161 * S + 1, 100 * S, 0, 60 * S, msg, sizeof(msg)), 503);
	assert_string_equal(msg, "event loop stalled for 61 s (bound 60 s)\n");
	assert_int_equal(mc_liveness(300 * S, 100 * S, 99 * S, 2 * S, msg, sizeof(msg)), 503);
	assert_string_equal(msg, "drain stalled for 200 s (bound 2 s)\n");
}

static void test_bound(void **state)
{
	uint64_t b = 7;

	(void)state;
	assert_int_equal(mc_liveness_parse_bound("60", &b), 0);
	assert_true(b == 60 * S);
	assert_int_equal(mc_liveness_parse_bound("1", &b), 0);
	assert_int_equal(mc_liveness_parse_bound("86400", &b), 0);
	assert_true(b == 86400 * S);
	b = 7;
	/* nothing else, and b untouched */
	const char *bad[] = {"", "0", "-1", "+5", " 5", "5 ", "5s", "1.5", "86401", "abc",
			     "99999999999999999999999", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(mc_liveness_parse_bound(bad[i], &b), -1);
	assert_int_equal(mc_liveness_parse_bound(NULL, &b), -1);
	assert_true(b == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
