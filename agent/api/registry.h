/*
 * The pod registry: which network namespaces on this node are meshed pods, and
 * what Istio captures in each. The BPF maps (mc_pods, mc_pod_ips, and
 * mc_pod_life beside mc_pods) are the only copy, so a restarted agent finds
 * every registration in the pinned maps.
 *
 * A registration is keyed by its network namespace (the netns cookie the
 * caller's socket names). Its "namespace/name" is a label the agent cannot
 * verify: two registrations may carry the same one, and a name never evicts
 * anybody. A registration goes when its own namespace deregisters it, when an
 * admin does, or when its namespace is gone (podwatch.h).
 */
#ifndef MESHCUT_AGENT_REGISTRY_H
#define MESHCUT_AGENT_REGISTRY_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include "api/registration.h"

/* the pinned maps that hold registrations (a negative fd: that map is not kept) */
struct mc_registry_maps {
	int pods, ips;
	int life;      /* mc_pod_life: when each pod's namespace goes */
	int pod_pairs; /* mc_pod_pairs: slots each pod holds (the datapath counts) */
};

struct mc_registry {
	pthread_mutex_t lock;
	int pods_fd, ips_fd, life_fd, pod_pairs_fd;
	uint32_t next_id;
};

void mc_registry_init(struct mc_registry *reg, const struct mc_registry_maps *maps);

/* Register (or refresh) the pod in caller_netns, whose netnsid (as the
 * agent's namespace knows it) is nsid (-1: unknown). Returns an HTTP status
 * (200 refreshed, 201 created, 403 claim refused, 409 the namespace is
 * registered under another name or an IP is another registration's, 507
 * full) and a message in msg. */
int mc_registry_add(struct mc_registry *reg, const struct mc_registration *r,
		    uint64_t caller_netns, int nsid, struct mc_pod *stored, char *msg, size_t msglen);

/* DELETE /v1/pods/KEY ("namespace/name"). A pod (caller_netns != 0) removes
 * only its own registration, which must carry key (403 when only others do).
 * An admin (caller_netns 0) removes the one registration carrying key, or
 * with want_netns != 0 the one of that namespace; when several carry key and
 * want_netns is 0, nothing is removed: 409 naming their netns cookies.
 * Returns 200, 403, 404 or 409; *removed gets what went. */
int mc_registry_remove(struct mc_registry *reg, const char *key, uint64_t caller_netns,
		       uint64_t want_netns, struct mc_pod *removed, char *msg, size_t msglen);

/* remove whatever is registered for this netns (its pod is gone) */
int mc_registry_remove_netns(struct mc_registry *reg, uint64_t netns, struct mc_pod *removed);

/* the registration of netns: 0 with *pod and, when it has one, *life
 * (*has_life says), or -ENOENT */
int mc_registry_get(struct mc_registry *reg, uint64_t netns, struct mc_pod *pod,
		    struct mc_pod_life *life, bool *has_life);

/* who holds ip: 0 with *netns, or -ENOENT */
int mc_registry_ip_owner(struct mc_registry *reg, const struct mc_addr *ip, uint64_t *netns);

/* every registration (only_netns 0), or only that namespace's: a JSON array */
json_t *mc_registry_list(struct mc_registry *reg, uint64_t only_netns);
uint32_t mc_registry_count(struct mc_registry *reg);

/* visit every registered pod (under the lock) */
void mc_registry_each(struct mc_registry *reg, void (*fn)(const struct mc_pod *pod, void *ctx),
		      void *ctx);
/* the same with each one's lifetime record (NULL: none, e.g. a registration
 * taken over from map layout 2) */
void mc_registry_each_life(struct mc_registry *reg,
			   void (*fn)(const struct mc_pod *pod, const struct mc_pod_life *life,
				      void *ctx),
			   void *ctx);

#endif
