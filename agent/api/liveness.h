/*
 * Liveness that means something: /healthz answers 503 when the agent's serve
 * loop (agent/main.c) has made no progress for longer than --liveness-bound.
 * The loop stamps mc_agent.progress_ns (CLOCK_MONOTONIC) on every turn; a
 * drain sweep (shortcut/drain.c) stamps it while it moves through the pair
 * slots, and marks mc_agent.drain_since_ns while it runs (the lock it waits
 * for included), so a stuck loop and a stuck sweep are told apart. A pair
 * whose reader never reads does not stall anything: the loop keeps turning
 * (a restart would not make the reader read). An agent idle on purpose (the
 * kernel refused the datapath) answers 200: live, only not ready.
 */
#ifndef MESHCUT_AGENT_LIVENESS_H
#define MESHCUT_AGENT_LIVENESS_H

#include <stddef.h>
#include <stdint.h>

#define MC_LIVENESS_BOUND_DEFAULT 60 /* seconds */
#define MC_LIVENESS_BOUND_MAX 86400

/* The HTTP status /healthz answers (200 or 503) at now_ns, and its one-line
 * text in msg ("ok", "event loop stalled for N s", "drain stalled for N s").
 * progress_ns: the last progress; drain_since_ns: a sweep running since
 * (0: none); bound_ns: how long without progress is still live. */
unsigned int mc_liveness(uint64_t now_ns, uint64_t progress_ns, uint64_t drain_since_ns,
			 uint64_t bound_ns, char *msg, size_t len);

/* --liveness-bound S: 0 and *bound_ns set, or -1 (not seconds in 1..86400) */
int mc_liveness_parse_bound(const char *arg, uint64_t *bound_ns);

#endif
