/* The running agent: what the API handlers, the sweep and main share. */
#ifndef MESHCUT_AGENT_AGENT_H
#define MESHCUT_AGENT_AGENT_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "shortcut/datapath.h"
#include "shortcut/drain.h"
#include "shortcut/waker.h"
#include "api/podwatch.h"
#include "api/ratelimit.h"
#include "api/registry.h"

#define MESHCUT_VERSION "0.1.0"

struct mc_agent {
	struct mc_datapath dp;
	struct mc_registry reg;
	struct mc_drainer drainer;
	struct mc_waker waker;       /* readers of drained sockets get a wakeup */
	struct mc_podwatch podwatch; /* registrations whose pod is gone go */
	struct mc_limits limits;   /* the API's per-caller limits (ratelimit.h) */
	pthread_mutex_t lock;      /* control map writes, drainer, last_drain */
	struct mc_drain_result last_drain;
	uint64_t own_netns;        /* the node's netns: admin callers come from here (uid 0) */
	const char *socket_path;
	time_t started;
	/* /healthz (api/liveness.h): mc_now_ns of the serve loop's last progress,
	 * a drain sweep running since (0: none), both __atomic; the bound */
	uint64_t progress_ns, drain_since_ns, liveness_bound_ns;
};

#endif
