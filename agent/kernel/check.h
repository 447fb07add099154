/*
 * meshcut-agent --check: what of meshcut this node's kernel can run, found by
 * trying, not from a table of versions. Every program is loaded and attached
 * in a scratch place (a cgroup of its own, a network namespace of its own,
 * maps that are never pinned), then everything is removed again. One line per
 * kernel feature: present or missing, and what depends on it.
 *
 * Exit status 0 when the socket shortcut can run, 1 when it cannot (a missing
 * optional feature, such as tcx, only degrades one capability).
 */
#ifndef MESHCUT_AGENT_CHECK_H
#define MESHCUT_AGENT_CHECK_H

#include <stdbool.h>

/* cgroup: where to make the scratch cgroup (NULL: the cgroup2 mount) */
int mc_check(const char *cgroup, bool json);

#endif
