/* Liveness that means something: see liveness.h. */
#include "api/liveness.h"

#include <stdio.h>
#include <stdlib.h>

unsigned int mc_liveness(uint64_t now_ns, uint64_t progress_ns, uint64_t drain_since_ns,
			 uint64_t bound_ns, char *msg, size_t len)
{
	uint64_t idle = now_ns > progress_ns ? now_ns - progress_ns : 0;

	if (idle <= bound_ns) {
		snprintf(msg, len, "ok\n");
		return 200;
	}
	if (drain_since_ns)
		snprintf(msg, len, "drain stalled for %llu s (bound %llu s)\n",
			 (unsigned long long)(idle / 1000000000ull),
			 (unsigned long long)(bound_ns / 1000000000ull));
	else
		snprintf(msg, len, "event loop stalled for %llu s (bound %llu s)\n",
			 (unsigned long long)(idle / 1000000000ull),
			 (unsigned long long)(bound_ns / 1000000000ull));
	return 503;
}

int mc_liveness_parse_bound(const char *arg, uint64_t *bound_ns)
{
	char *end;
	unsigned long s;

	if (!arg || *arg < '0' || *arg > '9')
		return -1;
	s = strtoul(arg, &end, 10);
	if (*end || s < 1 || s > MC_LIVENESS_BOUND_MAX)
		return -1;
	*bound_ns = (uint64_t)s * 1000000000ull;
	return 0;
}
