/*
 * Who may call what on the agent's API (api.c), as pure functions: the rules
 * are unit-tested (tests/unit/test_access.c).
 *
 * A caller of the Unix socket is known by the socket itself: SO_NETNS_COOKIE
 * names the network namespace its socket was made in, SO_PEERCRED its uid.
 * Admin = uid 0 in the agent's own network namespace: where the operator's
 * CLI runs (kubectl exec into the agent's pod; the agent is hostNetwork, so
 * that is the node's namespace). Nothing else is: a pod's root is not, even
 * after it deregistered its own pod, nor root in any other namespace, nor
 * another uid in the agent's.
 *
 * The TCP listener (--http, the chart's probes and Prometheus) knows no
 * caller: it serves /healthz, /readyz and /metrics, and 404 for the rest.
 */
#ifndef MESHCUT_AGENT_ACCESS_H
#define MESHCUT_AGENT_ACCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum mc_access {
	MC_ACCESS_NOT_FOUND, /* no such route on this listener: 404 */
	MC_ACCESS_ANYONE,    /* /healthz, /readyz, /metrics */
	MC_ACCESS_CALLER,    /* any caller of the Unix socket: GET /v1/status, /v1/stats
			      * (node-wide state and counters: no pod's identity) */
	MC_ACCESS_SELF,      /* a pod's own registration (POST /v1/pods, DELETE
			      * /v1/pods/NS/NAME, GET /v1/pods: its own entry); an
			      * admin: every pod's */
	MC_ACCESS_ADMIN,     /* PUT /v1/mode, PUT /v1/config, /v1/monitor (it loads
			      * programs that tax the node and reports on every pod),
			      * GET /v1/refusals (other pods' names and IPs) */
};

struct mc_caller {
	uint64_t netns; /* SO_NETNS_COOKIE */
	uid_t uid;      /* SO_PEERCRED */
	bool known;     /* both could be read */
};

enum mc_access mc_access_of(const char *method, const char *url, bool unix_socket);
bool mc_is_admin(const struct mc_caller *who, uint64_t own_netns);

#endif
