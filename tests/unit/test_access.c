/* Unit tests of agent/access: which route needs which caller, and who is an
 * admin (uid 0 in the agent's own network namespace, nobody else). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/access.h"

struct route {
	const char *method, *url;
	enum mc_access unix_socket, tcp;
};

static const char *name(enum mc_access a)
{
	static const char *const n[] = {"not found", "anyone", "caller", "self", "admin"};

	return n[a];
}

static void test_routes(void **state)
{
	static const struct route routes[] = {
		{"GET", "/healthz", MC_ACCESS_ANYONE, MC_ACCESS_ANYONE},
		{"GET", "/readyz", MC_ACCESS_ANYONE, MC_ACCESS_ANYONE},
		{"GET", "/metrics", MC_ACCESS_ANYONE, MC_ACCESS_ANYONE},
		/* node-wide, no pod's identity: any caller of the socket; never on TCP */
		{"GET", "/v1/status", MC_ACCESS_CALLER, MC_ACCESS_NOT_FOUND},
		{"GET", "/v1/stats", MC_ACCESS_CALLER, MC_ACCESS_NOT_FOUND},
		/* a pod's own registration (an admin's: every one) */
		{"GET", "/v1/pods", MC_ACCESS_SELF, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/pods", MC_ACCESS_SELF, MC_ACCESS_NOT_FOUND},
		{"DELETE", "/v1/pods/default/ds", MC_ACCESS_SELF, MC_ACCESS_NOT_FOUND},
		{"DELETE", "/v1/pods/", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"DELETE", "/v1/pods", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		/* refused registrations name other pods (meshcut why) */
		{"GET", "/v1/refusals", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/refusals", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"PUT", "/v1/pods", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		/* the node's settings and the monitor: admin, whatever the method */
		{"PUT", "/v1/mode", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/mode", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"PUT", "/v1/config", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/config", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"GET", "/v1/mode", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"GET", "/v1/monitor", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/monitor", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"DELETE", "/v1/monitor", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/monitor/start", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"POST", "/v1/monitor/stop", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"PATCH", "/v1/monitor/anything", MC_ACCESS_ADMIN, MC_ACCESS_NOT_FOUND},
		{"GET", "/v1/monitorx", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		/* nothing else, and no method games */
		{"POST", "/healthz", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"get", "/v1/status", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"GET", "/v1/status/", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"GET", "/", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
		{"GET", "", MC_ACCESS_NOT_FOUND, MC_ACCESS_NOT_FOUND},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		enum mc_access u = mc_access_of(r->method, r->url, true);
		enum mc_access t = mc_access_of(r->method, r->url, false);

		if (u != r->unix_socket || t != r->tcp)
			fail_msg("%s %s: unix socket %s (want %s), TCP %s (want %s)", r->method, r->url,
				 name(u), name(r->unix_socket), name(t), name(r->tcp));
	}
}

static void test_admin(void **state)
{
	const uint64_t node = 4096, pod = 4242;
	struct mc_caller c;

	(void)state;
	c = (struct mc_caller){.netns = node, .uid = 0, .known = true};
	assert_true(mc_is_admin(&c, node));
	/* root elsewhere: a pod (registered or not), another namespace */
	c.netns = pod;
	assert_false(mc_is_admin(&c, node));
	/* another uid in the agent's namespace */
	c = (struct mc_caller){.netns = node, .uid = 1337, .known = true};
	assert_false(mc_is_admin(&c, node));
	c.uid = 65534;
	assert_false(mc_is_admin(&c, node));
	/* unknown caller, even with the right fields */
	c = (struct mc_caller){.netns = node, .uid = 0, .known = false};
	assert_false(mc_is_admin(&c, node));
	/* the agent did not learn its own namespace: nobody */
	c = (struct mc_caller){.netns = 0, .uid = 0, .known = true};
	assert_false(mc_is_admin(&c, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_admin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
