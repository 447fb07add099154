/*
 * The agent's HTTP/JSON API (libmicrohttpd).
 *
 * Unix socket (default /var/run/meshcut/agent.sock, mode 0660), every route:
 *   POST   /v1/pods                 register the caller's pod (registration.h)
 *   DELETE /v1/pods/NS/NAME[?netns=COOKIE]  deregister: a pod its own
 *                                   registration; an admin any (a name that
 *                                   several carry needs ?netns: registry.h)
 *   GET    /v1/pods                 admin: every pod; a pod: its own entry
 *          /v1/pods?pod=NS/NAME | ?ip=IP   only that pod, with its live pairs (why.h)
 *   GET    /v1/refusals             admin: the last refused registrations (why.h)
 *   GET    /v1/status | /v1/stats   any caller (node-wide, no pod's identity)
 *   PUT    /v1/mode  {"mode": "intra,node"}            admin
 *   PUT    /v1/config {"backlog_limit": BYTES}         admin
 *   /v1/monitor...                  admin (monitor.h)
 *   GET    /metrics | /healthz | /readyz               anyone
 * Who calls is read from the socket itself: SO_NETNS_COOKIE names the caller's
 * network namespace (a pod registers only the namespace it calls from) and
 * SO_PEERCRED its uid. Admin = uid 0 in the agent's own network namespace
 * (access.h).
 *
 * TCP (--http ADDR:PORT, optional): /healthz, /readyz and /metrics only, for
 * probes and Prometheus (it cannot tell who calls). --metrics ADDR:PORT
 * (optional): /metrics only, on an address Prometheus reaches (the node's IP),
 * apart from the probes' loopback listener so that clients of the one can
 * never starve the other; at most a few connections per client address.
 * ADDR: IPv4, or IPv6 with or without brackets ([fd00::5]:9464, fd00::5:9464).
 */
#ifndef MESHCUT_AGENT_API_H
#define MESHCUT_AGENT_API_H

#include <sys/types.h>
#include "agent.h"

struct mc_api;

struct mc_api *mc_api_start_unix(struct mc_agent *a, const char *path, mode_t mode);
enum mc_tcp_role { MC_TCP_PROBES, MC_TCP_METRICS };
struct mc_api *mc_api_start_tcp(struct mc_agent *a, const char *addr_port, enum mc_tcp_role role);
void mc_api_stop(struct mc_api *api);

#endif
