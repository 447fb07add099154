/*
 * Pod deletion: a registration goes when its pod's network namespace goes.
 *
 * The agent's (the node's) network namespace gives every pod namespace a
 * netnsid when the pod registers (verify.c); registry.c records it beside the
 * registration (mc_pod_life). The kernel frees that id when the namespace
 * dies and announces it (RTM_DELNSID on RTNLGRP_NSID); ids are reused, lowest
 * free first. So a registration whose netnsid N is recorded is dead when
 *  - N is no longer assigned (a dump of the node's netnsids does not list it),
 *  - or N now names a namespace that does not carry the registration's IPs
 *    (and MAC) on a network interface: N was given to another namespace, or
 *    the pod's network is torn down (CNI DEL) while something still holds its
 *    namespace,
 *  - or its host veth (when it registered one) is gone or is another
 *    namespace's now.
 * Registrations taken over from map layout 2 have no netnsid: for them only
 * the host veth tells (none: they stay until deregistered).
 * Watched: RTM_DELNSID and RTM_DELLINK events while the agent runs, every
 * registration at start-up (and when events were lost), and at each new
 * registration what stands in its way (clear_way). No SOCKHASH surgery is
 * needed: a dead pod's sockets closed and left by themselves; its tc state
 * goes with it (tc.h).
 *
 * The netnsids are the node namespace's: the agent runs there (hostNetwork),
 * and so did the agent that recorded them.
 */
#ifndef MESHCUT_AGENT_PODWATCH_H
#define MESHCUT_AGENT_PODWATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/registration.h"

struct mc_agent;

/* the watcher's state, owned by struct mc_agent */
struct mc_podwatch {
	int fd;               /* rtnetlink: RTMGRP_LINK + RTNLGRP_NSID; -1: none */
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	/* held while a registration changes (registry and tc state together):
	 * the tc state of one that went is never removed after the next holder
	 * of its IP attached its own */
	pthread_mutex_t change;
};

/* Subscribe, then drop the registrations whose namespace went while no agent
 * ran, then watch in a thread. 0, or -errno: the registrations were checked
 * once but deletions from now on are not noticed (the agent runs on). */
int mc_podwatch_start(struct mc_agent *a);
void mc_podwatch_stop(struct mc_agent *a);

/* around every registration change made elsewhere (the API): registry, then tc */
void mc_podwatch_hold(struct mc_agent *a);
void mc_podwatch_release(struct mc_agent *a);

/* Before the registration r of namespace netns (netnsid nsid) is stored
 * (under mc_podwatch_hold):
 * remove the dead registrations in its way. One with the same netnsid is
 * dead for certain (two live namespaces never share one); the holder of one
 * of its IPs goes when it is dead by the rules above. Returns how many went. */
int mc_podwatch_clear_way(struct mc_agent *a, const struct mc_registration *r, uint64_t netns,
			  int nsid);

#endif
