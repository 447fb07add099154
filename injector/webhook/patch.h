/* The JSON Patch (RFC 6902) that adds meshcut-init to a pod pod_decide() chose. */
#ifndef MESHCUT_WEBHOOK_PATCH_H
#define MESHCUT_WEBHOOK_PATCH_H

#include "pod.h"

#include <jansson.h>
#include <stdbool.h>

#define PATCH_VOLUME_NAME "meshcut-socket"
#define PATCH_SOCKET_MOUNT "/var/run/meshcut" /* where meshcut-init looks for agent.sock */
#define PATCH_STATUS_KEY "meshcut.io/status"

/* What the operator chose for every injected init container (webhook flags). */
struct inject_cfg {
	const char *image;
	const char *socket_dir;   /* host directory holding the agent's socket */
	const char *cpu_request, *memory_request; /* "" leaves one out */
	const char *cpu_limit, *memory_limit;
	long long run_as_user, run_as_group;
	bool log_json;            /* meshcut-init logs JSON lines (MESHCUT_LOG_FORMAT=json) */
};

/* The patch for pod as decided by d (d->inject must be true), or NULL when out
 * of memory. Every path it uses exists by the time its operation applies. */
json_t *patch_build(const json_t *pod, const struct pod_decision *d, const struct inject_cfg *cfg);

#endif
