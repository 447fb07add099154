/*
 * Test points: places where a test build of the agent (make EXTRA_DEFS=
 * -DMC_TEST_HOOKS, tests/integration/firstload.t) can be made to die with
 * SIGKILL, as a crash or an OOM kill would end it, to prove that what it left
 * pinned is safe for the next start. MESHCUT_TEST_KILL_AT names the point.
 * In every other build a test point is nothing at all.
 */
#ifndef MESHCUT_AGENT_TESTHOOKS_H
#define MESHCUT_AGENT_TESTHOOKS_H

#ifdef MC_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void mc_test_point(const char *name)
{
	const char *at = getenv("MESHCUT_TEST_KILL_AT");

	if (at && !strcmp(at, name))
		raise(SIGKILL);
}
#else
static inline void mc_test_point(const char *name)
{
	(void)name;
}
#endif

#endif
