/*
 * The agent's HTTP/JSON API (libmicrohttpd).
 *
 * Unix socket (default /var/run/meshcut/agent.sock, mode 0660), every route:
 *   POST   /v1/pods              register the caller's pod (registration.h)
 *   DELETE /v1/pods/NS/NAME      deregister (the pod itself, or an admin)
 *   GET    /v1/pods | /v1/status | /v1/stats | /metrics | /healthz | /readyz
 *   PUT    /v1/mode  {"mode": "intra,node"}              admin only
 * Who calls is read from the socket itself: SO_NETNS_COOKIE names the caller's
 * network namespace (a pod registers only the namespace it calls from) and
 * SO_PEERCRED its uid. Admin = uid 0 from a namespace that is not a registered
 * pod's (the node, the agent's own pod, the CLI next to it).
 *
 * TCP (--http ADDR:PORT, optional): read-only routes for probes and Prometheus.
 */
#ifndef MESHCUT_AGENT_API_H
#define MESHCUT_AGENT_API_H

#include <sys/types.h>
#include "agent.h"

struct mc_api;

struct mc_api *mc_api_start_unix(struct mc_agent *a, const char *path, mode_t mode);
struct mc_api *mc_api_start_tcp(struct mc_agent *a, const char *addr_port);
void mc_api_stop(struct mc_api *api);

#endif
