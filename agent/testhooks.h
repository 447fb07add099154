/*
 * Test points: places where a test build of the agent (make EXTRA_DEFS=
 * -DMC_TEST_HOOKS, tests/integration/firstload.t) can be made to die with
 * SIGKILL, as a crash or an OOM kill would end it, to prove that what it left
 * pinned is safe for the next start. MESHCUT_TEST_KILL_AT names the point.
 * A stall point stops the thread that reaches it until a signal, while the
 * others (the API's) keep serving, so a test sees /healthz turn 503
 * (tests/integration/liveness.t): MESHCUT_TEST_STALL_LOOP names the point.
 * In every other build a test point is nothing at all.
 */
#ifndef MESHCUT_AGENT_TESTHOOKS_H
#define MESHCUT_AGENT_TESTHOOKS_H

#ifdef MC_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void mc_test_point(const char *name)
{
	const char *at = getenv("MESHCUT_TEST_KILL_AT");

	if (at && !strcmp(at, name))
		raise(SIGKILL);
}

static inline void mc_test_stall(const char *name)
{
	const char *at = getenv("MESHCUT_TEST_STALL_LOOP");

	if (at && !strcmp(at, name))
		pause(); /* a signal handler ran (SIGTERM: the agent exits) */
}
#else
static inline void mc_test_point(const char *name)
{
	(void)name;
}

static inline void mc_test_stall(const char *name)
{
	(void)name;
}
#endif

#endif
