/* Unit tests of injector/webhook/options: what the webhook refuses to start
 * with. Everything it accepts ends up in every injected pod, so a typo must
 * stop the webhook, not the pods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../injector/webhook/options.h"

static int run(struct options *o, ...)
{
	char *argv[32] = { "meshcut-webhook" };
	int argc = 1;
	va_list ap;

	va_start(ap, o);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	return options_parse(argc, argv, o);
}

static void test_defaults(void **state)
{
	struct options o;
	(void)state;

	assert_int_equal(run(&o, "--cert", "c", "--key", "k", NULL), 0);
	assert_string_equal(o.listen, ":8443");
	assert_string_equal(o.inject.socket_dir, "/var/run/meshcut");
	assert_string_equal(o.inject.cpu_request, "10m");
	assert_string_equal(o.inject.memory_request, "16Mi");
	assert_int_equal(o.inject.run_as_user, 65532);
	assert_int_equal(o.inject.run_as_group, 0);
	assert_int_equal(o.reload_interval, 5);
}

static void test_flags(void **state)
{
	struct options o;
	(void)state;

	assert_int_equal(run(&o, "--cert", "c", "--key", "k", "--listen", "127.0.0.1:0",
			     "--init-image", "r/i:2", "--init-cpu", "", "--init-memory-limit",
			     "64Mi", "--run-as-user", "1000", "--reload-interval", "1", "-v", NULL),
			 0);
	assert_string_equal(o.listen, "127.0.0.1:0");
	assert_string_equal(o.inject.image, "r/i:2");
	assert_string_equal(o.inject.cpu_request, "");
	assert_string_equal(o.inject.memory_limit, "64Mi");
	assert_int_equal(o.inject.run_as_user, 1000);
	assert_int_equal(o.reload_interval, 1);
	assert_true(o.verbose);
}

static void test_refused(void **state)
{
	struct options o;
	int r[8], saved = dup(2), null = open("/dev/null", O_WRONLY);
	(void)state;

	/* the refusals print their reasons: keep them out of the test output, and
	 * assert only once stderr is back */
	fflush(stderr);
	dup2(null, 2);
	r[0] = run(&o, "--key", "k", NULL);
	r[1] = run(&o, "--cert", "c", "--key", "k", "--run-as-user", "0", NULL);
	r[2] = run(&o, "--cert", "c", "--key", "k", "--init-memory", "16MB", NULL);
	r[3] = run(&o, "--cert", "c", "--key", "k", "--socket-path", "run/x", NULL);
	r[4] = run(&o, "--cert", "c", "--key", "k", "--init-image", "", NULL);
	r[5] = run(&o, "--cert", "c", "--key", "k", "--reload-interval", "0", NULL);
	r[6] = run(&o, "--cert", "c", "--key", "k", "extra", NULL);
	r[7] = run(&o, "--cert", "c", "--key", "k", "--bogus", NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(null);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (r[i] != -1)
			fail_msg("refusal %zu: options_parse returned %d", i, r[i]);
}

static void test_quantities(void **state)
{
	static const char *const good[] = { "0", "10m", "16Mi", "1.5", "1.5Gi", "1e3", "2E-2",
					    "100n", "1k", ".5" };
	static const char *const bad[] = { "", "m", "16MB", "-1", "1.5.2", "1e", "10 m", "Mi",
					   "1ki" };
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(options_quantity_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (options_quantity_valid(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_quantities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
