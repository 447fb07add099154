/*
 * The pod registry: which network namespaces on this node are meshed pods, and
 * what Istio captures in each. The BPF maps (mc_pods, mc_pod_ips) are the only
 * copy, so a restarted agent finds every registration in the pinned maps.
 */
#ifndef MESHCUT_AGENT_REGISTRY_H
#define MESHCUT_AGENT_REGISTRY_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include "registration.h"

struct mc_registry {
	pthread_mutex_t lock;
	int pods_fd, ips_fd;
	uint32_t next_id;
};

void mc_registry_init(struct mc_registry *reg, int pods_fd, int ips_fd);

/* Register (or refresh) the pod in caller_netns. Returns an HTTP status
 * (200 refreshed, 201 created, 403 claim refused, 409 conflict, 507 full) and
 * a message in msg. */
int mc_registry_add(struct mc_registry *reg, const struct mc_registration *r,
		    uint64_t caller_netns, struct mc_pod *stored, char *msg, size_t msglen);

/* Remove a pod by "namespace/name"; when caller_netns is not 0, only that
 * pod's own namespace may remove it. Returns 200, 403 or 404. */
int mc_registry_remove(struct mc_registry *reg, const char *key, uint64_t caller_netns,
		       struct mc_pod *removed, char *msg, size_t msglen);

/* remove whatever is registered for this netns (its pod is gone) */
int mc_registry_remove_netns(struct mc_registry *reg, uint64_t netns, struct mc_pod *removed);

json_t *mc_registry_list(struct mc_registry *reg);
uint32_t mc_registry_count(struct mc_registry *reg);

/* visit every registered pod (under the lock) */
void mc_registry_each(struct mc_registry *reg, void (*fn)(const struct mc_pod *pod, void *ctx),
		      void *ctx);

#endif
